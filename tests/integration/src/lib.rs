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
        .http_client(store::aws_http_client())
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
    vars
}

/// A complete test configuration with fresh table and queue names, plus any overrides.
pub fn config(overrides: &[(&str, &str)]) -> Config {
    let vars = env_vars(overrides);
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

/// A Visma sandbox for one test (its own port and state), auto-approving the consent page.
pub async fn sandbox() -> visma_sandbox::Sandbox {
    let sandbox = visma_sandbox::Sandbox::start(visma_sandbox::SandboxConfig::default())
        .await
        .expect("start the Visma sandbox");
    sandbox.set_auto_approve(true, None);
    sandbox
}

/// Dependencies pointing at `sandbox` for Visma and at the emulator for AWS.
pub async fn deps_with_sandbox(
    sandbox: &visma_sandbox::Sandbox,
    overrides: &[(&str, &str)],
) -> Deps {
    let url = sandbox.url();
    let mut all: Vec<(&str, &str)> = vec![
        ("VISMA_IDENTITY_URL", url.as_str()),
        ("VISMA_API_URL", url.as_str()),
        ("VISMA_CLIENT_ID", "aourly-local"),
        ("VISMA_CLIENT_SECRET", "aourly-local-secret"),
    ];
    all.extend_from_slice(overrides);
    deps(&all).await
}

/// Makes `tenant` connected to the sandbox company `company` without the browser: tokens
/// straight from the sandbox, stored and recorded as the callback would.
pub async fn connect_tenant(
    deps: &Deps,
    sandbox: &visma_sandbox::Sandbox,
    tenant: &domain::TenantId,
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
            domain::connection::VismaCompany {
                name: info.name,
                corporate_identity_number: Some(info.corporate_identity_number),
                company_identifier: None,
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

/// A signed Aourly JWT (CONTRACT §2) for the test JWT secret.
pub fn jwt(tenant: &str, role: &str) -> String {
    jwt_with(
        tenant,
        role,
        "aourly",
        "aourly-visma",
        3600,
        "test-jwt-secret",
    )
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

/// An answer of the in-process router, body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
}

/// Sends one request through the whole service's router (the same one `make serve` serves).
pub async fn call(
    deps: &Deps,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            axum::body::Body::from(json.to_string())
        }
        None => axum::body::Body::empty(),
    };
    let response = local::http_router(deps)
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("router answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        text,
    }
}

/// `POST /webhooks/aourly` with `event`, signed now with the test webhook secret.
pub fn signed_webhook_request(event: &serde_json::Value) -> axum::http::Request<axum::body::Body> {
    let body = serde_json::to_vec(event).expect("event JSON");
    let signature = domain::sign(
        b"test-webhook-secret",
        chrono::Utc::now().timestamp(),
        &body,
    );
    axum::http::Request::builder()
        .method("POST")
        .uri("/webhooks/aourly")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header(domain::SIGNATURE_HEADER, signature)
        .body(axum::body::Body::from(body))
        .expect("request")
}

/// Posts a webhook event signed with the test webhook secret through the service's router.
pub async fn post_webhook(deps: &Deps, event: &serde_json::Value) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = local::http_router(deps)
        .oneshot(signed_webhook_request(event))
        .await
        .expect("router answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Runs the worker over the queue until it is empty, making returned messages visible again
/// at once (as if their backoff had passed). Returns how many polls it took.
pub async fn drain_queue(deps: &Deps, max_polls: usize) -> usize {
    for poll in 1..=max_polls {
        let report = local::poll_once(deps, 0).await.expect("poll the queue");
        if report.received == 0 {
            return poll;
        }
        for handle in &report.returned {
            deps.queue
                .change_visibility(handle, 0)
                .await
                .expect("make a returned message visible");
        }
    }
    panic!("the queue was not empty after {max_polls} polls");
}

/// A DynamoDB client on the emulator, for tests that read or write the table directly.
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws().await)
}

/// The test's table, for tests of the store's table primitives and for raw set-up.
pub async fn table(deps: &Deps) -> store::Table {
    store::Table::new(dynamodb().await, &deps.config.table_name)
}
