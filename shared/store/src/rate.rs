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

    /// Counts one request in bucket `bucket` (a time bucket number) for `key` and returns the
    /// bucket's count including it: the caller may send when it is within its limit. One
    /// atomic counter update; counting past the limit tells later callers how many wait.
    pub async fn take(
        &self,
        owner: &str,
        key: &str,
        bucket: u64,
        expires_at: i64,
    ) -> Result<u64, StoreError> {
        let output = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(format!("RATE#{owner}")))
            .key(SK, AttributeValue::S(format!("{key}#{bucket}")))
            .update_expression("ADD n :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        output
            .attributes()
            .and_then(|a| a.get("n"))
            .and_then(|n| n.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Decode("a rate bucket without its count".into()))
    }
}
