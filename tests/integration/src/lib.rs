//! Shared set-up for the integration tests: every test gets its own table and queues in the
//! local AWS emulator (named with a fresh suffix), so tests run in parallel without resets.

use app::{Config, Deps, Secret};

/// The emulator endpoint. `make test` starts moto and sets `AWS_ENDPOINT_URL`; without it these
/// tests cannot run, and they say so instead of passing vacuously.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: the integration tests need the local AWS emulator. \
             Run them with `make test` (it starts moto), or start one and export AWS_ENDPOINT_URL."
        )
    })
}

/// SDK configuration pointing at the emulator, with dummy credentials.
pub async fn aws() -> aws_config::SdkConfig {
    let endpoint = endpoint();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("eu-north-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "integration-tests",
        ))
        .load()
        .await
}

/// A unique suffix for resource names.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A complete test configuration with fresh table and queue names, plus any overrides.
pub fn config(overrides: &[(&str, &str)]) -> Config {
    let endpoint = endpoint();
    let table = unique("state");
    let queue = format!("{endpoint}/123456789012/{}", unique("sync"));
    let dlq = format!("{queue}-dlq");
    let mut vars: std::collections::HashMap<String, String> = [
        ("TABLE_NAME", table.as_str()),
        ("SYNC_QUEUE_URL", queue.as_str()),
        ("SYNC_DLQ_URL", dlq.as_str()),
        ("VISMA_IDENTITY_URL", "http://127.0.0.1:9/identity"),
        ("VISMA_API_URL", "http://127.0.0.1:9/api"),
        ("VISMA_CLIENT_ID", "aourly-local"),
        ("VISMA_CLIENT_SECRET", "test-visma-client-secret"),
        (
            "VISMA_REDIRECT_URI",
            "http://127.0.0.1:3000/oauth/visma/callback",
        ),
        ("AOURLY_JWT_SECRET", "test-jwt-secret"),
        ("AOURLY_WEBHOOK_SECRET", "test-webhook-secret"),
        ("AOURLY_RETURN_URL_PREFIXES", "http://localhost:5173/"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(&Secret::ALL, |k| vars.get(k).cloned()).expect("test configuration")
}

/// Dependencies for a fresh configuration, with the table and queues created from the template.
pub async fn deps(overrides: &[(&str, &str)]) -> Deps {
    let config = config(overrides)
        .resolve_secrets(None)
        .await
        .expect("plain secrets");
    let deps = Deps::with_config(config, &aws().await).expect("test dependencies");
    local::ensure_resources(&deps)
        .await
        .expect("create table and queues in the emulator");
    deps
}
