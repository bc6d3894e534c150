//! Customers without a number have no guard in Visma against a second copy: the creation
//! lease and the look-up after a lost answer make each one Visma customer.

use integration_tests::internals::{ItemStatus, RecordKind};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::json;
use visma_sandbox::{DropRule, Faults};

/// A create of a customer without a number whose answer was lost is found by the retry by
/// its name, as Visma keeps it (the first 50 characters), not created again.
#[tokio::test]
async fn a_lost_create_of_a_customer_with_a_long_name_and_no_number_is_found_by_the_retry() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    let name = "Långt Namn ".repeat(6);
    app.post_webhook(&invoice_event(
        "evt_1",
        invoice("inv_p", "2001", person("cus_p", name.trim())),
    ))
    .await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        1,
        "Visma committed it"
    );

    app.expire_claim(&tenant, RecordKind::Invoice, "inv_p")
        .await;
    app.redeliver_now(&report).await;
    app.drain_queue(5).await;
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_p").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
    assert_eq!(sb.count("POST", "/v2/customers"), 1);
}

/// The creation lease is the pushing item's: when its own create fails quickly (a 500) the
/// retry within the same invocation passes its lease, instead of waiting a minute for it.
#[tokio::test]
async fn a_customer_create_retried_at_once_is_not_held_up_by_its_own_lease() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    app.post_webhook(&invoice_event(
        "evt_1",
        invoice("inv_p", "2001", person("cus_p", "Anna Andersson")),
    ))
    .await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.done, report.returned.len()), (1, 0), "{report:?}");
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_p").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// A push that created a customer without a number but never learned it (a lost answer)
/// holds its lease past its end; another item's first push for that customer takes the lapsed
/// lease over, and looks the customer up by name before creating it.
#[tokio::test]
async fn a_lapsed_creation_lease_is_taken_over_with_a_look_up() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let anna = person("cus_p", "Anna Andersson");
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    app.post_webhook(&event(
        "evt_c",
        "customer.created",
        json!({"customer": anna.clone()}),
    ))
    .await;
    let lost = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!(lost.returned.len(), 1, "the answer was lost: {lost:?}");
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        1,
        "Visma created it"
    );
    // The lease lapses (its holder is still waiting out its claim).
    app.lapse_creation_lease("cus_p").await;

    app.post_webhook(&invoice_event("evt_i", invoice("inv_p", "2001", anna)))
        .await;
    internals::poll_once(&app, 0).await.unwrap();
    let invoice_item = app.item(&tenant, RecordKind::Invoice, "inv_p").await;
    assert_eq!(
        invoice_item.status,
        ItemStatus::Synced,
        "{:?}",
        invoice_item.last_error
    );
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        1,
        "found, not created again"
    );

    // The customer's own retry finds the link.
    app.expire_claim(&tenant, RecordKind::Customer, "cus_p")
        .await;
    app.redeliver_now(&lost).await;
    app.drain_queue(10).await;
    let customer_item = app.item(&tenant, RecordKind::Customer, "cus_p").await;
    assert_eq!(
        customer_item.status,
        ItemStatus::Synced,
        "{:?}",
        customer_item.last_error
    );
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// A live creation lease of another attempt (another item, or this item's earlier worker
/// whose claim has lapsed while it is still creating) holds this push back; once it lapses
/// the push looks the customer up, then creates it.
#[tokio::test]
async fn another_attempt_s_live_creation_lease_holds_a_push_back() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let lease = app
        .table
        .take_lease(
            &internals::keys::tenant_pk(&tenant),
            &internals::keys::customer_creation_sk("cus_p"),
            // An earlier worker's claim of this same item (whose claim has since lapsed).
            "customer#cus_p",
            chrono::Utc::now(),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    assert_eq!(lease, internals::Lease::Taken { after_other: false });
    app.post_webhook(&event(
        "evt_c",
        "customer.created",
        json!({"customer": person("cus_p", "Anna Andersson")}),
    ))
    .await;
    let held = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!(held.returned.len(), 1, "{held:?}");
    assert!(sb.customers(first_company(&sb)).is_empty());
    let waiting = app.item(&tenant, RecordKind::Customer, "cus_p").await;
    assert_eq!(waiting.status, ItemStatus::Pending);
    assert!(waiting
        .last_error
        .unwrap()
        .detail
        .unwrap()
        .contains("creating this customer"));

    // The earlier worker died: its lease lapses.
    app.lapse_creation_lease("cus_p").await;
    app.redeliver_now(&held).await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Customer, "cus_p").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// A customer without a number has no guard in Visma (a duplicate number is refused; a
/// missing one is not): its `customer.created` and its first invoice, pushed side by side in
/// one batch, still make one Visma customer (three rounds: the race is not certain each time).
#[tokio::test]
async fn a_customer_without_a_number_pushed_twice_at_once_is_created_once() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    for round in 1..=3 {
        let person = person(&format!("cus_p{round}"), &format!("Anna Andersson {round}"));
        app.post_webhook(&event(
            &format!("evt_c{round}"),
            "customer.created",
            json!({"customer": person.clone()}),
        ))
        .await;
        app.post_webhook(&invoice_event(
            &format!("evt_i{round}"),
            invoice(&format!("inv_p{round}"), &format!("20{round}"), person),
        ))
        .await;
        app.drain_queue(20).await;
        for (kind, id) in [
            (RecordKind::Customer, format!("cus_p{round}")),
            (RecordKind::Invoice, format!("inv_p{round}")),
        ] {
            let done = app.item(&tenant, kind, &id).await;
            assert_eq!(
                done.status,
                ItemStatus::Synced,
                "{id}: {:?}",
                done.last_error
            );
        }
        assert_eq!(
            sb.customers(first_company(&sb)).len(),
            round,
            "round {round}: one Visma customer per Aourly customer"
        );
    }
}
