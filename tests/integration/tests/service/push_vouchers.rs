//! Vouchers pushed to Visma: checked against the chart, tagged, and never pulled back to Aourly
//! (not even when the push's answer was lost).

use integration_tests::internals::{ItemStatus, RecordKind};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::json;
use visma_sandbox::{DropRule, Faults, Sandbox};

#[tokio::test]
async fn vouchers_are_pushed_checked_and_not_pulled_back() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let voucher = json!({"id": "vch_7", "date": today(), "text": "Utlägg tåg", "rows": [
        {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
        {"account": "2641", "debit": "48.00", "credit": "0", "text": "Moms 6%"},
        {"account": "1930", "debit": "0", "credit": "848.00", "text": null}]});
    app.post_webhook(&event(
        "evt_1",
        "voucher.created",
        json!({"voucher": voucher}),
    ))
    .await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Voucher, "vch_7").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let vouchers = sb.vouchers(first_company(&sb));
    let ours: Vec<_> = vouchers
        .iter()
        .filter(|v| {
            v["VoucherText"]
                .as_str()
                .unwrap()
                .contains("[Aourly vch_7]")
        })
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(
        synced.visma_number.as_deref(),
        ours[0]["NumberAndNumberSeries"].as_str()
    );

    // A voucher on an account Visma does not have waits for the owner, naming the account.
    let bad = json!({"id": "vch_8", "date": today(), "text": "Fel konto", "rows": [
        {"account": "9999", "debit": "100.00", "credit": "0", "text": null},
        {"account": "1930", "debit": "0", "credit": "100.00", "text": null}]});
    app.post_webhook(&event("evt_2", "voucher.created", json!({"voucher": bad})))
        .await;
    app.drain_queue(10).await;
    let blocked = app.item(&tenant, RecordKind::Voucher, "vch_8").await;
    assert_eq!(blocked.status, ItemStatus::Blocked);
    assert_eq!(blocked.last_error.as_ref().unwrap().code, "account_missing");
    assert!(blocked
        .last_error
        .as_ref()
        .unwrap()
        .detail
        .as_ref()
        .unwrap()
        .contains("9999"));

    // A pull that changes nothing leaves it alone (it would only block again).
    app.run_pull_job(&tenant).await;
    let still = app.item(&tenant, RecordKind::Voucher, "vch_8").await;
    assert_eq!(still.status, ItemStatus::Blocked);
    assert_eq!(
        still.version, blocked.version,
        "not resumed by an unchanged pull"
    );

    // Our own voucher is not handed back to Aourly by the next pull.
    internals::pull::run(&app, &tenant).await.unwrap();
    let pulled = app
        .get("/tenants/acme/visma/vouchers")
        .as_service("acme")
        .send()
        .await;
    assert_eq!(pulled.status, 200, "{}", pulled.text);
    assert!(!pulled.text.contains("[Aourly vch_7]"), "{}", pulled.text);
}

/// A voucher push whose answer was lost: Visma has the voucher, the push has not recorded its
/// id. A pull in that window recognises it by its tag and does not hand it to Aourly.
#[tokio::test]
async fn a_pushed_voucher_whose_answer_was_lost_is_not_pulled_back() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/vouchers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    let voucher = json!({"id": "vch_7", "date": today(), "text": "Utlägg tåg", "rows": [
        {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
        {"account": "1930", "debit": "0", "credit": "800.00", "text": null}]});
    app.post_webhook(&event(
        "evt_1",
        "voucher.created",
        json!({"voucher": voucher}),
    ))
    .await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    let in_visma = |sb: &Sandbox| {
        sb.vouchers(first_company(sb))
            .iter()
            .filter(|v| {
                v["VoucherText"]
                    .as_str()
                    .unwrap()
                    .ends_with("[Aourly vch_7]")
            })
            .count()
    };
    assert_eq!(in_visma(&sb), 1, "Visma committed it");

    let pulled = internals::pull::run(&app, &tenant).await.unwrap();
    assert_eq!(pulled.changes.vouchers_for_aourly, 0);
    let listed = app
        .get("/tenants/acme/visma/vouchers")
        .as_service("acme")
        .send()
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(!listed.text.contains("[Aourly vch_7]"), "{}", listed.text);

    // The retry finds it instead of posting it again.
    app.expire_claim(&tenant, RecordKind::Voucher, "vch_7")
        .await;
    app.redeliver_now(&report).await;
    app.drain_queue(5).await;
    assert_eq!(in_visma(&sb), 1);
    assert_eq!(
        app.item(&tenant, RecordKind::Voucher, "vch_7").await.status,
        ItemStatus::Synced
    );
}
