//! What one job from the sync queue does ([`SyncJob`]): a pull and the housekeeping after it, a
//! push and what its last receive means, an event delivery. The sync worker only adapts SQS to
//! this (decoding the body, the receive count, the visibility delay, the batch report).

use std::time::Duration;

use domain::SyncJob;

use crate::Deps;

/// A job that is not done: the message returns to the queue. `after` is the dependency's own
/// wait hint (Visma's "Try again in N seconds"), if it gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotDone {
    pub reason: String,
    pub after: Option<Duration>,
}

/// The receive of a job's message: how many times the queue has handed it out, and whether
/// it will hand it out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receive {
    pub count: u32,
    pub max: u32,
}

impl Receive {
    /// The queue moves the message to the dead-letter queue instead of handing it out again.
    pub fn is_last(&self) -> bool {
        self.count >= self.max
    }
}

/// Runs `job`. `Ok` means the message is done (including jobs that ended for good: a pull only
/// the owner can fix waits for the next tick; a push's outcome is on its sync item).
pub async fn run(deps: &Deps, job: SyncJob, receive: Receive) -> Result<(), NotDone> {
    match job {
        SyncJob::Pull { tenant } => match crate::pull::run(deps, &tenant).await {
            Ok(report) => {
                if !report.skipped {
                    // A lost job, or a block that raced a reconnect, would otherwise leave
                    // its item waiting for good.
                    if let Err(e) = crate::resume::after_pull(deps, &tenant, &report).await {
                        tracing::warn!(%tenant, error = %e, "could not re-queue waiting items; the next pull tries again");
                    }
                }
                Ok(())
            }
            Err(e) if e.is_retryable() => Err(NotDone {
                after: e.retry_after(),
                reason: e.to_string(),
            }),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "pull failed for good; waiting for the next one");
                Ok(())
            }
        },
        SyncJob::Push { tenant, kind, id } => {
            match crate::push::run(deps, &tenant, kind, &id).await {
                Ok(outcome) => {
                    tracing::info!(%tenant, kind = ?kind, outcome = outcome.name(), "push finished");
                    Ok(())
                }
                Err(retry) => {
                    // The queue will not hand this message out again: record the outcome
                    // where the owner sees it (the message itself moves to the DLQ).
                    if receive.is_last() {
                        crate::push::mark_exhausted(deps, &tenant, kind, &id, &retry)
                            .await
                            .map_err(|e| NotDone {
                                reason: e.to_string(),
                                after: None,
                            })?;
                    }
                    Err(NotDone {
                        reason: retry.reason,
                        after: retry.after,
                    })
                }
            }
        }
        SyncJob::Emit { event } => crate::events::deliver_or_reschedule(deps, &event)
            .await
            .map_err(|e| NotDone {
                reason: e.to_string(),
                after: None,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receive_that_reaches_the_maximum_is_the_last() {
        assert!(!Receive { count: 1, max: 5 }.is_last());
        assert!(!Receive { count: 4, max: 5 }.is_last());
        assert!(Receive { count: 5, max: 5 }.is_last());
        // A message received more often than the policy says (a policy lowered meanwhile).
        assert!(Receive { count: 7, max: 5 }.is_last());
    }
}
