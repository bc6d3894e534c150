//! A shared send schedule per rate-limited route: the end of the last reserved send slot,
//! kept in the table so every Lambda of every tenant draws from the same budget. Item
//! `RATE#{client}` / `{route key}` with attribute `next_us` (epoch microseconds); it expires an
//! hour after its last use.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::keys::{PK, SK, TTL_ATTRIBUTE};
use crate::{StoreError, Table};

#[derive(Clone, Debug)]
pub struct RateSchedule {
    table: Table,
}

/// How long an idle schedule item lives: far longer than any queue of reserved slots.
const IDLE_LIFETIME_SECS: i64 = 3600;

impl RateSchedule {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Reserves the next send slot for `key`: the later of `now_us` and the end of the last
    /// reservation, which then moves `spacing_us` past the slot. Returns the slot (epoch microseconds).
    ///
    /// DynamoDB cannot take a maximum in one update, so this is one of two conditional
    /// updates: "append" (`next_us += spacing` when a queue reaches past now) or "start"
    /// (`next_us = now + spacing` when the schedule is idle). `queue_likely` picks which to
    /// try first; a wrong guess costs one more request. The value only grows, so once
    /// "start" is refused "append" must succeed: at most three requests.
    pub async fn reserve(
        &self,
        owner: &str,
        key: &str,
        now_us: u64,
        spacing_us: u64,
        queue_likely: bool,
    ) -> Result<u64, StoreError> {
        let mut append = queue_likely;
        let mut attempt = Err(StoreError::ConditionFailed);
        for _ in 0..3 {
            attempt = self.update(owner, key, now_us, spacing_us, append).await;
            match attempt {
                Err(StoreError::ConditionFailed) => append = !append,
                _ => break,
            }
        }
        attempt.map(|next| next.saturating_sub(spacing_us))
    }

    /// One conditional update; returns the new `next_us`.
    async fn update(
        &self,
        owner: &str,
        key: &str,
        now_us: u64,
        spacing_us: u64,
        append: bool,
    ) -> Result<u64, StoreError> {
        let expires_at = i64::try_from(now_us / 1_000_000)
            .unwrap_or(i64::MAX)
            .saturating_add(IDLE_LIFETIME_SECS);
        let request = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(format!("RATE#{owner}")))
            .key(SK, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#next", "next_us")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now_us.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew);
        let request = if append {
            request
                .update_expression("SET #next = #next + :spacing, #ttl = :ttl")
                .condition_expression("#next >= :now")
                .expression_attribute_values(":spacing", AttributeValue::N(spacing_us.to_string()))
        } else {
            request
                .update_expression("SET #next = :next, #ttl = :ttl")
                .condition_expression("attribute_not_exists(#next) OR #next < :now")
                .expression_attribute_values(
                    ":next",
                    AttributeValue::N(now_us.saturating_add(spacing_us).to_string()),
                )
        };
        let output = request
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        output
            .attributes()
            .and_then(|a| a.get("next_us"))
            .and_then(|n| n.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Decode("a send schedule without its next slot".into()))
    }
}
