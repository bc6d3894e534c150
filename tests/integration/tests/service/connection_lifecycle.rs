//! Reconnect, disconnect and who may hold a Visma company: one accounting system per
//! company, one tenant per Visma company, and the outbound events of a connection.

use integration_tests::internals::{self, tokens::TenantTokens, ConnectionStatus, TenantId};
use integration_tests::*;
use serde_json::json;

use super::connection::{connect, location, status, RETURN_URL};

#[tokio::test]
async fn reconnecting_to_another_company_needs_a_disconnect_first() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let companies = sb.companies();
    connect(&app, &sb, "acme", companies[0].id).await;

    let answer = connect(&app, &sb, "acme", companies[1].id).await;
    assert_eq!(
        location(&answer),
        format!("{RETURN_URL}?visma=error&reason=different_visma_company")
    );
    assert_eq!(
        status(&app, "acme").await["visma_company"]["name"],
        "Exempel AB"
    );

    let answer = app
        .delete("/tenants/acme/visma")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(answer.status, 204);
    let answer = connect(&app, &sb, "acme", companies[1].id).await;
    assert_eq!(location(&answer), format!("{RETURN_URL}?visma=connected"));
    assert_eq!(
        status(&app, "acme").await["visma_company"]["name"],
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
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    app.table
        .put(&OtherClaim {
            pk: internals::keys::tenant_pk(&tenant),
            sk: internals::keys::accounting_system_sk().into(),
            system: "fortnox".into(),
            claimed_at: chrono::Utc::now().to_rfc3339(),
            claimed_by: "user-9".into(),
        })
        .await
        .unwrap();
    let answer = app
        .post("/tenants/acme/visma/connect")
        .as_owner("acme")
        .json(json!({"return_url": RETURN_URL}))
        .send()
        .await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["code"], "accounting_system_conflict");

    // Fortnox lets go; Visma connects and holds the claim; disconnect releases it.
    app.table
        .delete(
            &internals::keys::tenant_pk(&tenant),
            internals::keys::accounting_system_sk(),
        )
        .await
        .unwrap();
    connect(&app, &sb, "acme", first_company(&sb)).await;
    assert_eq!(
        app.claims.holder(&tenant).await.unwrap().as_deref(),
        Some("visma")
    );
    app.delete("/tenants/acme/visma")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(app.claims.holder(&tenant).await.unwrap(), None);
}

#[tokio::test]
async fn disconnect_revokes_deletes_tokens_and_stops_syncing() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    connect(&app, &sb, "acme", first_company(&sb)).await;
    let tenant = TenantId::parse("acme").unwrap();
    let stored = app.vault.load(&tenant).await.unwrap().unwrap();

    let answer = app
        .delete("/tenants/acme/visma")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(answer.status, 204);
    assert!(
        app.vault.load(&tenant).await.unwrap().is_none(),
        "token material deleted"
    );
    assert!(
        app.oauth.refresh(&stored.refresh_token).await.is_err(),
        "revoked at Visma"
    );
    let body = status(&app, "acme").await;
    assert_eq!(body["status"], "disconnected");
    assert_eq!(
        body["visma_company"]["name"], "Exempel AB",
        "history is kept"
    );

    // Out of the schedule's index.
    let report = internals::functions::handle_tick(&app, internals::functions::schedule_event())
        .await
        .unwrap();
    assert_eq!(report.tenants_queued, 0);
    // Disconnecting again is fine.
    let again = app
        .delete("/tenants/acme/visma")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(again.status, 204);
    assert_eq!(
        app.connections.get(&tenant).await.unwrap().unwrap().status,
        ConnectionStatus::Disconnected
    );
}

#[tokio::test]
async fn connecting_and_expiring_raise_outbound_events() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(
        &sb,
        &[
            ("AOURLY_EVENTS_URL", "http://127.0.0.1:9/events"),
            ("AOURLY_EVENTS_SECRET", "s"),
        ],
    )
    .await;
    connect(&app, &sb, "acme", first_company(&sb)).await;
    sb.revoke_all_tokens();
    let tokens = TenantTokens::new(&app, TenantId::parse("acme").unwrap());
    assert!(app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_err());
    // A second worker hitting the same wall does not raise the event again.
    let tokens = TenantTokens::new(&app, TenantId::parse("acme").unwrap());
    assert!(app
        .visma
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_err());

    let mut kinds = Vec::new();
    loop {
        let got = app.queue.receive(10, 1).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            if let internals::SyncJob::Emit { event } = serde_json::from_str(&m.body).unwrap() {
                kinds.push(
                    serde_json::to_value(event.kind)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            app.queue.delete(&m.receipt_handle).await.unwrap();
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
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    assert_eq!(
        location(&connect(&app, &sb, "first", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    let second = connect(&app, &sb, "second", company).await;
    assert_eq!(
        location(&second),
        format!("{RETURN_URL}?visma=error&reason=visma_company_in_use")
    );
    assert_eq!(status(&app, "second").await["status"], "not_connected");
    // The same tenant reconnecting to its own company is fine.
    assert_eq!(
        location(&connect(&app, &sb, "first", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
    // Once the first disconnects, the company is free.
    app.delete("/tenants/first/visma")
        .as_owner("first")
        .send()
        .await;
    assert_eq!(
        location(&connect(&app, &sb, "second", company).await),
        format!("{RETURN_URL}?visma=connected")
    );
}
