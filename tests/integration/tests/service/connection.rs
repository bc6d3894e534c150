//! Connecting to Visma: `POST /connect`, Visma's consent, the OAuth callback and the status,
//! and everything the callback and the management API refuse (integration guide "Management API", "OAuth callback").

use integration_tests::internals::{self, TenantId};
use integration_tests::*;
use serde_json::json;
use visma_sandbox::Sandbox;

pub(crate) const RETURN_URL: &str = "http://localhost:5173/integrations/visma";

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `POST /connect` as the owner; returns the authorize URL.
pub(crate) async fn start_connect(app: &TestApp, tenant: &str) -> String {
    let answer = app
        .post(format!("/tenants/{tenant}/visma/connect"))
        .as_owner(tenant)
        .json(json!({"return_url": RETURN_URL}))
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["authorize_url"].as_str().unwrap().to_owned()
}

/// Follows the authorize URL at the sandbox (auto-approve on) and returns the callback
/// path+query Visma redirects the browser to.
pub(crate) async fn authorize_at_visma(authorize_url: &str) -> String {
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
pub(crate) async fn callback(app: &TestApp, path_and_query: &str) -> Answer {
    app.get(path_and_query).send().await
}

pub(crate) async fn status(app: &TestApp, tenant: &str) -> serde_json::Value {
    let answer = app
        .get(format!("/tenants/{tenant}/visma"))
        .as_service(tenant)
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

pub(crate) async fn connect(
    app: &TestApp,
    sandbox: &Sandbox,
    tenant: &str,
    company: uuid::Uuid,
) -> Answer {
    sandbox.set_auto_approve(true, Some(company));
    let authorize_url = start_connect(app, tenant).await;
    let back = authorize_at_visma(&authorize_url).await;
    callback(app, &back).await
}

pub(crate) fn location(answer: &Answer) -> String {
    answer.headers["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn connect_lands_connected_with_the_visma_company() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    assert_eq!(status(&app, "acme").await["status"], "not_connected");

    let authorize_url = start_connect(&app, "acme").await;
    let parsed = url::Url::parse(&authorize_url).unwrap();
    let params: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], "aourly-local");
    assert_eq!(params["response_type"], "code");
    assert!(params["acr_values"].contains("forceselectcompany:true"));
    assert!(params["state"].len() >= 32, "the state is long and random");
    assert_eq!(params["code_challenge_method"], "S256");

    let back = authorize_at_visma(&authorize_url).await;
    let answer = callback(&app, &back).await;
    assert_eq!(answer.status, 302);
    assert_eq!(location(&answer), format!("{RETURN_URL}?visma=connected"));

    let body = status(&app, "acme").await;
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
    let jobs = app.queue.receive(10, 1).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].body, r#"{"job":"pull","tenant":"acme"}"#);
}

#[tokio::test]
async fn denied_consent_returns_with_access_denied() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let authorize_url = start_connect(&app, "acme").await;
    let state = url::Url::parse(&authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    sb.clear_request_log();
    let answer = callback(
        &app,
        &format!("/oauth/visma/callback?error=access_denied&state={state}"),
    )
    .await;
    assert_eq!(answer.status, 302);
    assert_eq!(
        location(&answer),
        format!("{RETURN_URL}?visma=error&reason=access_denied")
    );
    assert_eq!(status(&app, "acme").await["status"], "not_connected");
    assert_eq!(sb.count("POST", "/connect/token"), 0);
}

#[tokio::test]
async fn forged_reused_and_expired_states_never_reach_visma_and_only_expired_ones_go_back() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let authorize_url = start_connect(&app, "acme").await;
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
        let answer = callback(&app, &forged).await;
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
    assert_eq!(callback(&app, &back).await.status, 302);
    let tokens_calls = sb.count("POST", "/connect/token");
    let reused = callback(&app, &back).await;
    assert_eq!(reused.status, 400);
    assert!(!reused.text.contains("localhost:5173"));
    assert_eq!(sb.count("POST", "/connect/token"), tokens_calls);

    // Expired: a state made 11 minutes ago. Known and unused, so the owner is sent back to
    // the page they came from to try again; the code is not exchanged.
    let tenant = TenantId::parse("late").unwrap();
    let old = chrono::Utc::now() - chrono::Duration::minutes(11);
    let url = internals::connection::start(&app, &tenant, "user-1", RETURN_URL, old)
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
        &app,
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
        &app,
        &format!("/oauth/visma/callback?code=whatever&state={state}"),
    )
    .await;
    assert_eq!(again.status, 400);
    assert!(!again.text.contains("localhost:5173"));
}

#[tokio::test]
async fn return_urls_outside_the_allowlist_are_refused() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    for bad in [
        "https://evil.example/",
        "http://localhost:5173.evil.example/",
        "http://localhost:5174/",
        "not a url",
        "",
    ] {
        let answer = app
            .post("/tenants/acme/visma/connect")
            .as_owner("acme")
            .json(json!({"return_url": bad}))
            .send()
            .await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.body["code"], "invalid_return_url");
        assert_eq!(answer.body["errors"][0]["field"], "return_url");
    }
}

#[tokio::test]
async fn tokens_are_checked_before_anything_happens() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let path = "/tenants/acme/visma";
    let bad_tokens = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(jwt_with(
            "acme",
            "owner",
            "aourly",
            "aourly-visma",
            -5,
            "test-jwt-secret",
        )),
        Some(jwt_with(
            "acme",
            "owner",
            "aourly",
            "aourly-visma",
            3600,
            "wrong-secret",
        )),
        Some(jwt_with(
            "acme",
            "owner",
            "someone",
            "aourly-visma",
            3600,
            "test-jwt-secret",
        )),
        Some(jwt_with(
            "acme",
            "owner",
            "aourly",
            "other",
            3600,
            "test-jwt-secret",
        )),
    ];
    for token in &bad_tokens {
        let answer = app.get(path).bearer_opt(token.as_deref()).send().await;
        assert_eq!(answer.status, 401, "{token:?}");
        assert_eq!(answer.body["code"], "unauthorized");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    // Another tenant's token.
    let answer = app.get(path).as_owner("other").send().await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    // Unknown role on a read.
    let answer = app.get(path).as_role("acme", "auditor").send().await;
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
        let answer = app.get(path).bearer(&token).send().await;
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
            let answer = app
                .request(method, path)
                .bearer(&jwt("acme", role))
                .json_opt(body.clone())
                .send()
                .await;
            assert_eq!(
                answer.status, 403,
                "{role} {method} {path}: {}",
                answer.text
            );
        }
    }
    // Nothing was started by any of them.
    assert_eq!(status(&app, "acme").await["status"], "not_connected");
}
