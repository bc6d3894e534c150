use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::connection::{CompanySettings, Connection, ConnectionStatus, SyncResult, VismaCompany};
use domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::Conditional;
use crate::error::SdkResultExt;
use crate::keys::{self, GSI1PK, GSI1SK, PK, SK};
use crate::table::to_value;
use crate::{StoreError, Table};

/// The connection record of each tenant (`TENANT#{t}` / `CONNECTION`). While connected it also
/// sits in the sparse GSI1 partition `CONNECTED`, which the schedule reads.
#[derive(Clone, Debug)]
pub struct Connections {
    table: Table,
}

#[derive(Serialize, Deserialize)]
struct ConnectionItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(flatten)]
    connection: Connection,
}

impl Connections {
    pub(crate) fn new(table: Table) -> Self {
        Self { table }
    }

    /// One page (up to `limit`) of the connected tenants, from the sparse GSI1 partition
    /// `CONNECTED` (never a table scan), with where the next page starts. Malformed entries are
    /// skipped (logged).
    pub async fn connected_page(
        &self,
        limit: i32,
        start: Option<ConnectedCursor>,
    ) -> Result<(Vec<TenantId>, Option<ConnectedCursor>), StoreError> {
        #[derive(serde::Deserialize)]
        struct ConnectedEntry {
            #[serde(rename = "GSI1SK")]
            gsi1sk: String,
        }
        let (entries, next): (Vec<ConnectedEntry>, _) = self
            .table
            .query_index_page(keys::CONNECTED_PARTITION, limit, start.map(|c| c.0))
            .await?;
        let tenants = entries
            .into_iter()
            .filter_map(|entry| {
                let tenant = keys::tenant_from_connected_sk(&entry.gsi1sk);
                if tenant.is_none() {
                    tracing::warn!(sk = %entry.gsi1sk, "skipping a malformed connected-index entry");
                }
                tenant
            })
            .collect();
        Ok((tenants, next.map(ConnectedCursor)))
    }

    pub async fn get(&self, tenant: &TenantId) -> Result<Option<Connection>, StoreError> {
        let item: Option<ConnectionItem> = self
            .table
            .get(&keys::tenant_pk(tenant), keys::connection_sk())
            .await?;
        Ok(item.map(|i| i.connection))
    }

    /// Records a completed authorization: connected to `company` as of `now`.
    pub async fn put_connected(
        &self,
        tenant: &TenantId,
        company: VismaCompany,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Connection, StoreError> {
        let previous = self.get(tenant).await?;
        let connection = Connection {
            status: ConnectionStatus::Connected,
            company: Some(company),
            connected_at: Some(now),
            connected_by: Some(user.to_owned()),
            status_changed_at: now,
            status_reason: None,
            // History survives a reconnect.
            last_sync_at: previous.as_ref().and_then(|p| p.last_sync_at),
            last_sync_result: previous.as_ref().and_then(|p| p.last_sync_result),
        };
        self.table
            .put(&ConnectionItem {
                pk: keys::tenant_pk(tenant),
                sk: keys::connection_sk().into(),
                gsi1pk: Some(keys::CONNECTED_PARTITION.into()),
                gsi1sk: Some(keys::connected_sk(tenant)),
                connection: connection.clone(),
            })
            .await?;
        Ok(connection)
    }

    /// Moves a connected tenant to `status` (expired or disconnected), out of the schedule's
    /// index. Returns false when the tenant was not connected (nothing changed).
    pub async fn leave_connected(
        &self,
        tenant: &TenantId,
        status: ConnectionStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
        only_if_connected: bool,
    ) -> Result<bool, StoreError> {
        let status_value = serde_json::to_value(status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::connection_sk().into()))
            .update_expression(
                "SET #status = :status, status_changed_at = :now, status_reason = :reason REMOVE #g1pk, #g1sk",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#g1pk", GSI1PK)
            .expression_attribute_names("#g1sk", GSI1SK)
            .expression_attribute_values(":status", AttributeValue::S(status_value))
            .expression_attribute_values(":now", AttributeValue::S(now.to_rfc3339()))
            .expression_attribute_values(
                ":reason",
                reason.map_or(AttributeValue::Null(true), |r| AttributeValue::S(r.to_owned())),
            );
        update = if only_if_connected {
            update
                .condition_expression("#status = :connected")
                .expression_attribute_values(":connected", AttributeValue::S("connected".into()))
        } else {
            update
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
        };
        Ok(update
            .send()
            .await
            .or_store("UpdateItem")
            .unless_refused()?
            .is_some())
    }

    /// Records the end of a pull, and the company's settings when it read them (in the same
    /// write: they go onto the stored company, which a connection always has).
    pub async fn record_sync(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        result: SyncResult,
        settings: Option<&CompanySettings>,
    ) -> Result<(), StoreError> {
        let result = serde_json::to_value(result)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
            .key(SK, AttributeValue::S(keys::connection_sk().into()))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":at", AttributeValue::S(at.to_rfc3339()))
            .expression_attribute_values(":result", AttributeValue::S(result));
        update = match settings {
            Some(settings) => update
                .update_expression(
                    "SET last_sync_at = :at, last_sync_result = :result, company.settings = :settings",
                )
                .condition_expression("attribute_exists(#pk) AND attribute_type(company, :map)")
                .expression_attribute_values(":settings", to_value(settings)?)
                .expression_attribute_values(":map", AttributeValue::S("M".into())),
            None => update
                .update_expression("SET last_sync_at = :at, last_sync_result = :result")
                .condition_expression("attribute_exists(#pk)"),
        };
        update.send().await.or_store("UpdateItem")?;
        Ok(())
    }
}

/// Where the next page of [`Connections::connected_page`] starts.
#[derive(Debug, Clone)]
pub struct ConnectedCursor(crate::table::Item);
