//! A shared send schedule per rate-limited route: the end of the last reserved send slot,
//! kept in the table so every Lambda of every tenant draws from the same budget. Item
//! `RATE#{client}` / `{route key}` with attribute `next_us` (epoch microseconds); it expires an
//! hour after its last use.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::keys::{self, PK, SK, TTL_ATTRIBUTE};
use crate::{StoreError, Table};

#[derive(Clone, Debug)]
pub struct RateSchedule {
    table: Table,
}

/// The answer to a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Send at this time (epoch microseconds); it may be now or in the past.
    Slot(u64),
    /// The schedule is booked up to `next_us`, beyond the longest wait the caller accepts:
    /// nothing was reserved.
    Full { next_us: u64 },
}

/// How long an idle schedule item lives: far longer than any queue of reserved slots.
const IDLE_LIFETIME_SECS: i64 = 3600;

/// What one conditional update did.
enum Attempt {
    /// The new end of the schedule.
    Updated(u64),
    /// Refused; the end of the schedule as it was (`None`: no schedule yet).
    Refused(Option<u64>),
}

impl RateSchedule {
    pub(crate) fn new(table: Table) -> Self {
        Self { table }
    }

    /// Reserves the next send slot for `key`: the later of now and the end of the last
    /// reservation, which then moves `spacing_us` past the slot, unless that slot is more
    /// than `max_wait_us` away ([`Reservation::Full`]).
    ///
    /// DynamoDB cannot take a maximum in one update, so this is one of two conditional
    /// updates: "append" (`next += spacing` when a queue reaches past now, but not past the
    /// longest wait) or "start" (`next = now + spacing` when the schedule is idle).
    /// `queue_likely` picks which to try first; a refusal returns the item as it was, which
    /// says which to try next or that the queue is full. The end only grows, so once "start"
    /// is refused "append" succeeds or the queue is full: at most three requests.
    pub async fn reserve(
        &self,
        owner: &str,
        key: &str,
        clock_us: impl Fn() -> u64,
        spacing_us: u64,
        max_wait_us: u64,
        queue_likely: bool,
    ) -> Result<Reservation, StoreError> {
        let mut append = queue_likely;
        for _ in 0..3 {
            // The clock is read again for each attempt: a slot in the past is sent late.
            let now_us = clock_us();
            let horizon_us = now_us.saturating_add(max_wait_us);
            match self
                .update(owner, key, now_us, horizon_us, spacing_us, append)
                .await?
            {
                Attempt::Updated(next) => {
                    return Ok(Reservation::Slot(next.saturating_sub(spacing_us)))
                }
                Attempt::Refused(Some(next)) if next >= horizon_us => {
                    return Ok(Reservation::Full { next_us: next })
                }
                Attempt::Refused(Some(next)) => append = next >= now_us,
                Attempt::Refused(None) => append = false,
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// One conditional update.
    async fn update(
        &self,
        owner: &str,
        key: &str,
        now_us: u64,
        horizon_us: u64,
        spacing_us: u64,
        append: bool,
    ) -> Result<Attempt, StoreError> {
        let expires_at = i64::try_from(now_us / 1_000_000)
            .unwrap_or(i64::MAX)
            .saturating_add(IDLE_LIFETIME_SECS);
        let request = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(PK, AttributeValue::S(keys::rate_pk(owner)))
            .key(SK, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#next", NEXT)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now_us.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = if append {
            request
                .update_expression("SET #next = #next + :spacing, #ttl = :ttl")
                .condition_expression("#next >= :now AND #next < :horizon")
                .expression_attribute_values(":spacing", AttributeValue::N(spacing_us.to_string()))
                .expression_attribute_values(":horizon", AttributeValue::N(horizon_us.to_string()))
        } else {
            request
                .update_expression("SET #next = :next, #ttl = :ttl")
                .condition_expression("attribute_not_exists(#next) OR #next < :now")
                .expression_attribute_values(
                    ":next",
                    AttributeValue::N(now_us.saturating_add(spacing_us).to_string()),
                )
        };
        match request.send().await {
            Ok(output) => next_of(output.attributes())
                .map(Attempt::Updated)
                .ok_or_else(|| StoreError::Decode("a send schedule without its next slot".into())),
            Err(e) => {
                if let Some(UpdateItemError::ConditionalCheckFailedException(refused)) =
                    e.as_service_error()
                {
                    return Ok(Attempt::Refused(next_of(refused.item())));
                }
                Err(StoreError::from_sdk("UpdateItem", e))
            }
        }
    }
}

/// The attribute holding the end of the schedule (epoch microseconds).
const NEXT: &str = "next_us";

fn next_of(item: Option<&std::collections::HashMap<String, AttributeValue>>) -> Option<u64> {
    item.and_then(|a| a.get(NEXT))
        .and_then(|n| n.as_n().ok())
        .and_then(|n| n.parse().ok())
}
