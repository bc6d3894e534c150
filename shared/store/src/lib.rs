//! DynamoDB and SQS adapters for the service.
//!
//! One table holds every tenant's state (see [`keys`] for the item layout); one standard SQS
//! queue carries [`domain::SyncJob`]s, with a dead-letter queue behind it. The definitions of
//! both come from `template.yaml` ([`resources`]), so local runs and AWS cannot drift apart.

mod error;
pub mod keys;
mod queue;
pub mod resources;
mod table;

pub use error::StoreError;
pub use queue::{Queue, ReceivedMessage};
pub use table::{Item, Table};

/// Loads the AWS SDK configuration once (region, credentials, and `AWS_ENDPOINT_URL` for the
/// local emulator) and builds the clients from it.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
