//! The connection lifecycle against the emulator and the Visma sandbox: connect, the OAuth
//! callback, status, refresh under concurrency, expiry, reconnect and disconnect.

use app::tokens::TenantTokens;
use domain::connection::ConnectionStatus;
use domain::TenantId;
use integration_tests::{call, connect_tenant, deps_with_sandbox, first_company, jwt, sandbox};
use serde_json::json;
use visma_sandbox::Sandbox;

const RETURN_URL: &str = "http://localhost:5173/integrations/visma";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `POST /connect` as the owner; returns the authorize URL.
async fn start_connect(deps: &app::Deps, tenant: &str) -> String {
    let answer = call(
        deps,
        "POST",
        &format!("/tenants/{tenant}/visma/connect"),
        Some(&jwt(tenant, "owner")),
        Some(json!({"return_url": RETURN_URL})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["authorize_url"].as_str().unwrap().to_owned()
}

/// Follows the authorize URL at the sandbox (auto-approve on) and returns the callback
/// path+query Visma redirects the browser to.
async fn authorize_at_visma(authorize_url: &str) -> String {
    let response = no_redirects().get(authorize_url).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        302,
        "the sandbox should redirect back"
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    assert_eq!(url.path(), "/oauth/visma/callback");
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// Runs the callback and returns where it sends the browser.
async fn callback(deps: &app::Deps, path_and_query: &str) -> integration_tests::Answer {
    call(deps, "GET", path_and_query, None, None).await
}

async fn status(deps: &app::Deps, tenant: &str) -> serde_json::Value {
    let answer = call(
        deps,
        "GET",
        &format!("/tenants/{tenant}/visma"),
        Some(&jwt(tenant, "service")),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

async fn connect(
    deps: &app::Deps,
    sandbox: &Sandbox,
    tenant: &str,
    company: uuid::Uuid,
) -> integration_tests::Answer {
    sandbox.set_auto_approve(true, Some(company));
    let authorize_url = start_connect(deps, tenant).await;
    let back = authorize_at_visma(&authorize_url).await;
    callback(deps, &back).await
}

fn location(answer: &integration_tests::Answer) -> String {
    answer.headers["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn connect_lands_connected_with_the_visma_company() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    assert_eq!(status(&deps, "acme").await["status"], "not_connected");

    let authorize_url = start_connect(&deps, "acme").await;
    let parsed = url::Url::parse(&authorize_url).unwrap();
    let params: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], "aourly-local");
    assert_eq!(params["response_type"], "code");
    assert!(params["acr_values"].contains("forceselectcompany:true"));
    assert!(params["state"].len() >= 32, "the state is long and random");
    assert_eq!(params["code_challenge_method"], "S256");

    let back = authorize_at_visma(&authorize_url).await;
    let answer = callback(&deps, &back).await;
    assert_eq!(answer.status, 302);
    assert_eq!(location(&answer), format!("{RETURN_URL}?visma=connected"));

    let body = status(&deps, "acme").await;
    assert_eq!(body["status"], "connected");
    assert_eq!(body["visma_company"]["name"], "Exempel AB");
    assert_eq!(
        body["visma_company"]["corporate_identity_number"],
        "556677-8899"
    );
    assert!(body["connected_at"].is_string());
    // Tokens are never part of any answer.
    assert!(!body.to_string().contains("token"));

    // The first pull was queued.
    let jobs = deps.queue.receive(10, 1).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].body, r#"{"job":"pull","tenant":"acme"}"#);
}

#[tokio::test]
async fn denied_consent_returns_with_access_denied() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let authorize_url = start_connect(&deps, "acme").await;
    let state = url::Url::parse(&authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    sb.clear_request_log();
    let answer = callback(
        &deps,
        &format!("/oauth/visma/callback?error=access_denied&state={state}"),
    )
    .await;
    assert_eq!(answer.status, 302);
    assert_eq!(
        location(&answer),
        format!("{RETURN_URL}?visma=error&reason=access_denied")
    );
    assert_eq!(status(&deps, "acme").await["status"], "not_connected");
    assert_eq!(sb.count("POST", "/connect/token"), 0);
}

#[tokio::test]
async fn forged_reused_and_expired_states_never_reach_visma_and_only_expired_ones_go_back() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let authorize_url = start_connect(&deps, "acme").await;
    let back = authorize_at_visma(&authorize_url).await;
    let code = url::Url::parse(&format!("http://x{back}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    sb.clear_request_log();
    // Forged: a state we never issued.
    for forged in [
        format!("/oauth/visma/callback?code={code}&state=forged"),
        format!("/oauth/visma/callback?code={code}"),
        "/oauth/visma/callback".to_owned(),
        "/oauth/visma/callback?state=%%%".to_owned(),
    ] {
        let answer = callback(&deps, &forged).await;
        assert_eq!(answer.status, 400, "{forged}");
        assert!(answer.headers.get("location").is_none());
        assert!(
            !answer.text.contains("localhost:5173"),
            "the return URL leaked"
        );
    }
    assert_eq!(
        sb.count("POST", "/connect/token"),
        0,
        "a forged state reached the token endpoint"
    );

    // Used once: fine. Reused: refused before the token endpoint.
    assert_eq!(callback(&deps, &back).await.status, 302);
    let tokens_calls = sb.count("POST", "/connect/token");
    let reused = callback(&deps, &back).await;
    assert_eq!(reused.status, 400);
    assert!(!reused.text.contains("localhost:5173"));
    assert_eq!(sb.count("POST", "/connect/token"), tokens_calls);

    // Expired: a state made 11 minutes ago. Known and unused, so the owner is sent back to
    // the page they came from to try again; the code is not exchanged.
    let tenant = TenantId::parse("late").unwrap();
    let old = chrono::Utc::now() - chrono::Duration::minutes(11);
    let url = app::connection::start(&deps, &tenant, "user-1", RETURN_URL, old)
        .await
        .unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let before = sb.count("POST", "/connect/token");
    let expired = callback(
        &deps,
        &format!("/oauth/visma/callback?code=whatever&state={state}"),
    )
    .await;
    assert_eq!(expired.status, 302);
    let location = url::Url::parse(expired.headers["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(RETURN_URL), "{location}");
    let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(
        pairs.contains(&("visma".into(), "error".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("reason".into(), "invalid_state".into())),
        "{pairs:?}"
    );
    assert_eq!(sb.count("POST", "/connect/token"), before);
    // And it is consumed: a second try is an unknown state.
    let again = callback(
        &deps,
        &format!("/oauth/visma/callback?code=whatever&state={state}"),
    )
    .await;
    assert_eq!(again.status, 400);
    assert!(!again.text.contains("localhost:5173"));
}

#[tokio::test]
async fn return_urls_outside_the_allowlist_are_refused() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    for bad in [
        "https://evil.example/",
        "http://localhost:5173.evil.example/",
        "http://localhost:5174/",
        "not a url",
        "",
    ] {
        let answer = call(
            &deps,
            "POST",
            "/tenants/acme/visma/connect",
            Some(&jwt("acme", "owner")),
            Some(json!({"return_url": bad})),
        )
        .await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.body["code"], "invalid_return_url");
        assert_eq!(answer.body["errors"][0]["field"], "return_url");
    }
}

#[tokio::test]
async fn tokens_are_checked_before_anything_happens() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let path = "/tenants/acme/visma";
    let bad_tokens = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(integration_tests::jwt_with(
            "acme",
            "owner",
            "aourly",
            "aourly-visma",
            -5,
            "test-jwt-secret",
        )),
        Some(integration_tests::jwt_with(
            "acme",
            "owner",
            "aourly",
            "aourly-visma",
            3600,
            "wrong-secret",
        )),
        Some(integration_tests::jwt_with(
            "acme",
            "owner",
            "someone",
            "aourly-visma",
            3600,
            "test-jwt-secret",
        )),
        Some(integration_tests::jwt_with(
            "acme",
            "owner",
            "aourly",
            "other",
            3600,
            "test-jwt-secret",
        )),
    ];
    for token in &bad_tokens {
        let answer = call(&deps, "GET", path, token.as_deref(), None).await;
        assert_eq!(answer.status, 401, "{token:?}");
        assert_eq!(answer.body["code"], "unauthorized");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    // Another tenant's token.
    let answer = call(&deps, "GET", path, Some(&jwt("other", "owner")), None).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    // Unknown role on a read.
    let answer = call(&deps, "GET", path, Some(&jwt("acme", "auditor")), None).await;
    assert_eq!(answer.status, 403);
    // A validly signed token without a role or tenant claim, or with one of another type,
    // names nothing that is allowed: 403, not 401.
    for (claim, value) in [
        ("role", None),
        ("role", Some(json!(["owner"]))),
        ("tenant", None),
        ("tenant", Some(json!(7))),
    ] {
        let mut claims = json!({
            "iss": "aourly", "aud": "aourly-visma", "sub": "user-1", "tenant": "acme",
            "role": "owner", "exp": chrono::Utc::now().timestamp() + 600,
        });
        match value {
            Some(v) => claims[claim] = v,
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"test-jwt-secret"),
        )
        .unwrap();
        let answer = call(&deps, "GET", path, Some(&token), None).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (403, Some("forbidden")),
            "{claims}"
        );
    }

    // Each write needs the owner.
    let writes = [
        (
            "POST",
            "/tenants/acme/visma/connect",
            Some(json!({"return_url": RETURN_URL})),
        ),
        ("DELETE", "/tenants/acme/visma", None),
        ("POST", "/tenants/acme/visma/sync", None),
        (
            "PUT",
            "/tenants/acme/visma/account-mapping",
            Some(json!({})),
        ),
        (
            "POST",
            "/tenants/acme/visma/sync-items/invoice/inv_1/retry",
            None,
        ),
    ];
    for role in ["coordinator", "performer", "service"] {
        for (method, path, body) in &writes {
            let answer = call(&deps, method, path, Some(&jwt("acme", role)), body.clone()).await;
            assert_eq!(
                answer.status, 403,
                "{role} {method} {path}: {}",
                answer.text
            );
        }
    }
    // Nothing was started by any of them.
    assert_eq!(status(&deps, "acme").await["status"], "not_connected");
}

#[tokio::test]
async fn twenty_workers_at_expiry_cause_exactly_one_refresh() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("busy").unwrap();
    connect_tenant(&deps, &sb, &tenant, first_company(&sb)).await;

    // The stored access token is due now, and Visma no longer accepts it either.
    let stored = deps.vault.load(&tenant).await.unwrap().unwrap();
    deps.vault
        .store_new(
            &tenant,
            &stored.access_token,
            &stored.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    sb.expire_access_tokens();
    sb.clear_request_log();

    let mut workers = Vec::new();
    for _ in 0..20 {
        let deps = deps.clone();
        let tenant = tenant.clone();
        workers.push(tokio::spawn(async move {
            let tokens = TenantTokens::new(&deps, tenant);
            deps.visma.connect(&tokens).company_settings().get().await
        }));
    }
    for worker in workers {
        let settings = worker.await.unwrap().expect("every worker proceeds");
        assert_eq!(settings.name.as_deref(), Some("Exempel AB"));
    }
    assert_eq!(
        sb.count("POST", "/connect/token"),
        1,
        "exactly one refresh reached Visma"
    );
    let log = sb.request_log();
    assert!(
        log.iter()
            .all(|r| r.status != 400 || r.route != "/connect/token"),
        "someone saw invalid_grant"
    );
    assert_eq!(status(&deps, "busy").await["status"], "connected");
}

#[tokio::test]
async fn revoked_tokens_expire_the_connection_and_reconnect_keeps_the_mapping() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    assert_eq!(
        location(&connect(&deps, &sb, "acme", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    let tenant = TenantId::parse("acme").unwrap();
    // The first pull proposes a mapping; the owner saves it.
    app::pull::run(&deps, &tenant).await.unwrap();
    let mapping = call(
        &deps,
        "GET",
        "/tenants/acme/visma/account-mapping",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await
    .body;
    let saved = call(
        &deps,
        "PUT",
        "/tenants/acme/visma/account-mapping",
        Some(&jwt("acme", "owner")),
        Some(mapping),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    sb.revoke_all_tokens();
    let tokens = TenantTokens::new(&deps, tenant.clone());
    let err = deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.class(), visma::ErrorClass::Authorization);

    let body = status(&deps, "acme").await;
    assert_eq!(body["status"], "expired");
    assert_eq!(body["warnings"], json!(["reauthorization_required"]));
    assert_eq!(body["visma_company"]["name"], "Exempel AB");

    let answer = connect(&deps, &sb, "acme", company).await;
    assert_eq!(location(&answer), format!("{RETURN_URL}?visma=connected"));
    assert_eq!(status(&deps, "acme").await["status"], "connected");
    let after = call(
        &deps,
        "GET",
        "/tenants/acme/visma/account-mapping",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await
    .body;
    assert_eq!(
        after, saved.body,
        "the mapping survives expiry and reconnect"
    );
    assert_eq!(after["confirmed"], true);
}

/// A refresh with a refresh token Visma no longer accepts is still in flight when the owner
/// reconnects: its refusal concerns the old tokens, so it must not mark the new connection
/// expired.
#[tokio::test]
async fn a_refusal_of_the_old_tokens_during_a_reconnect_leaves_the_new_connection_alone() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    connect(&deps, &sb, "acme", company).await;
    let tenant = TenantId::parse("acme").unwrap();
    sb.revoke_all_tokens();
    sb.set_faults(visma_sandbox::types::Faults {
        // Long enough that the reconnect below lands while the refresh is in flight.
        token_latency: std::time::Duration::from_millis(1500),
        ..Default::default()
    });

    let old = TenantTokens::new(&deps, tenant.clone());
    let in_flight = async { deps.visma.connect(&old).company_settings().get().await };
    let reconnect = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        connect_tenant(&deps, &sb, &tenant, company).await;
    };
    let (answer, ()) = tokio::join!(in_flight, reconnect);
    // The client retries a transient failure, and then finds the new tokens.
    if let Err(err) = answer {
        assert_eq!(err.class(), visma::ErrorClass::Transient, "{err}");
    }

    assert_eq!(status(&deps, "acme").await["status"], "connected");
    sb.set_faults(visma_sandbox::types::Faults::default());
    let fresh = TenantTokens::new(&deps, tenant.clone());
    deps.visma
        .connect(&fresh)
        .company_settings()
        .get()
        .await
        .expect("the new tokens work");
}

#[tokio::test]
async fn a_crash_between_refresh_and_store_is_explained_and_reconnect_recovers() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    connect(&deps, &sb, "acme", company).await;
    let tenant = TenantId::parse("acme").unwrap();

    // A worker refreshed at Visma and died before its store write: Visma rotated the refresh
    // token, the table still holds the old one.
    let stored = deps.vault.load(&tenant).await.unwrap().unwrap();
    deps.oauth
        .refresh(&stored.refresh_token)
        .await
        .expect("the lost refresh");
    deps.vault
        .store_new(
            &tenant,
            &stored.access_token,
            &stored.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    let tokens = TenantTokens::new(&deps, tenant.clone());
    let err = deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.class(), visma::ErrorClass::Authorization);
    let body = status(&deps, "acme").await;
    assert_eq!(
        body["status"], "expired",
        "the status explains what happened"
    );
    assert_eq!(body["warnings"], json!(["reauthorization_required"]));

    assert_eq!(
        location(&connect(&deps, &sb, "acme", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    let tokens = TenantTokens::new(&deps, tenant);
    assert!(deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
}

#[tokio::test]
async fn reconnecting_to_another_company_needs_a_disconnect_first() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let companies = sb.companies();
    connect(&deps, &sb, "acme", companies[0].id).await;

    let answer = connect(&deps, &sb, "acme", companies[1].id).await;
    assert_eq!(
        location(&answer),
        format!("{RETURN_URL}?visma=error&reason=different_visma_company")
    );
    assert_eq!(
        status(&deps, "acme").await["visma_company"]["name"],
        "Exempel AB"
    );

    let answer = call(
        &deps,
        "DELETE",
        "/tenants/acme/visma",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(answer.status, 204);
    let answer = connect(&deps, &sb, "acme", companies[1].id).await;
    assert_eq!(location(&answer), format!("{RETURN_URL}?visma=connected"));
    assert_eq!(
        status(&deps, "acme").await["visma_company"]["name"],
        "Andra Bolaget AB"
    );
}

#[derive(serde::Serialize)]
struct OtherClaim {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    system: String,
    claimed_at: String,
    claimed_by: String,
}

#[tokio::test]
async fn one_accounting_system_per_company() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    integration_tests::table(&deps)
        .await
        .put(&OtherClaim {
            pk: store::keys::tenant_pk(&tenant),
            sk: store::keys::accounting_system_sk().into(),
            system: "fortnox".into(),
            claimed_at: chrono::Utc::now().to_rfc3339(),
            claimed_by: "user-9".into(),
        })
        .await
        .unwrap();
    let answer = call(
        &deps,
        "POST",
        "/tenants/acme/visma/connect",
        Some(&jwt("acme", "owner")),
        Some(json!({"return_url": RETURN_URL})),
    )
    .await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["code"], "accounting_system_conflict");

    // Fortnox lets go; Visma connects and holds the claim; disconnect releases it.
    integration_tests::table(&deps)
        .await
        .delete(
            &store::keys::tenant_pk(&tenant),
            store::keys::accounting_system_sk(),
        )
        .await
        .unwrap();
    connect(&deps, &sb, "acme", first_company(&sb)).await;
    assert_eq!(
        deps.claims.holder(&tenant).await.unwrap().as_deref(),
        Some("visma")
    );
    call(
        &deps,
        "DELETE",
        "/tenants/acme/visma",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(deps.claims.holder(&tenant).await.unwrap(), None);
}

#[tokio::test]
async fn disconnect_revokes_deletes_tokens_and_stops_syncing() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    connect(&deps, &sb, "acme", first_company(&sb)).await;
    let tenant = TenantId::parse("acme").unwrap();
    let stored = deps.vault.load(&tenant).await.unwrap().unwrap();

    let answer = call(
        &deps,
        "DELETE",
        "/tenants/acme/visma",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(answer.status, 204);
    assert!(
        deps.vault.load(&tenant).await.unwrap().is_none(),
        "token material deleted"
    );
    assert!(
        deps.oauth.refresh(&stored.refresh_token).await.is_err(),
        "revoked at Visma"
    );
    let body = status(&deps, "acme").await;
    assert_eq!(body["status"], "disconnected");
    assert_eq!(
        body["visma_company"]["name"], "Exempel AB",
        "history is kept"
    );

    // Out of the schedule's index.
    let report =
        scheduled_pull::handle_tick(&deps, scheduled_pull::schedule_event(chrono::Utc::now()))
            .await
            .unwrap();
    assert_eq!(report.tenants_queued, 0);
    // Disconnecting again is fine.
    let again = call(
        &deps,
        "DELETE",
        "/tenants/acme/visma",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(again.status, 204);
    assert_eq!(
        deps.connections.get(&tenant).await.unwrap().unwrap().status,
        ConnectionStatus::Disconnected
    );
}

#[tokio::test]
async fn tokens_are_encrypted_with_kms_when_a_key_is_configured() {
    let aws = integration_tests::aws().await;
    let kms = aws_sdk_kms::Client::new(&aws);
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[("TOKEN_KMS_KEY_ID", key.as_str())]).await;
    assert!(deps.vault.encrypts());
    connect(&deps, &sb, "acme", first_company(&sb)).await;
    let tenant = TenantId::parse("acme").unwrap();

    let loaded = deps.vault.load(&tenant).await.unwrap().unwrap();
    let access = secrecy::ExposeSecret::expose_secret(&loaded.access_token).to_owned();
    let refresh = secrecy::ExposeSecret::expose_secret(&loaded.refresh_token).to_owned();
    let sealed = deps.vault.sealed_value(&tenant).await.unwrap().unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&sealed)
        .unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        !raw.contains(&access) && !raw.contains(&refresh),
        "tokens readable at rest"
    );
    // And they work.
    let tokens = TenantTokens::new(&deps, tenant);
    assert!(deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
}

#[tokio::test]
async fn connecting_and_expiring_raise_outbound_events() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(
        &sb,
        &[
            ("AOURLY_EVENTS_URL", "http://127.0.0.1:9/events"),
            ("AOURLY_EVENTS_SECRET", "s"),
        ],
    )
    .await;
    connect(&deps, &sb, "acme", first_company(&sb)).await;
    sb.revoke_all_tokens();
    let tokens = TenantTokens::new(&deps, TenantId::parse("acme").unwrap());
    assert!(deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_err());
    // A second worker hitting the same wall does not raise the event again.
    let tokens = TenantTokens::new(&deps, TenantId::parse("acme").unwrap());
    assert!(deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_err());

    let mut kinds = Vec::new();
    loop {
        let got = deps.queue.receive(10, 1).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            if let domain::SyncJob::Emit { event } = serde_json::from_str(&m.body).unwrap() {
                kinds.push(
                    serde_json::to_value(event.kind)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            deps.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["visma.connection.connected", "visma.connection.expired"]
    );
}

#[tokio::test]
async fn a_visma_company_serves_one_tenant_at_a_time() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    assert_eq!(
        location(&connect(&deps, &sb, "first", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    let second = connect(&deps, &sb, "second", company).await;
    assert_eq!(
        location(&second),
        format!("{RETURN_URL}?visma=error&reason=visma_company_in_use")
    );
    assert_eq!(status(&deps, "second").await["status"], "not_connected");
    // The same tenant reconnecting to its own company is fine.
    assert_eq!(
        location(&connect(&deps, &sb, "first", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    // Once the first disconnects, the company is free.
    call(
        &deps,
        "DELETE",
        "/tenants/first/visma",
        Some(&jwt("first", "owner")),
        None,
    )
    .await;
    assert_eq!(
        location(&connect(&deps, &sb, "second", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
}

#[tokio::test]
async fn a_refused_client_secret_does_not_expire_tenants() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&deps, &sb, &tenant, first_company(&sb)).await;
    let stored = deps.vault.load(&tenant).await.unwrap().unwrap();
    deps.vault
        .store_new(
            &tenant,
            &stored.access_token,
            &stored.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // The same table, a service deployed with a wrong client secret.
    let mut wrong = deps.clone();
    let broken = deps_with_sandbox(&sb, &[("VISMA_CLIENT_SECRET", "rotated-wrongly")]).await;
    wrong.oauth = broken.oauth;
    let tokens = TenantTokens::new(&wrong, tenant.clone());
    let err = wrong
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap_err();
    assert_eq!(
        err.class(),
        visma::ErrorClass::Transient,
        "our misconfiguration, not the owner's"
    );
    assert_eq!(status(&deps, "acme").await["status"], "connected");
    // Fixed configuration: the same refresh token still works.
    let tokens = TenantTokens::new(&deps, tenant);
    assert!(deps
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
}
