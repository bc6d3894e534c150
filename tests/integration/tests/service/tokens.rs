//! The tenant's Visma tokens: one refresh under concurrency, revoked and refused tokens,
//! a crash between refresh and store, KMS encryption at rest.

use integration_tests::internals::{self, tokens::TenantTokens, TenantId};
use integration_tests::*;
use serde_json::json;

use super::connection::{connect, location, status, RETURN_URL};

#[tokio::test]
async fn twenty_workers_at_expiry_cause_exactly_one_refresh() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("busy").unwrap();
    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;

    // The stored access token is due now, and Visma no longer accepts it either.
    let stored = app.vault.load(&tenant).await.unwrap().unwrap();
    app.vault
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
        let app = app.clone();
        let tenant = tenant.clone();
        workers.push(tokio::spawn(async move {
            let tokens = TenantTokens::new(&app, tenant);
            app.visma.connect(&tokens).company_settings().get().await
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
    assert_eq!(status(&app, "busy").await["status"], "connected");
}

#[tokio::test]
async fn revoked_tokens_expire_the_connection_and_reconnect_keeps_the_mapping() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    assert_eq!(
        location(&connect(&app, &sb, "acme", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    let tenant = TenantId::parse("acme").unwrap();
    // The first pull proposes a mapping; the owner saves it.
    internals::pull::run(&app, &tenant).await.unwrap();
    let mapping = app
        .get("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .send()
        .await
        .body;
    let saved = app
        .put("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .json(mapping)
        .send()
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    sb.revoke_all_tokens();
    let tokens = TenantTokens::new(&app, tenant.clone());
    let err = app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.class(), visma::ErrorClass::Authorization);

    let body = status(&app, "acme").await;
    assert_eq!(body["status"], "expired");
    assert_eq!(body["warnings"], json!(["reauthorization_required"]));
    assert_eq!(body["visma_company"]["name"], "Exempel AB");

    let answer = connect(&app, &sb, "acme", company).await;
    assert_eq!(location(&answer), format!("{RETURN_URL}?visma=connected"));
    assert_eq!(status(&app, "acme").await["status"], "connected");
    let after = app
        .get("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .send()
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
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    connect(&app, &sb, "acme", company).await;
    let tenant = TenantId::parse("acme").unwrap();
    sb.revoke_all_tokens();
    sb.set_faults(visma_sandbox::types::Faults {
        // Long enough that the reconnect below lands while the refresh is in flight.
        token_latency: std::time::Duration::from_millis(1500),
        ..Default::default()
    });

    let old = TenantTokens::new(&app, tenant.clone());
    let in_flight = async { app.visma.connect(&old).company_settings().get().await };
    let reconnect = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        connect_tenant(&app, &sb, &tenant, company).await;
    };
    let (answer, ()) = tokio::join!(in_flight, reconnect);
    // The client retries a transient failure, and then finds the new tokens.
    if let Err(err) = answer {
        assert_eq!(err.class(), visma::ErrorClass::Transient, "{err}");
    }

    assert_eq!(status(&app, "acme").await["status"], "connected");
    sb.set_faults(visma_sandbox::types::Faults::default());
    let fresh = TenantTokens::new(&app, tenant.clone());
    app.visma
        .connect(&fresh)
        .company_settings()
        .get()
        .await
        .expect("the new tokens work");
}

#[tokio::test]
async fn a_crash_between_refresh_and_store_is_explained_and_reconnect_recovers() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    connect(&app, &sb, "acme", company).await;
    let tenant = TenantId::parse("acme").unwrap();

    // A worker refreshed at Visma and died before its store write: Visma rotated the refresh
    // token, the table still holds the old one.
    let stored = app.vault.load(&tenant).await.unwrap().unwrap();
    app.oauth
        .refresh(&stored.refresh_token)
        .await
        .expect("the lost refresh");
    app.vault
        .store_new(
            &tenant,
            &stored.access_token,
            &stored.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    let tokens = TenantTokens::new(&app, tenant.clone());
    let err = app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.class(), visma::ErrorClass::Authorization);
    let body = status(&app, "acme").await;
    assert_eq!(
        body["status"], "expired",
        "the status explains what happened"
    );
    assert_eq!(body["warnings"], json!(["reauthorization_required"]));

    assert_eq!(
        location(&connect(&app, &sb, "acme", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    let tokens = TenantTokens::new(&app, tenant);
    assert!(app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
}

#[tokio::test]
async fn tokens_are_encrypted_with_kms_when_a_key_is_configured() {
    let aws = aws().await;
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
    let app = spawn_app_with_sandbox(&sb, &[("TOKEN_KMS_KEY_ID", key.as_str())]).await;
    assert!(app.vault.encrypts());
    connect(&app, &sb, "acme", first_company(&sb)).await;
    let tenant = TenantId::parse("acme").unwrap();

    let loaded = app.vault.load(&tenant).await.unwrap().unwrap();
    let access = secrecy::ExposeSecret::expose_secret(&loaded.access_token).to_owned();
    let refresh = secrecy::ExposeSecret::expose_secret(&loaded.refresh_token).to_owned();
    let sealed = app.vault.sealed_value(&tenant).await.unwrap().unwrap();
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
    let tokens = TenantTokens::new(&app, tenant);
    assert!(app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
}

#[tokio::test]
async fn a_refused_client_secret_does_not_expire_tenants() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;
    let stored = app.vault.load(&tenant).await.unwrap().unwrap();
    app.vault
        .store_new(
            &tenant,
            &stored.access_token,
            &stored.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // The same table, a service deployed with a wrong client secret.
    let mut wrong = app.clone();
    let broken = spawn_app_with_sandbox(&sb, &[("VISMA_CLIENT_SECRET", "rotated-wrongly")]).await;
    wrong.oauth = broken.oauth.clone();
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
    assert_eq!(status(&app, "acme").await["status"], "connected");
    // Fixed configuration: the same refresh token still works.
    let tokens = TenantTokens::new(&app, tenant);
    assert!(app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
}
