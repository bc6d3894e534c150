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
mod links;
mod oauth_state;
mod pulled;
mod queue;
mod rate;
#[cfg(feature = "local")]
pub mod resources;
mod table;
mod tokens;

pub use claim::{AccountingClaims, ClaimOutcome, CompanyClaims, VISMA_SYSTEM};
pub use connection::{ConnectedCursor, Connections};
pub use error::{Conditional, StoreError};
pub use items::{
    Claim, Cursor, EventMarker, Finish, Finished, InvalidCursor, ItemWrite, ListFilter,
    RecordError, SyncItem, SyncItems, EVENT_RETENTION, PAGE_SIZE,
};
pub use links::CustomerLinks;
pub use oauth_state::{OAuthStates, PendingAuthorization};
pub use pulled::{PullState, Pulled, VoucherPosition, CHART_PAGE_SIZE, CUSTOMER_INDEX_VERSION};
pub use queue::{Queue, ReceivedMessage};
pub use rate::{RateSchedule, Reservation};
pub use table::{Item, Lease};
// The raw table is the store's own; the local runner and the tests (feature `local`) reach it
// for set-up and for testing its primitives. No Lambda function builds with the feature.
#[cfg(feature = "local")]
pub use table::Table;
#[cfg(not(feature = "local"))]
use table::Table;
pub use tokens::{StoredTokens, TokenVault};

/// Every capability of the store over one table, built once (by the composition root) and
/// handed out by reference: callers never build store types themselves.
#[derive(Clone, Debug)]
pub struct Store {
    pub connections: Connections,
    pub claims: AccountingClaims,
    pub companies: CompanyClaims,
    pub states: OAuthStates,
    pub vault: TokenVault,
    pub items: SyncItems,
    pub pulled: Pulled,
    pub links: CustomerLinks,
    pub rates: RateSchedule,
}

impl Store {
    /// `kms`: the client and key id that encrypt stored tokens (`None`: stored as they are,
    /// for local runs).
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        table_name: &str,
        kms: Option<(aws_sdk_kms::Client, String)>,
    ) -> Self {
        let table = Table::new(dynamodb, table_name);
        Self {
            connections: Connections::new(table.clone()),
            claims: AccountingClaims::new(table.clone()),
            companies: CompanyClaims::new(table.clone()),
            states: OAuthStates::new(table.clone()),
            vault: TokenVault::new(table.clone(), kms),
            items: SyncItems::new(table.clone()),
            pulled: Pulled::new(table.clone()),
            links: CustomerLinks::new(table.clone()),
            rates: RateSchedule::new(table),
        }
    }
}

/// Loads the AWS SDK configuration once (region, credentials, and `AWS_ENDPOINT_URL` for the
/// local emulator) and builds the clients from it.
///
/// Lambda puts the region and the function role's credentials in the environment, the first
/// place the SDK's default chains look. Naming those sources here skips building the rest of
/// the chains (an STS client for web identity, instance-metadata and container clients) at
/// every cold start; where the environment lacks them (a laptop with a profile, EC2) the
/// default chains run as before.
pub async fn aws_config() -> aws_config::SdkConfig {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(aws_http_client());
    if let Some(region) = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region));
    }
    if set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader.load().await
}

/// The roots AWS service endpoints chain to, as PEM: Amazon Trust Services' four roots and
/// the Starfield root that cross-signs them (`certs/aws-roots.pem`).
const AWS_ROOTS_PEM: &str = include_str!("../certs/aws-roots.pem");

/// The SDK's HTTP client: rustls on ring (the TLS stack the Visma client already uses),
/// trusting only the five roots AWS endpoints chain to, compiled into the binary. The SDK's
/// default read every certificate file under `/etc/ssl` at each cold start (2.4 ms); the
/// whole Mozilla set compiled in still cost 0.9 ms to decode from PEM, the only form the
/// SDK's client takes (both measured with `perf` on release builds).
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls;

    let roots = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS_PEM);
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

#[cfg(test)]
mod tests {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn the_sdk_trusts_exactly_the_amazon_trust_services_roots_of_the_mozilla_set() {
        let bundled: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(super::AWS_ROOTS_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the bundle is valid PEM");
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        assert_eq!(bundled.len(), names.len());
        for (cert, name) in bundled.iter().zip(names) {
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.contains(cert),
                "{name}: not (or no longer) in the Mozilla root set"
            );
            let der: &[u8] = cert.as_ref();
            assert!(
                der.windows(name.len()).any(|w| w == name.as_bytes()),
                "the certificate after the comment {name} carries that name"
            );
        }
    }
}
