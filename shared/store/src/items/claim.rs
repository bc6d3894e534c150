//! The push's claim protocol: a pending item is claimed by one attempt (a conditional write)
//! before any Visma call, and its outcome is recorded with the claim released.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};
use domain::{ItemError, ItemStatus, RecordKind, TenantId};

use super::{error_value, rfc3339, SyncItem, SyncItems};
use crate::error::Conditional;
use crate::error::SdkResultExt;
use crate::keys::{self, GSI2PK};
use crate::table::from_item;
use crate::StoreError;

/// The outcome of [`SyncItems::claim`].
#[derive(Debug, Clone)]
pub enum Claim {
    /// The caller holds the item until it calls [`SyncItems::finish`] (or the lease ends).
    /// `interrupted` says a previous claim had been left behind: that attempt may have reached
    /// Visma, so look the record up there before creating it.
    Claimed {
        item: Box<SyncItem>,
        interrupted: bool,
    },
    /// The item is not pending (synced, failed or blocked): a stale message; nothing to do.
    NotPending(Box<SyncItem>),
    /// Another worker holds a live claim; try again later.
    Busy,
    /// No such item.
    Missing,
}

/// Whether an item as read may be claimed at `now`, before the conditional write that takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimable {
    /// `interrupted`: a claim older than the lease was left behind (its attempt may have
    /// reached Visma).
    Yes {
        interrupted: bool,
    },
    NotPending,
    /// Another attempt holds a live claim.
    Busy,
}

pub(crate) fn claimable(item: &SyncItem, now: DateTime<Utc>, lease: Duration) -> Claimable {
    if item.status != ItemStatus::Pending {
        return Claimable::NotPending;
    }
    if item.has_live_claim(now, lease) {
        return Claimable::Busy;
    }
    Claimable::Yes {
        interrupted: item.in_flight_since.is_some(),
    }
}

/// How a push ended, for [`SyncItems::finish`].
#[derive(Debug, Clone)]
pub struct Finish {
    pub status: ItemStatus,
    /// The Visma record, once known. Saved even when the item moved on meanwhile.
    pub visma_id: Option<String>,
    pub visma_number: Option<String>,
    pub last_error: Option<ItemError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Status, link and error recorded; the claim is released.
    Applied,
    /// The item changed during the push (a newer payload, a retry): only the Visma link was
    /// saved and the claim released; the newer state stands (and has its own job).
    Superseded,
}

impl SyncItems {
    /// Sets `status` (and `last_error`) on `item` as read, if its `version` is unchanged;
    /// returns the item as written, or [`StoreError::ConditionFailed`] when it changed
    /// meanwhile (read it again and decide again).
    pub async fn set_status(
        &self,
        item: &SyncItem,
        status: ItemStatus,
        last_error: Option<&ItemError>,
        now: DateTime<Utc>,
    ) -> Result<SyncItem, StoreError> {
        let (tenant, kind, id) = (&item.tenant, item.kind, item.id.as_str());
        let expected_version = item.version;
        let out = self
            .update_item(tenant, kind, id)
            .update_expression(
                "SET #status = :status, #g2 = :g2, last_error = :error, updated_at = :now, #version = #version + :one",
            )
            .condition_expression("#version = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#g2", GSI2PK)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":status", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(
                ":g2",
                AttributeValue::S(keys::item_status_pk(tenant, status.as_str())),
            )
            .expression_attribute_values(":error", error_value(last_error)?)
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(now)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expected", AttributeValue::N(expected_version.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .or_store("UpdateItem")?;
        from_item(out.attributes.unwrap_or_default())
    }

    /// Claims a pending item for one push attempt (`attempts` + 1). A claim older than
    /// `lease` is taken over (and reported as `interrupted`).
    pub async fn claim(
        &self,
        tenant: &TenantId,
        kind: RecordKind,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let Some(current) = self.get(tenant, kind, id).await? else {
            return Ok(Claim::Missing);
        };
        let interrupted = match claimable(&current, now, lease) {
            Claimable::Yes { interrupted } => interrupted,
            Claimable::NotPending => return Ok(Claim::NotPending(Box::new(current))),
            Claimable::Busy => return Ok(Claim::Busy),
        };
        let result = self
            .update_item(tenant, kind, id)
            .update_expression(
                "SET in_flight_owner = :owner, in_flight_since = :now, attempts = attempts + :one, updated_at = :now, #version = #version + :one",
            )
            .condition_expression("#version = :expected AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(now)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":expected", AttributeValue::N(current.version.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .or_store("UpdateItem");
        match result {
            Ok(out) => Ok(Claim::Claimed {
                item: Box::new(from_item(out.attributes.unwrap_or_default())?),
                interrupted,
            }),
            Err(StoreError::ConditionFailed) => Ok(Claim::Busy),
            Err(e) => Err(e),
        }
    }

    /// Records the outcome of a claimed push. When the item changed during the push (its
    /// version is no longer `claimed.version`), only the Visma link is saved and the claim
    /// released: the newer state stands.
    pub async fn finish(
        &self,
        claimed: &SyncItem,
        outcome: &Finish,
        now: DateTime<Utc>,
    ) -> Result<Finished, StoreError> {
        let (tenant, kind, id) = (&claimed.tenant, claimed.kind, claimed.id.as_str());
        let mut set = vec![
            "#status = :status",
            "#g2 = :g2",
            "last_error = :error",
            "updated_at = :now",
            "#version = #version + :one",
        ];
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (
                ":status".into(),
                AttributeValue::S(outcome.status.as_str().into()),
            ),
            (
                ":g2".into(),
                AttributeValue::S(keys::item_status_pk(tenant, outcome.status.as_str())),
            ),
            (":error".into(), error_value(outcome.last_error.as_ref())?),
            (":now".into(), AttributeValue::S(rfc3339(now))),
            (":one".into(), AttributeValue::N("1".into())),
            (
                ":expected".into(),
                AttributeValue::N(claimed.version.to_string()),
            ),
        ]);
        link_values(outcome, &mut set, &mut values);
        let result = self
            .update_item(tenant, kind, id)
            .update_expression(format!(
                "SET {} REMOVE in_flight_owner, in_flight_since",
                set.join(", ")
            ))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#g2", GSI2PK)
            .expression_attribute_names("#version", "version")
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .or_store("UpdateItem");
        match result {
            Ok(_) => return Ok(Finished::Applied),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        // Superseded: keep the link (a fact about Visma), release our claim if still ours.
        let mut set = vec!["#version = #version + :one"];
        let mut values: HashMap<String, AttributeValue> =
            HashMap::from([(":one".into(), AttributeValue::N("1".into()))]);
        link_values(outcome, &mut set, &mut values);
        if set.len() > 1 {
            self.update_item(tenant, kind, id)
                .update_expression(format!("SET {}", set.join(", ")))
                .expression_attribute_names("#version", "version")
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .or_store("UpdateItem")?;
        }
        if let Some(owner) = &claimed.in_flight_owner {
            let released = self
                .update_item(tenant, kind, id)
                .update_expression("REMOVE in_flight_owner, in_flight_since")
                .condition_expression("in_flight_owner = :owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.clone()))
                .send()
                .await
                .or_store("UpdateItem");
            released.or_refused()?;
        }
        Ok(Finished::Superseded)
    }
}

fn link_values(
    outcome: &Finish,
    set: &mut Vec<&'static str>,
    values: &mut HashMap<String, AttributeValue>,
) {
    if let Some(visma_id) = &outcome.visma_id {
        set.push("visma_id = :visma_id");
        values.insert(":visma_id".into(), AttributeValue::S(visma_id.clone()));
    }
    if let Some(number) = &outcome.visma_number {
        set.push("visma_number = :visma_number");
        values.insert(":visma_number".into(), AttributeValue::S(number.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: ItemStatus, in_flight_since: Option<DateTime<Utc>>) -> SyncItem {
        let event = domain::parse_event(include_bytes!(
            "../../../../events/webhooks/voucher.created.json"
        ))
        .expect("a valid sample");
        let mut item = SyncItem::new(&event, status, None, Utc::now()).unwrap();
        item.in_flight_since = in_flight_since;
        item
    }

    #[test]
    fn a_pending_item_is_claimed_unless_a_live_claim_holds_it() {
        let now = Utc::now();
        let lease = Duration::seconds(60);
        assert_eq!(
            claimable(&item(ItemStatus::Pending, None), now, lease),
            Claimable::Yes { interrupted: false }
        );
        let live = item(ItemStatus::Pending, Some(now - Duration::seconds(59)));
        assert_eq!(claimable(&live, now, lease), Claimable::Busy);
        let lapsed = item(ItemStatus::Pending, Some(now - Duration::seconds(60)));
        assert_eq!(
            claimable(&lapsed, now, lease),
            Claimable::Yes { interrupted: true }
        );
        for done in [ItemStatus::Synced, ItemStatus::Failed, ItemStatus::Blocked] {
            assert_eq!(
                claimable(&item(done, None), now, lease),
                Claimable::NotPending
            );
        }
    }
}
