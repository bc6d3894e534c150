//! DynamoDB and SQS adapters for the service.
//!
//! One table holds every tenant's state (see [`keys`] for the item layout); one standard SQS
//! queue carries [`domain::SyncJob`]s, with a dead-letter queue behind it. The definitions of
//! both come from `template.yaml` ([`resources`]), so local runs and AWS cannot drift apart.

mod claim;
mod connection;
mod error;
mod items;
pub mod keys;
mod oauth_state;
mod pulled;
mod queue;
mod rate;
pub mod resources;
mod table;
mod tokens;

pub use claim::{AccountingClaims, ClaimOutcome, CompanyClaims, VISMA_SYSTEM};
pub use connection::Connections;
pub use error::StoreError;
pub use items::{
    parse_kind, Claim, Cursor, EventMarker, Finish, Finished, InvalidCursor, ItemError, ItemStatus,
    ItemWrite, ListFilter, RecordError, SyncItem, SyncItems, EVENT_RETENTION, PAGE_SIZE,
};
pub use oauth_state::{OAuthStates, PendingAuthorization};
pub use pulled::{PullState, Pulled, VoucherPosition, CHART_PAGE_SIZE};
pub use queue::{Queue, ReceivedMessage};
pub use rate::RateBuckets;
pub use table::{Item, Table};
pub use tokens::{StoredTokens, TokenVault};

/// Loads the AWS SDK configuration once (region, credentials, and `AWS_ENDPOINT_URL` for the
/// local emulator) and builds the clients from it.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
