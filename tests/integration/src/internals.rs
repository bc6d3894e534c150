//! Every internal of the service the integration tests use, re-exported from one place.
//!
//! The tests name the service's crates only through this module (`internals::pull::run`,
//! `internals::SyncItems`, ...), so when an internal moves between `app`, `store`, `domain` or
//! the function crates, fixing the tests is a matter of the lines below. The globs follow an
//! item that moves between `domain` and `store` without any edit; the named re-exports win
//! over the globs where both crates have a module of the same name.

pub use domain::*;
pub use store::*;

pub use domain::connection::{ConnectionStatus, SyncResult, VismaCompany};
pub use domain::outbound::OutboundType;
pub use domain::pull::{CustomerKey, IndexedCustomer, PullChanges};

pub use app::{
    backoff, connection, events, items, jobs, mapping, pull, push, resume, telemetry, tokens,
    translate, vouchers, webhook, Config, Deps, Secret,
};

/// `make serve`'s pieces (functions/local): the merged HTTP router and one poll of the worker.
pub use local::{ensure_resources, http_router, poll_once, serve, sqs_event, PollReport};

/// The functions' entry points, as their `main.rs` hands them to the Lambda runtime.
pub mod functions {
    pub use api::{router as api_router, ROUTES as API_ROUTES, SECRETS as API_SECRETS};
    pub use oauth_callback::{
        router as oauth_callback_router, ROUTES as OAUTH_CALLBACK_ROUTES,
        SECRETS as OAUTH_CALLBACK_SECRETS,
    };
    pub use scheduled_pull::{TickError, TickReport, SECRETS as SCHEDULED_PULL_SECRETS};
    pub use sync_worker::{handle_batch, SECRETS as SYNC_WORKER_SECRETS};
    pub use webhook::{
        router as webhook_router, ROUTES as WEBHOOK_ROUTES, SECRETS as WEBHOOK_SECRETS,
    };

    use aws_lambda_events::eventbridge::EventBridgeEvent;

    /// The scheduled-pull function's entry point, as its `main` hands it the schedule's event.
    pub use scheduled_pull::handle_tick;

    /// `events/schedule.json`, the schedule's sample event, typed.
    pub fn schedule_event() -> EventBridgeEvent<serde_json::Value> {
        serde_json::from_str(&crate::sample("schedule.json"))
            .expect("events/schedule.json is an EventBridge event")
    }
}
