//! How long to wait before trying again, in one place: a queued job after a failure, an
//! outbound event Aourly refused, and a push retried within one invocation. Each is
//! "equal jitter" (somewhere between half the ceiling and all of it), so retries spread out
//! but never bunch at zero.

use std::time::Duration;

/// The longest SQS lets a message be delayed (15 min); every wait here stays at or below it.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// The shortest wait: never hand a message back at once.
const MIN_DELAY: Duration = Duration::from_secs(1);

/// A random wait between half of `ceiling` and all of it.
pub fn equal_jitter(ceiling: Duration) -> Duration {
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::Rng::random_range(&mut rand::rng(), ms / 2..=ms))
}

/// A queued job's `receive_count`-th failure: exponential from 10 s (10 s, 20 s, 40 s, ...)
/// up to [`MAX_DELAY`], jittered, or the dependency's own hint when it is longer (Visma's
/// "Try again in N seconds").
pub fn job_retry_delay(receive_count: u32, hint: Option<Duration>) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(10);
    let ceiling = Duration::from_secs(10u64 << exponent).min(MAX_DELAY);
    let jittered = equal_jitter(ceiling);
    hint.map_or(jittered, |h| h.max(jittered))
        .clamp(MIN_DELAY, MAX_DELAY)
}

/// An outbound event that has waited `age`: wait as long again (which doubles the wait each
/// time), between 1 s and [`MAX_DELAY`], jittered so that many events refused at once spread
/// out.
pub fn redelivery_delay(age: chrono::Duration) -> Duration {
    let wait = age.to_std().unwrap_or_default().clamp(MIN_DELAY, MAX_DELAY);
    equal_jitter(wait).max(MIN_DELAY)
}

/// The pause before a push's next try within the same invocation, when Visma gave no hint.
pub fn in_invocation_pause() -> Duration {
    Duration::from_millis(rand::Rng::random_range(&mut rand::rng(), 100..400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_retries_grow_with_jitter_and_honour_hints() {
        for attempt in 1..=12u32 {
            let ceiling = Duration::from_secs(10u64 << (attempt - 1).min(10)).min(MAX_DELAY);
            for _ in 0..50 {
                let d = job_retry_delay(attempt, None);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
            }
        }
        // Visma's "Try again in 42 seconds" wins over a shorter jittered delay.
        assert!(job_retry_delay(1, Some(Duration::from_secs(42))) >= Duration::from_secs(42));
        // Never longer than the cap, whatever the hint.
        assert_eq!(
            job_retry_delay(1, Some(Duration::from_secs(99_999))),
            MAX_DELAY
        );
    }

    #[test]
    fn the_redelivery_wait_doubles_from_one_second_to_fifteen_minutes() {
        for _ in 0..50 {
            let fresh = redelivery_delay(chrono::Duration::zero());
            assert_eq!(fresh, Duration::from_secs(1));
            let minute = redelivery_delay(chrono::Duration::seconds(60));
            assert!(minute >= Duration::from_secs(30) && minute <= Duration::from_secs(60));
            let day = redelivery_delay(chrono::Duration::hours(24));
            assert!(day >= MAX_DELAY / 2 && day <= MAX_DELAY, "{day:?}");
        }
    }

    #[test]
    fn equal_jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let d = equal_jitter(Duration::from_secs(8));
            assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(8));
        }
        assert!(in_invocation_pause() < Duration::from_millis(400));
    }
}
