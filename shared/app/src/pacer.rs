//! Keeping under Visma's rate limit with many concurrent workers.
//!
//! Visma allows 600 requests per minute per client and endpoint, shared by every tenant of
//! this service. Each Lambda on its own cannot know what the others send, so the schedule
//! lives in DynamoDB: per route, the end of the last reserved send slot. Before each request
//! the client reserves the next slot (the later of now and that end, which then moves one
//! spacing further: one conditional update) and sleeps until it. Requests thus leave evenly
//! spaced, whichever Lambda sends them, and a queue of waiters costs one write each.
//!
//! The spacing is `(window + margin) / (limit - 1)`: a sliding window then holds at most
//! `limit` requests even when each request reaches Visma anywhere from its slot to
//! `margin / 2` after it (timer and network delays, and the clocks of different Lambdas
//! differing). A conservative bound: it does not rely on requests arriving in slot order.
//! The margin is 2 % of the window, at least 100 ms: 102 ms between requests at 600/60, 587
//! requests per minute (97.9 % of the limit). 429s then only happen when something else
//! shares the client id; the client still honours them.
//!
//! A request that would wait longer than [`MAX_WAIT`] for its slot reserves nothing and is
//! not sent ([`visma::VismaError::Paced`], retryable with a wait hint): more jobs are queued
//! than the limit serves soon, and a Lambda must not sleep into its timeout.
//!
//! If the table cannot be reached the pacer lets the request through (fail open): Visma's own
//! 429 and the worker's backoff are the safety net, and a store outage must not stop pushes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use store::{RateSchedule, Reservation};

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

    /// How late after its slot a request may reach Visma with no risk of a 429: half the
    /// margin [`Self::spacing`] adds to the window (a safe bound, see the module comment).
    pub fn tolerated_delay(&self) -> Duration {
        (self.window / 50).max(Duration::from_millis(100)) / 2
    }

    /// The time between two sends. Slots are at least this far apart, and a request reaches
    /// Visma between its slot and `tolerated_delay` later, so the slots of the requests in any
    /// sliding window lie within `window + 2 * tolerated_delay`: at most `limit - 1` spacings.
    pub fn spacing(&self) -> Duration {
        (self.window + 2 * self.tolerated_delay()) / (self.requests.max(2) - 1)
    }
}

pub struct SharedPacer {
    schedule: RateSchedule,
    owner: String,
    spacing_us: u64,
    /// Per route, the end of the schedule as last seen here: whether a queue is likely, so
    /// the first update tried is usually the one that succeeds.
    seen_end_us: Mutex<HashMap<String, u64>>,
}

impl SharedPacer {
    pub fn new(schedule: RateSchedule, client_id: &str, limit: RateLimit) -> Self {
        Self {
            schedule,
            owner: client_id.to_owned(),
            spacing_us: u64::try_from(limit.spacing().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
            seen_end_us: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers how far the schedule of `key` reaches, for the next guess.
    fn saw_end(&self, key: String, end_us: u64) {
        if let Ok(mut seen) = self.seen_end_us.lock() {
            let end = seen.entry(key).or_default();
            *end = (*end).max(end_us);
        }
    }
}

fn epoch_us() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0)
}

/// The longest a request waits for its slot: well inside the worker's 60 s and the API's 29 s
/// timeouts. A longer queue means more jobs than the limit can serve soon; their requests
/// are not sent, and the jobs go back to the queue until the schedule has room.
pub const MAX_WAIT: Duration = Duration::from_secs(15);

#[async_trait]
impl visma::Pacer for SharedPacer {
    async fn acquire(&self, method: &str, route: &'static str) -> Result<(), Duration> {
        let key = format!("{method} {route}");
        let now_us = epoch_us();
        let queue_likely = self
            .seen_end_us
            .lock()
            .map(|seen| seen.get(&key).is_some_and(|end| *end > now_us))
            .unwrap_or(false);
        let max_wait_us = u64::try_from(MAX_WAIT.as_micros()).unwrap_or(u64::MAX);
        let reservation = self
            .schedule
            .reserve(
                &self.owner,
                &key,
                epoch_us,
                self.spacing_us,
                max_wait_us,
                queue_likely,
            )
            .await;
        match reservation {
            Ok(Reservation::Slot(slot)) => {
                self.saw_end(key, slot + self.spacing_us);
                let wait = slot.saturating_sub(epoch_us());
                if wait > 0 {
                    tokio::time::sleep(Duration::from_micros(wait)).await;
                }
                Ok(())
            }
            Ok(Reservation::Full { next_us }) => {
                self.saw_end(key.clone(), next_us);
                // Room comes back when the end of the schedule is within MAX_WAIT again.
                let until_room = next_us.saturating_sub(epoch_us().saturating_add(max_wait_us));
                let wait = Duration::from_micros(until_room).max(Duration::from_secs(1));
                tracing::info!(
                    route = %key,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "the shared Visma rate budget is booked beyond the longest wait; not sending"
                );
                Err(wait)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the shared send schedule is unavailable; sending unpaced");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most requests the sandbox (and Visma) would see in one sliding window when request
    /// `i` leaves at slot `i * spacing` and arrives `delay(i)` later: at each arrival, the
    /// earlier arrivals less than a window before it, plus itself.
    fn busiest_window(rate: RateLimit, n: u64, delay: impl Fn(u64) -> u64) -> usize {
        let spacing = u64::try_from(rate.spacing().as_micros()).unwrap();
        let window = u64::try_from(rate.window.as_micros()).unwrap();
        let mut arrivals: Vec<u64> = (0..n).map(|i| i * spacing + delay(i)).collect();
        arrivals.sort_unstable();
        let mut start = 0;
        let mut busiest = 0;
        for (j, at) in arrivals.iter().enumerate() {
            while at - arrivals[start] >= window {
                start += 1;
            }
            busiest = busiest.max(j - start + 1);
        }
        busiest
    }

    /// How late each request reaches Visma, by request number (microseconds).
    type Delays = Box<dyn Fn(u64) -> u64>;

    fn limit_of(requests: u32, seconds: u64) -> RateLimit {
        RateLimit {
            requests,
            window: Duration::from_secs(seconds),
        }
    }

    const LIMITS: [(u32, u64); 7] = [
        (600, 60),
        (22, 5),
        (10, 2),
        (2, 1),
        (100, 2),
        (1000, 60),
        (60_000, 60),
    ];

    #[test]
    fn no_sliding_window_exceeds_the_limit_while_requests_are_at_most_the_tolerated_delay_late() {
        for (limit, seconds) in LIMITS {
            let rate = limit_of(limit, seconds);
            let late = u64::try_from(rate.tolerated_delay().as_micros()).unwrap();
            let n = u64::from(limit) * 3;
            let patterns: [(&str, Delays); 5] = [
                ("on time", Box::new(|_| 0)),
                ("all late", Box::new(move |_| late)),
                (
                    "first late",
                    Box::new(move |i| if i == 0 { late } else { 0 }),
                ),
                ("alternating", Box::new(move |i| (i % 2) * late)),
                (
                    "pseudo-random",
                    Box::new(move |i| (i * 7919 + 13) % (late + 1)),
                ),
            ];
            for (name, delay) in patterns {
                let busiest = busiest_window(rate, n, delay);
                assert!(
                    busiest <= limit as usize,
                    "{limit}/{seconds}, {name}: {busiest} requests in one window"
                );
            }
        }
    }

    #[test]
    fn requests_much_later_than_tolerated_can_break_the_limit() {
        // The check above can fail: when the first requests are delayed (by up to four
        // tolerated delays and two spacings) so that they reach Visma together, some window
        // holds more than the limit.
        for (limit, seconds) in LIMITS {
            let rate = limit_of(limit, seconds);
            let spacing = u64::try_from(rate.spacing().as_micros()).unwrap();
            let cap =
                u64::try_from((4 * rate.tolerated_delay()).as_micros()).unwrap() + 2 * spacing;
            let reach = cap / spacing;
            let busiest = busiest_window(rate, u64::from(limit) * 2, |i| {
                reach.saturating_sub(i) * spacing
            });
            assert!(busiest > limit as usize, "{limit}/{seconds}: {busiest}");
        }
    }

    #[test]
    fn the_spacing_uses_nearly_all_of_the_limit() {
        // At Visma's limit: 102.17 ms, 587 requests a minute (97.9 %).
        let spacing = RateLimit::VISMA.spacing();
        assert_eq!(spacing.as_micros(), 102_170);
        assert_eq!(60_000_000 / spacing.as_micros(), 587);
        // The bench's scaled-down limit, 22 per 5 s: 242.86 ms, 20.6 per window (93.6 %).
        let bench = RateLimit::parse("22/5").unwrap();
        assert_eq!(bench.spacing().as_micros(), 242_857);
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
