//! Keeping under Visma's rate limit with many concurrent workers.
//!
//! Visma allows 600 requests per minute per client and endpoint, shared by every tenant of
//! this service. Each Lambda on its own cannot know what the others send, so the budget lives
//! in DynamoDB: the limit's window is cut into `k` buckets (up to 20), each allowed
//! `limit / (k + 2)` requests, so that any sliding window (which overlaps at most `k + 1`
//! buckets) stays under the limit with a bucket to spare for requests that arrive late:
//! 600/min gives 27 requests per 3 s bucket, 540 per minute (90 % of the limit). Before each
//! request the client counts itself in the current bucket with one atomic counter update; the
//! first `limit / (k + 2)` counted may send. The others learn from the count how many wait
//! before them and sleep for as many buckets as those fill, so a queue of waiters costs
//! about one write each, not one per waiter per bucket. 429s then only
//! happen when something else shares the client id; the client still honours them.
//!
//! If the table cannot be reached the pacer lets the request through (fail open): Visma's own
//! 429 and the worker's backoff are the safety net, and a store outage must not stop pushes.

use std::time::Duration;

use async_trait::async_trait;
use store::RateBuckets;

/// A rate limit: `requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const VISMA: RateLimit = RateLimit {
        requests: 600,
        window: Duration::from_secs(60),
    };

    /// Parses `"600/60"` (requests / seconds).
    pub fn parse(raw: &str) -> Option<Self> {
        let (requests, seconds) = raw.trim().split_once('/')?;
        let requests: u32 = requests.trim().parse().ok().filter(|r| *r >= 2)?;
        let seconds: u64 = seconds.trim().parse().ok().filter(|s| *s >= 1)?;
        Some(Self {
            requests,
            window: Duration::from_secs(seconds),
        })
    }

    /// `(bucket length, requests per bucket)`. A sliding window overlaps at most `k + 1` of the
    /// `k` buckets per window; one more bucket of margin absorbs requests that take their slot
    /// late in a bucket and arrive early in the next (network and scheduling delays).
    pub fn buckets(&self) -> (Duration, u32) {
        let k = self.requests.saturating_sub(2).clamp(1, 20);
        (self.window / k, (self.requests / (k + 2)).max(1))
    }
}

pub struct SharedPacer {
    buckets: RateBuckets,
    owner: String,
    limit: RateLimit,
}

impl SharedPacer {
    pub fn new(buckets: RateBuckets, client_id: &str, limit: RateLimit) -> Self {
        Self {
            buckets,
            owner: client_id.to_owned(),
            limit,
        }
    }
}

#[async_trait]
impl visma::Pacer for SharedPacer {
    async fn acquire(&self, method: &str, route: &'static str) {
        let (length, per_bucket) = self.limit.buckets();
        let length_ms = u64::try_from(length.as_millis()).unwrap_or(u64::MAX).max(1);
        let key = format!("{method} {route}");
        loop {
            let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
            let bucket = now_ms / length_ms;
            let expires_at =
                i64::try_from((bucket + 1) * length_ms / 1000 + 60).unwrap_or(i64::MAX);
            match self
                .buckets
                .take(&self.owner, &key, bucket, expires_at)
                .await
            {
                Ok(count) if count <= u64::from(per_bucket) => return,
                Ok(count) => {
                    // `count - per_bucket` requests overflowed this bucket, this one included:
                    // wait for as many buckets as they fill, so waiters spread over the coming
                    // buckets instead of all retrying (a DynamoDB write each) at the next one.
                    let buckets_ahead =
                        (count - u64::from(per_bucket)).div_ceil(u64::from(per_bucket));
                    let until = (bucket + buckets_ahead) * length_ms - now_ms;
                    let jitter = rand::Rng::random_range(&mut rand::rng(), 0..=length_ms / 10 + 1);
                    tokio::time::sleep(Duration::from_millis(until + jitter)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the shared rate budget is unavailable; sending unpaced");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_sliding_window_stays_under_the_limit() {
        for (limit, window) in [(600, 60), (10, 2), (2, 1), (100, 2), (1000, 60)] {
            let rate = RateLimit {
                requests: limit,
                window: Duration::from_secs(window),
            };
            let (length, per) = rate.buckets();
            assert!(
                per >= 1,
                "{limit}/{window}: at least one request per bucket"
            );
            let k = u32::try_from(Duration::from_secs(window).as_millis() / length.as_millis())
                .unwrap();
            // A sliding window overlaps at most k + 1 buckets.
            assert!(
                (k + 1) * per <= limit,
                "{limit}/{window}: {per} per {length:?}"
            );
        }
        let (length, per) = RateLimit::VISMA.buckets();
        assert_eq!((length, per), (Duration::from_secs(3), 27));
    }

    #[test]
    fn limits_parse_from_configuration() {
        assert_eq!(RateLimit::parse("600/60"), Some(RateLimit::VISMA));
        assert_eq!(
            RateLimit::parse(" 10 / 2 "),
            Some(RateLimit {
                requests: 10,
                window: Duration::from_secs(2)
            })
        );
        for bad in ["", "600", "0/60", "1/60", "600/0", "x/60"] {
            assert_eq!(RateLimit::parse(bad), None, "{bad}");
        }
    }
}
