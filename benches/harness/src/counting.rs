//! Counting the DynamoDB and SQS requests the service makes: an SDK interceptor on clients
//! built like the service's own (same SDK configuration), swapped into a `Deps`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use app::Deps;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

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
    let mut config = (*deps.config).clone();
    // The benchmark runs without KMS (as `make serve` does by default).
    config.token_kms_key_id = None;
    // Built as `Deps::with_config` builds it, on the counted clients: the Visma client's rate
    // pacer takes its slots in the table too.
    Deps::with_clients(config, ddb, sqs, None).expect("counted dependencies")
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
