//! Shared request budgets: fixed time buckets counted in the table, so every Lambda of every
//! tenant draws from the same budget. Item `RATE#{client}` / `{bucket key}#{bucket number}`
//! with attribute `n`, expiring a minute after its bucket.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::keys::{PK, SK, TTL_ATTRIBUTE};
use crate::{StoreError, Table};

#[derive(Clone, Debug)]
pub struct RateBuckets {
    table: Table,
}

impl RateBuckets {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Takes one slot of bucket `bucket` (a time bucket number) for `key`, if fewer than
    /// `limit` were taken. One conditional atomic counter update.
    pub async fn try_take(
        &self,
        owner: &str,
        key: &str,
        bucket: u64,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(format!("RATE#{owner}")))
            .key(SK, AttributeValue::S(format!("{key}#{bucket}")))
            .update_expression("ADD n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e));
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
