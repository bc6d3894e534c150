//! Counting the DynamoDB and SQS requests the service makes: an SDK interceptor on clients
//! built like the service's own (same SDK configuration), swapped into a `Deps`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use app::Deps;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use store::{AccountingClaims, CompanyClaims, Connections, OAuthStates, Queue, Table, TokenVault};

/// Requests per `Service.Operation`, counted once per HTTP attempt (SDK retries included).
#[derive(Debug, Clone, Default)]
pub struct AwsCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl AwsCounter {
    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Intercept for AwsCounter {
    fn name(&self) -> &'static str {
        "bench-request-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut c) = self.counts.lock() {
            *c.entry(op).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// `deps` with its DynamoDB and SQS clients replaced by counted ones (same table and queues).
pub async fn counted(deps: &Deps, counter: &AwsCounter) -> Deps {
    let sdk = integration_tests::aws().await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let table = Table::new(ddb, deps.table.name());
    let mut out = deps.clone();
    // The Visma client's rate pacer takes its slots in the table: rebuilt on the counted one,
    // as `Deps::with_config` builds it.
    let config = &deps.config;
    let visma_config = visma::VismaConfig {
        identity_url: config.visma_identity_url.clone(),
        api_url: config.visma_api_url.clone(),
        client_id: config.visma_client_id.clone(),
        client_secret: config
            .secrets
            .get(app::Secret::VismaClientSecret)
            .cloned()
            .unwrap_or_else(|| secrecy::SecretString::from(String::new())),
        redirect_uri: config.visma_redirect_uri.clone(),
        scopes: config.visma_scopes.clone(),
        request_timeout: std::time::Duration::from_secs(20),
    };
    let pacer = app::pacer::SharedPacer::new(
        store::RateSchedule::new(table.clone()),
        &config.visma_client_id,
        config.visma_rate_limit,
    );
    out.visma = visma::ApiClient::new(&visma_config)
        .expect("Visma client")
        .with_pacer(Arc::new(pacer));
    out.companies = CompanyClaims::new(table.clone());
    out.queue = Queue::new(sqs, deps.queue.url(), deps.queue.dead_letter_url());
    out.connections = Connections::new(table.clone());
    out.claims = AccountingClaims::new(table.clone());
    out.states = OAuthStates::new(table.clone());
    // The benchmark runs without KMS (as `make serve` does by default).
    out.vault = TokenVault::new(table.clone(), None);
    out.table = table;
    out
}

/// Total of a snapshot's entries whose key starts with `service` ("DynamoDB" or "SQS").
pub fn total(counts: &BTreeMap<String, u64>, service: &str) -> u64 {
    counts
        .iter()
        .filter(|(k, _)| k.starts_with(service))
        .map(|(_, v)| *v)
        .sum()
}

/// `GetItem 2, TransactWriteItems 1` for one service.
pub fn breakdown(counts: &BTreeMap<String, u64>, service: &str) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(service)
                .map(|op| format!("{} {v}", op.trim_start_matches('.')))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
