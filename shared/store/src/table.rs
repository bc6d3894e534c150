use std::collections::HashMap;

use aws_sdk_dynamodb::config::AsyncSleep as _;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::SdkMessage;
use crate::error::SdkResultExt;
use crate::keys::{GSI1, GSI1PK, PK, SK};
use crate::StoreError;

/// The answer of [`Table::take_lease`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Another owner holds a live lease.
    Held,
    /// The caller holds it now. `after_other`: it took over another owner's lapsed lease, so
    /// whatever that owner was doing may have happened.
    Taken { after_other: bool },
}

/// A raw DynamoDB item, for the few places that need attribute-level control.
pub type Item = HashMap<String, AttributeValue>;

/// Items per `BatchWriteItem` call (DynamoDB's limit).
const BATCH_WRITE_LIMIT: usize = 25;

/// Calls per batch of [`Table::put_all`] before unprocessed items fail the write.
const BATCH_TRIES: u32 = 6;

/// The service's one DynamoDB table. Items are mapped with `serde_dynamo`; each item type
/// carries its own `PK`/`SK` fields, built by [`crate::keys`].
#[derive(Clone, Debug)]
pub struct Table {
    client: Client,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Writes an item, replacing any item with the same key.
    pub async fn put<T: Serialize>(&self, item: &T) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(to_item(item)?))
            .send()
            .await
            .or_store("PutItem")?;
        Ok(())
    }

    /// Writes an item only if no item with its key exists: [`StoreError::ConditionFailed`]
    /// otherwise. This is the service's "claim it once" primitive (event ids, OAuth states).
    pub async fn put_new<T: Serialize>(&self, item: &T) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(to_item(item)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        result.or_store("PutItem")?;
        Ok(())
    }

    /// Writes many items with `BatchWriteItem`, 25 per call, replacing items with the same
    /// keys; not atomic, and no item may appear twice (DynamoDB refuses a batch naming a key
    /// twice). Items DynamoDB leaves unprocessed (throttling) are sent again after a short,
    /// growing pause; if some are still left after [`BATCH_TRIES`] calls the write fails as
    /// transient, and running it again is harmless.
    pub async fn put_all<T: Serialize>(&self, items: &[T]) -> Result<(), StoreError> {
        for chunk in items.chunks(BATCH_WRITE_LIMIT) {
            let mut requests = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(to_item(item)?))
                        .build()
                        .map_err(|e| StoreError::Permanent {
                            operation: "BatchWriteItem",
                            source: Box::new(e),
                        })?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut tries = 0;
            while !requests.is_empty() {
                if tries == BATCH_TRIES {
                    return Err(StoreError::Transient {
                        operation: "BatchWriteItem",
                        source: Box::new(SdkMessage(format!(
                            "{} items still unprocessed after {BATCH_TRIES} calls",
                            requests.len()
                        ))),
                    });
                }
                if tries > 0 {
                    // 50 ms, 100 ms, 200 ms, ... (the SDK's own retries cover failed calls).
                    let pause = std::time::Duration::from_millis(50 << (tries - 1));
                    if let Some(sleep) = self.client.config().sleep_impl() {
                        sleep.sleep(pause).await;
                    }
                }
                tries += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, requests)
                    .send()
                    .await
                    .or_store("BatchWriteItem")?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.name))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .or_store("GetItem")?;
        out.item.map(from_item).transpose()
    }

    pub async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key(PK, AttributeValue::S(pk.to_owned()))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .or_store("DeleteItem")?;
        Ok(())
    }

    /// Writes the lease item `pk`/`sk` for `owner` until `now + lease`, unless another owner
    /// holds a live one. The table's TTL removes it a day after it lapses.
    pub async fn take_lease(
        &self,
        pk: &str,
        sk: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease: chrono::Duration,
    ) -> Result<Lease, StoreError> {
        let until = now + lease;
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .item(PK, AttributeValue::S(pk.to_owned()))
            .item(SK, AttributeValue::S(sk.to_owned()))
            .item("owner", AttributeValue::S(owner.to_owned()))
            .item(
                "until",
                AttributeValue::N(until.timestamp_millis().to_string()),
            )
            .item(
                "expires_at",
                AttributeValue::N((until + chrono::Duration::days(1)).timestamp().to_string()),
            )
            .condition_expression("attribute_not_exists(#pk) OR #until < :now OR #owner = :owner")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.timestamp_millis().to_string()),
            )
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .or_store("PutItem");
        match result {
            // An old item means a lapsed lease (or this owner's own): another owner's, or one
            // without an owner, was taken over.
            Ok(out) => Ok(Lease::Taken {
                after_other: out.attributes.is_some_and(|old| {
                    old.get("owner")
                        .and_then(|o| o.as_s().ok())
                        .map(String::as_str)
                        != Some(owner)
                }),
            }),
            Err(StoreError::ConditionFailed) => Ok(Lease::Held),
            Err(e) => Err(e),
        }
    }

    /// Runs `writes` as one `TransactWriteItems`: all or none. A refused condition (the
    /// transaction cancelled) is [`StoreError::ConditionFailed`].
    pub async fn transact(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(StoreError::from_sdk("TransactWriteItems", e)),
        }
    }

    /// Every item of one partition whose sort key starts with `sk_prefix`, all pages.
    pub async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (page, next) = self.query_prefix_page(pk, sk_prefix, None, start).await?;
            items.extend(page);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// One page (at most `limit` items, and at most 1 MB) of the items of one partition whose
    /// sort key starts with `sk_prefix`, read consistently, in sort-key order. Pass the
    /// returned key back to continue; `None` means the end.
    pub async fn query_prefix_page<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<T>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .or_store("Query")?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<T>, _>>()?;
        Ok((items, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// One page of the GSI1 partition `gsi1pk`, in sort-key order. Pass the returned key back
    /// to continue; `None` means the end.
    pub async fn query_index_page<T: DeserializeOwned>(
        &self,
        gsi1pk: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<T>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_values(":pk", AttributeValue::S(gsi1pk.to_owned()))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .or_store("Query")?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<T>, _>>()?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((items, next))
    }
}

pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(crate) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Decode(format!("building a transaction: {e}"))
}
