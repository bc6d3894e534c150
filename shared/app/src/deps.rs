use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use store::{AccountingClaims, CompanyClaims, Connections, OAuthStates, Queue, Table, TokenVault};
use visma::{ApiClient, VismaConfig, VismaOAuth};

use crate::{Config, ConfigError, Secret};

/// Everything a handler needs, built once per cold start and shared by reference.
#[derive(Clone, Debug)]
pub struct Deps {
    pub config: Arc<Config>,
    pub table: Table,
    pub queue: Queue,
    pub connections: Connections,
    pub claims: AccountingClaims,
    pub companies: CompanyClaims,
    pub states: OAuthStates,
    pub vault: TokenVault,
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
        let table = Table::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        let queue = Queue::new(
            aws_sdk_sqs::Client::new(aws),
            &config.sync_queue_url,
            &config.sync_dlq_url,
        );
        let kms = config
            .token_kms_key_id
            .clone()
            .map(|key| (aws_sdk_kms::Client::new(aws), key));
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
            store::RateSchedule::new(table.clone()),
            &config.visma_client_id,
            config.visma_rate_limit,
        );
        let visma = ApiClient::with_http_client(http, visma_config.api_url.clone())
            .with_pacer(Arc::new(pacer));
        Ok(Self {
            connections: Connections::new(table.clone()),
            claims: AccountingClaims::new(table.clone()),
            companies: CompanyClaims::new(table.clone()),
            states: OAuthStates::new(table.clone()),
            vault: TokenVault::new(table.clone(), kms),
            config: Arc::new(config),
            table,
            queue,
            oauth,
            visma,
        })
    }
}
