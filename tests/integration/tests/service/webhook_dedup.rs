//! `POST /webhooks/aourly` de-duplication (integration guide "Webhooks from Aourly"): what an accepted event leaves in the
//! table and on the queue, and what a repeated, late, raced or half-done delivery does.

use integration_tests::faults::with_missing_queue;
use integration_tests::internals::{self, ItemStatus, RecordKind, SyncItems};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::{json, Value};

use super::webhook::{connected, post};

#[tokio::test]
async fn an_invoice_is_stored_pending_and_its_push_job_queued() {
    let (_sb, app, tenant) = connected("acme").await;

    let answer = post(&app, &november_invoice_event("evt_1", "acme", "inv_123")).await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"event_id": "evt_1", "status": "queued"})
    );
    let items = app.items();
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_123")
        .await
        .unwrap()
        .expect("the sync item");
    assert_eq!(item.status, ItemStatus::Pending);
    assert_eq!(item.attempts, 0);
    assert_eq!(item.event_id, "evt_1");
    assert_eq!(item.version, 1);
    assert_eq!(item.in_flight_owner, None);
    // The stored payload is the parsed event, readable by the worker.
    let stored = item.event().unwrap();
    assert_eq!(stored.data().record_id().as_str(), "inv_123");
    assert_eq!(stored.id().as_str(), "evt_1");
    // The send is not recorded: the marker keeps the sending lease, so a duplicate within it
    // sends nothing.
    let marker = items.event(&tenant, "evt_1").await.unwrap().unwrap();
    assert!(!marker.queued);
    assert!(marker.sending_until.unwrap() > chrono::Utc::now().timestamp_millis());
    assert_eq!(
        app.drain_jobs().await,
        [push_job(&tenant, RecordKind::Invoice, "inv_123")]
    );

    // The same event again is a duplicate and queues nothing.
    let again = post(&app, &november_invoice_event("evt_1", "acme", "inv_123")).await;
    assert_eq!(again.status, 202);
    assert_eq!(
        again.body,
        json!({"event_id": "evt_1", "status": "duplicate"})
    );
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn the_same_event_delivered_three_times_at_once_is_stored_and_queued_once() {
    let (_sb, app, tenant) = connected("acme").await;
    let e = november_invoice_event("evt_race", "acme", "inv_race");

    let (a, b, c) = tokio::join!(post(&app, &e), post(&app, &e), post(&app, &e));

    let mut statuses: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|x| {
            assert_eq!(x.status, 202, "{}", x.body);
            x.body["status"].as_str().unwrap().to_owned()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "duplicate", "queued"]);
    let mut keys = app.event_and_item_keys().await;
    keys.sort();
    assert_eq!(keys, ["EVENT#evt_race", "ITEM#invoice#inv_race"]);
    assert_eq!(
        app.drain_jobs().await,
        [push_job(&tenant, RecordKind::Invoice, "inv_race")]
    );
}

#[tokio::test]
async fn a_failed_queue_send_answers_503_and_the_retry_queues_the_job() {
    let (_sb, app, tenant) = connected("acme").await;
    let broken = with_missing_queue(&app);
    let e = november_invoice_event("evt_q", "acme", "inv_q");

    let first = post(&broken, &e).await;

    assert_eq!(first.status, 503, "{}", first.body);
    let items = app.items();
    let marker = items.event(&tenant, "evt_q").await.unwrap().unwrap();
    assert!(!marker.queued);
    assert_eq!(marker.sending_until, None, "the lease is released");
    assert!(app.drain_jobs().await.is_empty());

    // Aourly retries; the queue works again.
    let retry = post(&app, &e).await;
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(retry.body, json!({"event_id": "evt_q", "status": "queued"}));
    let marker = items.event(&tenant, "evt_q").await.unwrap().unwrap();
    assert!(marker.sending_until.unwrap() > chrono::Utc::now().timestamp_millis());
    assert_eq!(
        app.drain_jobs().await,
        [push_job(&tenant, RecordKind::Invoice, "inv_q")]
    );
    // Later deliveries are plain duplicates.
    let third = post(&app, &e).await;
    assert_eq!(third.body["status"], "duplicate");
    assert!(app.drain_jobs().await.is_empty());
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_q")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.status, item.version), (ItemStatus::Pending, 1));
}

#[tokio::test]
async fn a_customer_update_resets_a_synced_customer_but_an_older_one_is_ignored() {
    let (_sb, app, tenant) = connected("acme").await;
    let items = app.items();
    let created = event_at(
        "evt_c1",
        "customer.created",
        "acme",
        "2026-11-23T10:00:00Z",
        json!({"customer": named_customer("cus_9", "Exempel Bygg AB")}),
    );
    assert_eq!(post(&app, &created).await.status, 202);
    app.drain_jobs().await;
    // The worker pushed it.
    let item = items
        .get(&tenant, RecordKind::Customer, "cus_9")
        .await
        .unwrap()
        .unwrap();
    let internals::Claim::Claimed { item, .. } = items
        .claim(
            &tenant,
            RecordKind::Customer,
            "cus_9",
            "worker-1",
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap()
    else {
        panic!("claim {item:?}")
    };
    let finish = internals::Finish {
        status: ItemStatus::Synced,
        visma_id: Some("vc-1".into()),
        visma_number: Some("10042".into()),
        last_error: None,
    };
    assert_eq!(
        items
            .finish(&item, &finish, chrono::Utc::now())
            .await
            .unwrap(),
        internals::Finished::Applied
    );

    let updated = event_at(
        "evt_c2",
        "customer.updated",
        "acme",
        "2026-11-24T10:00:00Z",
        json!({"customer": named_customer("cus_9", "Exempel Bygg & Måleri AB")}),
    );
    let answer = post(&app, &updated).await;

    assert_eq!(
        answer.body,
        json!({"event_id": "evt_c2", "status": "queued"})
    );
    let item = items
        .get(&tenant, RecordKind::Customer, "cus_9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Pending);
    assert_eq!(item.visma_id.as_deref(), Some("vc-1"), "the link is kept");
    assert_eq!(item.event_id, "evt_c2");
    assert_eq!(item.attempts, 0);
    assert!(item.payload.contains("Måleri"));
    assert_eq!(
        app.drain_jobs().await,
        [push_job(&tenant, RecordKind::Customer, "cus_9")]
    );

    // An update created before the stored one (delivered late) changes nothing.
    let late = event_at(
        "evt_c0",
        "customer.updated",
        "acme",
        "2026-11-23T12:00:00Z",
        json!({"customer": named_customer("cus_9", "Old Name AB")}),
    );
    let answer = post(&app, &late).await;
    assert_eq!(
        answer.body,
        json!({"event_id": "evt_c0", "status": "duplicate"})
    );
    let after = items
        .get(&tenant, RecordKind::Customer, "cus_9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, item);
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn a_second_create_of_a_synced_invoice_is_acknowledged_and_ignored() {
    let (_sb, app, tenant) = connected("acme").await;
    let items = app.items();
    assert_eq!(
        post(&app, &november_invoice_event("evt_1", "acme", "inv_1"))
            .await
            .status,
        202
    );
    app.drain_jobs().await;
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    let synced = items
        .set_status(&item, ItemStatus::Synced, None, chrono::Utc::now())
        .await
        .unwrap();

    let answer = post(&app, &november_invoice_event("evt_2", "acme", "inv_1")).await;

    assert_eq!(answer.status, 202);
    assert_eq!(
        answer.body,
        json!({"event_id": "evt_2", "status": "duplicate"})
    );
    let after = items
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, synced, "the synced invoice is untouched");
    assert_eq!(after.event_id, "evt_1");
    let marker = items.event(&tenant, "evt_2").await.unwrap().unwrap();
    assert_eq!(marker.outcome, "ignored");
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn a_credit_note_is_an_invoice_item_under_its_own_id() {
    let (_sb, app, tenant) = connected("acme").await;
    let mut credit = november_invoice("inv_124");
    credit["lines"][0]["quantity"] = json!("-12.5");
    credit["totals"] = json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    let e = event_at(
        "evt_cr",
        "invoice.credited",
        "acme",
        "2026-11-25T10:00:00Z",
        json!({"invoice": credit, "credits_invoice_id": "inv_123"}),
    );

    let answer = post(&app, &e).await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    let item = app
        .items()
        .get(&tenant, RecordKind::Invoice, "inv_124")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.event_type, internals::EventKind::InvoiceCredited);
    assert!(matches!(
        item.event().unwrap().data(),
        internals::EventData::InvoiceCredited { credits_invoice_id, .. } if credits_invoice_id.as_str() == "inv_123"
    ));
    assert_eq!(
        app.drain_jobs().await,
        [push_job(&tenant, RecordKind::Invoice, "inv_124")]
    );
}

/// Stores `body`'s event and item as a delivery that died before sending its job would have
/// left them, with the sending lease already lapsed.
async fn stored_with_lapsed_lease(app: &TestApp, body: &Value) -> SyncItems {
    let event = internals::parse_event(&serde_json::to_vec(body).unwrap()).unwrap();
    let items = app.items();
    let stored_at =
        chrono::Utc::now() - internals::webhook::SEND_LEASE - chrono::Duration::seconds(1);
    let item = internals::SyncItem::new(&event, ItemStatus::Pending, None, stored_at).unwrap();
    let marker = internals::EventMarker::new(
        &event,
        "stored",
        true,
        stored_at,
        internals::webhook::SEND_LEASE,
    );
    items
        .record_event(&marker, &internals::ItemWrite::Create(Box::new(item)))
        .await
        .unwrap();
    items
}

/// A delivery that stored its event and died before sending the job (a crash, a timeout): the
/// sending lease lapses, and Aourly's retry sends the job. Nothing is lost; the answer is
/// `duplicate` (a lapsed lease looks the same as a delivery that did send), and a second job
/// for an invoice already pushed would cost the worker one read.
#[tokio::test]
async fn a_delivery_that_died_before_sending_is_queued_by_the_retry_after_the_lease() {
    let (_sb, app, tenant) = connected("acme").await;
    let body = november_invoice_event("evt_died", "acme", "inv_died");
    stored_with_lapsed_lease(&app, &body).await;
    assert!(app.drain_jobs().await.is_empty(), "the job was never sent");

    let retry = post(&app, &body).await;

    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(
        retry.body,
        json!({"event_id": "evt_died", "status": "duplicate"})
    );
    assert_eq!(
        app.drain_jobs().await,
        [push_job(&tenant, RecordKind::Invoice, "inv_died")]
    );
    // Within the new lease, further deliveries send nothing.
    let again = post(&app, &body).await;
    assert_eq!(again.body["status"], "duplicate");
    assert!(app.drain_jobs().await.is_empty());
}

/// A duplicate after the lease whose defensive re-send fails still answers `duplicate`, not
/// 503 (the event was accepted before; integration guide "Webhooks from Aourly"); the schedule's sweep of stale pending
/// items (`internals::resume::requeue_stale_pending`) is what covers a job lost that way.
#[tokio::test]
async fn a_late_duplicate_whose_resend_fails_is_still_a_duplicate() {
    let (_sb, app, tenant) = connected("acme").await;
    let body = november_invoice_event("evt_late", "acme", "inv_late");
    let items = stored_with_lapsed_lease(&app, &body).await;
    let broken = with_missing_queue(&app);

    let late = post(&broken, &body).await;

    assert_eq!(late.status, 202, "{}", late.body);
    assert_eq!(
        late.body,
        json!({"event_id": "evt_late", "status": "duplicate"})
    );
    assert!(app.drain_jobs().await.is_empty());
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Pending, "left to the sweep");
}
