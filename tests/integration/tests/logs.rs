//! Logs are structured JSON and never carry a token or a secret. One test in its own binary:
//! it installs the global log subscriber, runs whole flows at debug level, and searches
//! everything that was logged.

use integration_tests::*;

use std::io::Write;
use std::sync::{Arc, Mutex};

use integration_tests::internals::tokens::TenantTokens;
use integration_tests::internals::TenantId;
use secrecy::ExposeSecret;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_token_or_secret_reaches_the_logs() {
    let captured = Captured::default();
    // Our crates at debug (Visma call outcomes included), dependencies at info.
    internals::telemetry::init_with_writer(
        captured.clone(),
        "info,app=debug,store=debug,visma=debug,api=debug,oauth_callback=debug,webhook=debug,sync_worker=debug,scheduled_pull=debug,local=debug",
    );
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let owner_jwt = jwt("acme", "owner");

    // Connect through the callback.
    sb.set_auto_approve(true, Some(first_company(&sb)));
    let started = app
        .post("/tenants/acme/visma/connect")
        .bearer(&owner_jwt)
        .json(json!({"return_url": "http://localhost:5173/x"}))
        .send()
        .await;
    let authorize_url = started.body["authorize_url"].as_str().unwrap().to_owned();
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&authorize_url)
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let answer = app
        .get(format!("{}?{}", back.path(), back.query().unwrap()))
        .send()
        .await;
    assert_eq!(answer.status, 302);
    let first = app.vault.load(&tenant).await.unwrap().unwrap();

    // A refresh (the stored token is due), a call, a 401-driven refresh, status, the worker.
    app.vault
        .store_new(
            &tenant,
            &first.access_token,
            &first.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let tokens = TenantTokens::new(&app, tenant.clone());
    app.visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap();
    sb.expire_access_tokens();
    app.visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap();
    let last = app.vault.load(&tenant).await.unwrap().unwrap();
    app.get("/tenants/acme/visma")
        .bearer(&owner_jwt)
        .send()
        .await;
    internals::poll_once(&app, 1).await.unwrap();
    // Failures log too: a bad JWT, a forged state, revoked tokens.
    app.get("/tenants/acme/visma")
        .bearer("Bearer.bad.jwt")
        .send()
        .await;
    app.get("/oauth/visma/callback?code=x&state=forged")
        .send()
        .await;
    sb.revoke_all_tokens();
    let tokens = TenantTokens::new(&app, tenant.clone());
    assert!(app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_err());
    app.delete("/tenants/acme/visma")
        .bearer(&owner_jwt)
        .send()
        .await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() >= 10,
        "the flows should have logged, got {} lines",
        lines.len()
    );
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    assert!(
        text.contains("\"tenant\":\"acme\""),
        "log lines carry the tenant"
    );

    let secrets = [
        (
            "first access token",
            first.access_token.expose_secret().to_owned(),
        ),
        (
            "first refresh token",
            first.refresh_token.expose_secret().to_owned(),
        ),
        (
            "last access token",
            last.access_token.expose_secret().to_owned(),
        ),
        (
            "last refresh token",
            last.refresh_token.expose_secret().to_owned(),
        ),
        ("authorization code", code),
        ("Visma client secret", "aourly-local-secret".to_owned()),
        ("JWT secret", "test-jwt-secret".to_owned()),
        ("webhook secret", "test-webhook-secret".to_owned()),
        ("owner JWT", owner_jwt.clone()),
    ];
    for (what, value) in secrets {
        assert!(value.len() >= 8, "{what} is too short to search for");
        assert!(!text.contains(&value), "the {what} appears in the logs");
    }
}
