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
pub use pulled::{PullState, Pulled, VoucherPosition, CHART_PAGE_SIZE, CUSTOMER_INDEX_VERSION};
pub use queue::{Queue, ReceivedMessage};
pub use rate::RateBuckets;
pub use table::{Item, Table};
pub use tokens::{StoredTokens, TokenVault};

/// Loads the AWS SDK configuration once (region, credentials, and `AWS_ENDPOINT_URL` for the
/// local emulator) and builds the clients from it.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http_client())
        .load()
        .await
}

/// The SDK's HTTP client: rustls on ring (the TLS stack the Visma client already uses) trusting
/// the Mozilla root set compiled into the binary, as the Visma client does. The SDK's default
/// reads and parses every certificate file under `/etc/ssl` at each cold start (~2.5 ms of a
/// 5.5 ms start-up, measured in `make bench`).
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    use base64::Engine as _;

    let mut roots = tls::TrustStore::empty().with_native_roots(false);
    for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let der = base64::engine::general_purpose::STANDARD.encode(root.as_ref());
        roots.add_pem_certificate(format!(
            "-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n"
        ));
    }
    let tls_context = tls::TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("a trust store without extra server names is valid");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(tls_context)
        .build_https()
}
