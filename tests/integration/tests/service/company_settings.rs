//! The Visma company's plan and booking settings: read at connect and on every pull, kept with
//! the connection, shown in the status body.

use integration_tests::internals;
use integration_tests::*;
use serde_json::json;

use super::connection::{connect, location, status};

#[tokio::test]
async fn the_status_shows_the_plan_and_settings_read_at_connect() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let company = first_company(&sb);
    // GIVEN a company that rounds to whole kronor and shows private persons' prices incl. VAT
    sb.set_company_settings(
        company,
        json!({"ShowPricesExclVatPC": false, "DomesticCurrencyRounding": 1}),
    );
    // WHEN the owner connects
    let back = connect(&app, &sb, "acme", company).await;
    assert!(
        location(&back).contains("visma=connected"),
        "{}",
        location(&back)
    );
    // THEN the status names the plan and the settings as Visma reported them
    let body = status(&app, "acme").await;
    let visma = &body["visma_company"];
    assert_eq!(visma["plan"], "pro", "{body}");
    assert_eq!(
        visma["settings"],
        json!({
            "prices_include_vat_for_private_persons": true,
            "rounds_to_whole_kronor": true,
            "uses_reverse_construction_vat": false,
            "uses_rot_rut": false,
            "accounting_locked_to": null
        })
    );
}

#[tokio::test]
async fn a_plan_or_setting_changed_in_visma_shows_after_the_next_pull() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let before = status(&app, tenant.as_str()).await;
    assert_eq!(before["visma_company"]["plan"], "pro", "{before}");
    // GIVEN the company moved to the bookkeeping plan and turned on ROT/RUT in Visma
    sb.set_company_settings(
        first_company(&sb),
        json!({"ProductVariant": 3, "UsesRotReducedInvoicing": true, "AccountingLockedTo": "2026-06-30T00:00:00"}),
    );
    // WHEN the next pull runs
    app.run_pull_job(&tenant).await;
    // THEN the status shows the new plan and settings, and the pull is recorded
    let after = status(&app, tenant.as_str()).await;
    let visma = &after["visma_company"];
    assert_eq!(visma["plan"], "bookkeeping", "{after}");
    assert_eq!(visma["settings"]["uses_rot_rut"], true);
    assert_eq!(visma["settings"]["accounting_locked_to"], "2026-06-30");
    assert_eq!(visma["name"], before["visma_company"]["name"]);
    assert_eq!(after["last_sync_result"], "ok");
}

#[tokio::test]
async fn a_pull_that_cannot_read_the_settings_fails_and_keeps_the_last_ones() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    // GIVEN Visma fails every read of the company settings (more than the client's retries)
    sb.set_faults(visma_sandbox::Faults {
        server_error_on: vec![visma_sandbox::DropRule {
            method: "GET".into(),
            route: "/v2/companysettings".into(),
            times: 10,
        }],
        ..Default::default()
    });
    let report = internals::pull::run(&app, &tenant).await;
    assert!(
        report.as_ref().is_err_and(|e| e.is_retryable()),
        "a Visma 500 on the settings fails the pull for a retry: {report:?}"
    );
    let after = status(&app, tenant.as_str()).await;
    assert_eq!(after["last_sync_result"], "failed");
    assert_eq!(
        after["visma_company"]["plan"], "pro",
        "the settings read at connect stay"
    );
}

#[tokio::test]
async fn an_invoicing_plan_company_blocks_a_voucher_before_any_visma_call() {
    let sb = sandbox().await;
    // GIVEN a company on Visma's Invoicing plan (no manual vouchers), connected and pulled
    sb.set_company_settings(first_company(&sb), json!({"ProductVariant": 2}));
    let (app, tenant) = ready(&sb).await;
    assert_eq!(
        status(&app, tenant.as_str()).await["visma_company"]["plan"],
        "invoicing"
    );
    sb.clear_request_log();
    // WHEN Aourly sends a voucher
    let answer = app
        .post_webhook(&payloads::voucher_event(
            "evt_v1",
            payloads::voucher("vch_7"),
        ))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    app.drain_queue(10).await;
    // THEN it is blocked with the plan's code, and Visma was never asked
    let item = app
        .item(&tenant, internals::RecordKind::Voucher, "vch_7")
        .await;
    assert_eq!(item.status, internals::ItemStatus::Blocked);
    assert_eq!(item.last_error.unwrap().code, "visma_plan_no_vouchers");
    assert!(
        sb.request_log()
            .iter()
            .all(|r| !r.path.starts_with("/v2/vouchers")),
        "no voucher request reached Visma: {:?}",
        sb.request_log()
    );
}
