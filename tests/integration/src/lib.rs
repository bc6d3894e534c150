//! Shared set-up for the integration tests (zero2prod's `tests/api/helpers.rs` is the model).
//!
//! Every test spawns its own [`TestApp`]: a fresh table and queues in the local AWS emulator
//! (named with a fresh suffix, so tests run in parallel without resets), the service's real
//! dependencies built the way `main` builds them, and a small client for the whole service's
//! router. Webhook payloads live in [`payloads`], queue and store helpers on [`TestApp`], and
//! every internal of the service the tests touch is re-exported from [`internals`] (the one
//! place to fix when one moves).

pub mod faults;
pub mod internals;
pub mod payloads;
pub mod recording;
pub mod template;
mod test_app;

pub use test_app::{push_job, Answer, Request, TestApp};

use internals::{Config, Deps, Secret, TenantId};

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
    aws_with_http_client(internals::aws_http_client()).await
}

/// [`aws`] with another HTTP client (the recording one of the IAM test).
pub async fn aws_with_http_client(
    http_client: aws_sdk_dynamodb::config::SharedHttpClient,
) -> aws_config::SdkConfig {
    let endpoint = endpoint();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
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

/// The environment of a complete test configuration (fresh table and queue names, plus any
/// overrides), for [`config`] or for a service process started by a test.
pub fn env_vars(overrides: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    let endpoint = endpoint();
    let table = unique("state");
    let queue = format!("{endpoint}/123456789012/{}", unique("sync"));
    let dlq = format!("{queue}-dlq");
    let max_receives = template::max_receive_count().to_string();
    let mut vars: std::collections::HashMap<String, String> = [
        ("TABLE_NAME", table.as_str()),
        ("SYNC_QUEUE_URL", queue.as_str()),
        ("SYNC_DLQ_URL", dlq.as_str()),
        // What template.yaml passes every function that reads it (SyncMaxReceiveCount).
        ("SYNC_MAX_RECEIVE_COUNT", max_receives.as_str()),
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
    vars
}

/// A complete test configuration with fresh table and queue names, plus any overrides.
pub fn config(overrides: &[(&str, &str)]) -> Config {
    let vars = env_vars(overrides);
    Config::from_lookup(&Secret::ALL, |k| vars.get(k).cloned()).expect("test configuration")
}

/// A service with a fresh configuration, the table and queues created from the template.
pub async fn spawn_app(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_from(&env_vars(overrides)).await
}

/// A service for a given environment ([`env_vars`]), e.g. one that other [`TestApp`]s share.
pub async fn spawn_app_from(vars: &std::collections::HashMap<String, String>) -> TestApp {
    let config = Config::from_lookup(&Secret::ALL, |k| vars.get(k).cloned())
        .expect("test configuration")
        .resolve_secrets(None)
        .await
        .expect("plain secrets");
    let aws = aws().await;
    let deps = Deps::with_config(config, &aws).expect("test dependencies");
    internals::ensure_resources(&deps)
        .await
        .expect("create table and queues in the emulator");
    TestApp::new(deps, &aws)
}

/// The overrides that point a configuration at `sandbox` for Visma.
pub fn sandbox_overrides(sandbox: &visma_sandbox::Sandbox) -> Vec<(&'static str, String)> {
    let url = sandbox.url();
    vec![
        ("VISMA_IDENTITY_URL", url.clone()),
        ("VISMA_API_URL", url),
        ("VISMA_CLIENT_ID", "aourly-local".to_owned()),
        ("VISMA_CLIENT_SECRET", "aourly-local-secret".to_owned()),
    ]
}

/// A service pointing at `sandbox` for Visma and at the emulator for AWS.
pub async fn spawn_app_with_sandbox(
    sandbox: &visma_sandbox::Sandbox,
    overrides: &[(&str, &str)],
) -> TestApp {
    let pointing = sandbox_overrides(sandbox);
    let mut all: Vec<(&str, &str)> = pointing.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(overrides);
    spawn_app(&all).await
}

/// A Visma sandbox for one test (its own port and state), auto-approving the consent page.
pub async fn sandbox() -> visma_sandbox::Sandbox {
    let sandbox = visma_sandbox::Sandbox::start(visma_sandbox::SandboxConfig::default())
        .await
        .expect("start the Visma sandbox");
    sandbox.set_auto_approve(true, None);
    sandbox
}

/// Makes `tenant` connected to the sandbox company `company` without the browser: tokens
/// straight from the sandbox, stored and recorded as the callback would.
pub async fn connect_tenant(
    deps: &Deps,
    sandbox: &visma_sandbox::Sandbox,
    tenant: &TenantId,
    company: uuid::Uuid,
) {
    let pair = sandbox.issue_tokens(
        "aourly-local",
        company,
        &["ea:api", "offline_access", "ea:sales", "ea:accounting"],
    );
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(pair.expires_in as i64);
    deps.vault
        .store_new(
            tenant,
            &secrecy::SecretString::from(pair.access_token),
            &secrecy::SecretString::from(pair.refresh_token),
            expires_at,
        )
        .await
        .expect("store tokens");
    let info = sandbox
        .companies()
        .into_iter()
        .find(|c| c.id == company)
        .expect("a sandbox company");
    deps.connections
        .put_connected(
            tenant,
            internals::VismaCompany {
                name: info.name,
                corporate_identity_number: Some(info.corporate_identity_number),
                company_identifier: None,
                settings: None,
            },
            "user-1",
            chrono::Utc::now(),
        )
        .await
        .expect("record the connection");
}

/// The first seeded sandbox company ("Exempel AB").
pub fn first_company(sandbox: &visma_sandbox::Sandbox) -> uuid::Uuid {
    sandbox.companies()[0].id
}

/// A tenant id the test knows is valid.
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("a valid tenant id")
}

/// A service with tenant `name` connected through `sandbox` (which must outlive the test).
pub async fn connected(sandbox: &visma_sandbox::Sandbox, name: &str) -> (TestApp, TenantId) {
    connected_with(sandbox, name, &[]).await
}

/// [`connected`] with configuration overrides.
pub async fn connected_with(
    sandbox: &visma_sandbox::Sandbox,
    name: &str,
    overrides: &[(&str, &str)],
) -> (TestApp, TenantId) {
    let app = spawn_app_with_sandbox(sandbox, overrides).await;
    let tenant = tenant(name);
    connect_tenant(&app, sandbox, &tenant, first_company(sandbox)).await;
    (app, tenant)
}

/// A connected tenant "acme" with its first pull done (chart, codings, proposed mapping), and
/// the sandbox's request log cleared.
pub async fn ready(sb: &visma_sandbox::Sandbox) -> (TestApp, TenantId) {
    ready_with(sb, &[]).await
}

/// [`ready`] with configuration overrides.
pub async fn ready_with(
    sb: &visma_sandbox::Sandbox,
    overrides: &[(&str, &str)],
) -> (TestApp, TenantId) {
    let (app, tenant) = connected_with(sb, "acme", overrides).await;
    internals::pull::run(&app, &tenant)
        .await
        .expect("first pull");
    let mapping = internals::mapping::current(&app, &tenant)
        .await
        .unwrap()
        .expect("a proposed mapping");
    assert!(
        mapping.complete,
        "the sandbox company has codings for every rate"
    );
    sb.clear_request_log();
    (app, tenant)
}

/// A tenant that is [`ready`] with outbound events on (to an endpoint that refuses them), and
/// an empty queue: the first pull's events are not the tests' subject.
pub async fn ready_with_events(sb: &visma_sandbox::Sandbox) -> (TestApp, TenantId) {
    let (app, tenant) = ready_with(
        sb,
        &[
            ("AOURLY_EVENTS_URL", "http://127.0.0.1:9/events"),
            ("AOURLY_EVENTS_SECRET", "test-events-secret"),
        ],
    )
    .await;
    while let Some(m) = app.first_message().await {
        app.queue.delete(&m.receipt_handle).await.unwrap();
    }
    (app, tenant)
}

/// The JWT secret of the test configuration.
pub const JWT_SECRET: &str = "test-jwt-secret";

/// A signed Aourly JWT (integration guide "Authentication") for the test JWT secret.
pub fn jwt(tenant: &str, role: &str) -> String {
    jwt_with(tenant, role, "aourly", "aourly-visma", 3600, JWT_SECRET)
}

pub fn jwt_with(
    tenant: &str,
    role: &str,
    iss: &str,
    aud: &str,
    expires_in_secs: i64,
    secret: &str,
) -> String {
    let claims = serde_json::json!({
        "iss": iss, "aud": aud, "sub": "user-1", "tenant": tenant, "role": role,
        "exp": chrono::Utc::now().timestamp() + expires_in_secs,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign a JWT")
}

/// A sample event file of `events/` (the same files `cargo lambda invoke --data-file` takes).
pub fn sample(name: &str) -> String {
    let path = format!("{}/{name}", events_dir());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The repository's `events/` directory.
pub fn events_dir() -> String {
    format!("{}/../../events", env!("CARGO_MANIFEST_DIR"))
}
