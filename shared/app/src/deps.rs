use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use store::{
    AccountingClaims, CompanyClaims, Connections, CustomerLinks, OAuthStates, Pulled, Queue, Store,
    SyncItems, TokenVault,
};
use visma::{ApiClient, VismaConfig, VismaOAuth};

use crate::{Config, ConfigError, Secret};

/// Everything a handler needs, built once per cold start and shared by reference. The store's
/// capabilities are built here and nowhere else.
#[derive(Clone, Debug)]
pub struct Deps {
    pub config: Arc<Config>,
    pub queue: Queue,
    pub connections: Connections,
    pub claims: AccountingClaims,
    pub companies: CompanyClaims,
    pub states: OAuthStates,
    pub vault: TokenVault,
    pub items: SyncItems,
    pub pulled: Pulled,
    pub links: CustomerLinks,
    pub oauth: VismaOAuth,
    pub visma: ApiClient,
}

/// Visma answers within seconds; a request that takes longer is treated as lost (and, for a
/// write, as uncertain: looked up before it is tried again).
const VISMA_TIMEOUT: Duration = Duration::from_secs(20);

impl Deps {
    /// Loads configuration (with the secrets this function `needs`) and the AWS clients.
    pub async fn from_env(needs: &[Secret]) -> Result<Self, ConfigError> {
        let config = Config::from_env(needs)?;
        let aws = store::aws_config().await;
        // Building a client costs ~0.25 ms of cold start: only when a secret lives in SSM.
        let ssm = config
            .reads_parameter_store()
            .then(|| aws_sdk_ssm::Client::new(&aws));
        let config = config.resolve_secrets(ssm.as_ref()).await?;
        Self::with_config(config, &aws)
    }

    /// Builds the clients for an already parsed configuration (tests and the local runner).
    pub fn with_config(config: Config, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        // A client costs cold start: KMS only when tokens are encrypted.
        let kms = config
            .token_kms_key_id
            .is_some()
            .then(|| aws_sdk_kms::Client::new(aws));
        Self::with_clients(
            config,
            aws_sdk_dynamodb::Client::new(aws),
            aws_sdk_sqs::Client::new(aws),
            kms,
        )
    }

    /// Builds everything on these AWS clients (the benchmarks pass counting ones). `kms` is
    /// used only when `TOKEN_KMS_KEY_ID` is set.
    pub fn with_clients(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        kms: Option<aws_sdk_kms::Client>,
    ) -> Result<Self, ConfigError> {
        let queue = Queue::new(sqs, &config.sync_queue_url, &config.sync_dlq_url);
        let kms = kms.zip(config.token_kms_key_id.clone());
        let store = Store::new(dynamodb, &config.table_name, kms);
        let visma_config = VismaConfig {
            identity_url: config.visma_identity_url.clone(),
            api_url: config.visma_api_url.clone(),
            client_id: config.visma_client_id.clone(),
            // Functions that do not load the client secret (the webhook) never call Visma.
            client_secret: config
                .secrets
                .get(Secret::VismaClientSecret)
                .cloned()
                .unwrap_or_else(|| SecretString::from(String::new())),
            redirect_uri: config.visma_redirect_uri.clone(),
            scopes: config.visma_scopes.clone(),
            request_timeout: VISMA_TIMEOUT,
        };
        let invalid = |e: visma::VismaError| ConfigError {
            variable: "VISMA_IDENTITY_URL".into(),
            problem: format!("cannot be used ({e})"),
        };
        // One connection pool (and one TLS set-up at cold start) for the identity server and
        // the API. It never follows redirects: required for the token exchange.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(VISMA_TIMEOUT)
            .connect_timeout(VISMA_TIMEOUT)
            .build()
            .map_err(|e| invalid(visma::VismaError::Config(e.to_string())))?;
        let oauth = VismaOAuth::with_http_client(&visma_config, http.clone()).map_err(invalid)?;
        let pacer = crate::pacer::SharedPacer::new(
            store.rates,
            &config.visma_client_id,
            config.visma_rate_limit,
        );
        let visma = ApiClient::with_http_client(http, visma_config.api_url.clone())
            .with_pacer(Arc::new(pacer));
        Ok(Self {
            connections: store.connections,
            claims: store.claims,
            companies: store.companies,
            states: store.states,
            vault: store.vault,
            items: store.items,
            pulled: store.pulled,
            links: store.links,
            config: Arc::new(config),
            queue,
            oauth,
            visma,
        })
    }
}
