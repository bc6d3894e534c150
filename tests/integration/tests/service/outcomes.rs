//! A push's outcome and its outbound event: the event is queued before the outcome is stored,
//! reported under one event id, and never contradicted on the queue's last receive.

use integration_tests::faults::RefuseFirst;
use integration_tests::internals::{ItemStatus, RecordKind};
use integration_tests::payloads::*;
use integration_tests::*;
use visma_sandbox::{DropRule, Faults};

/// The outcome's event is queued before the outcome is stored: when queuing it fails, the job
/// comes back and the event is still sent (once the outcome is stored, a redelivered job
/// skips the item and would never send it).
#[tokio::test]
async fn an_outcome_whose_event_could_not_be_queued_is_still_reported() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("visma.invoice.synced");
    let app = fault.on_queue(&plain).await;

    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!(report.returned.len(), 1, "the push comes back: {report:?}");
    assert_eq!(fault.refused(), 1);
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Pending,
        "not stored before its event"
    );
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    // The claim's lease ends; the retry finds the invoice in Visma and reports it.
    app.expire_claim(&tenant, RecordKind::Invoice, "inv_1")
        .await;
    app.redeliver_now(&report).await;
    let mut synced_events = 0;
    for _ in 0..10 {
        let messages = app.queue.receive(10, 0).await.unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let job: internals::SyncJob = serde_json::from_str(&message.body).unwrap();
            match job {
                internals::SyncJob::Emit { event } => {
                    if event.kind == internals::OutboundType::InvoiceSynced {
                        synced_events += 1;
                    }
                    app.queue.delete(&message.receipt_handle).await.unwrap();
                }
                _ => app
                    .queue
                    .change_visibility(&message.receipt_handle, 0)
                    .await
                    .unwrap(),
            }
        }
        internals::poll_once(&app, 0).await.unwrap();
    }
    assert_eq!(
        app.item(&tenant, RecordKind::Invoice, "inv_1").await.status,
        ItemStatus::Synced
    );
    assert_eq!(synced_events, 1, "visma.invoice.synced queued once");
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
}

/// A job on its last receive that finds another worker pushing the record (a second job for
/// the same item: a Retry click, a re-queue) leaves the outcome to that worker: it does not
/// mark the item `failed` a moment before it may be synced.
#[tokio::test]
async fn a_last_receive_that_finds_another_worker_pushing_does_not_mark_it_failed() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let items = app.items();
    let held = items
        .claim(
            &tenant,
            RecordKind::Invoice,
            "inv_1",
            "another-worker",
            chrono::Utc::now(),
            internals::push::CLAIM_LEASE,
        )
        .await
        .unwrap();
    assert!(matches!(held, internals::Claim::Claimed { .. }));
    // Four receives that did nothing (workers that died), then the worker's: the fifth, the
    // queue's last.
    app.use_up_receives(4).await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Pending,
        "{:?}",
        waiting.last_error
    );

    // The holder's own job carries on (here: its lease ends and its job is delivered again).
    app.expire_claim(&tenant, RecordKind::Invoice, "inv_1")
        .await;
    app.queue_push(&tenant, RecordKind::Invoice, "inv_1").await;
    app.drain_queue(10).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
}

/// The outcome's event went out but storing the outcome failed: the retry reports the
/// invoice again, under the same event id, so Aourly can tell it is the same fact.
#[tokio::test]
async fn an_invoice_reported_twice_carries_one_event_id() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("REMOVE in_flight_owner");
    let app = fault.on_table(&plain).await;
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!(report.returned.len(), 1, "{report:?}");
    assert_eq!(fault.refused(), 1);

    app.expire_claim(&tenant, RecordKind::Invoice, "inv_1")
        .await;
    app.redeliver_now(&report).await;
    let mut synced_ids = Vec::new();
    for _ in 0..10 {
        let messages = app.queue.receive(10, 0).await.unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            match serde_json::from_str(&message.body).unwrap() {
                internals::SyncJob::Emit { event } => {
                    if event.kind == internals::OutboundType::InvoiceSynced {
                        synced_ids.push(event.id);
                    }
                    app.queue.delete(&message.receipt_handle).await.unwrap();
                }
                _ => app
                    .queue
                    .change_visibility(&message.receipt_handle, 0)
                    .await
                    .unwrap(),
            }
        }
        internals::poll_once(&app, 0).await.unwrap();
    }
    app.assert_1042_synced_once(&sb, &tenant).await;
    assert_eq!(
        synced_ids.len(),
        2,
        "reported by both attempts: {synced_ids:?}"
    );
    assert_eq!(synced_ids[0], synced_ids[1]);
}

/// On the queue's last receive, an outcome already reported to Aourly but not stored (the
/// store write failed) leaves the item pending for the re-queue: it is not marked failed, and
/// Aourly hears no `visma.item.failed` after its `visma.invoice.synced`.
#[tokio::test]
async fn a_reported_outcome_is_not_contradicted_on_the_last_receive() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("REMOVE in_flight_owner");
    let app = fault.on_table(&plain).await;
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    app.use_up_receives(4).await;
    internals::poll_once(&app, 0).await.unwrap();
    assert_eq!(fault.refused(), 1);
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    let pending = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        pending.status,
        ItemStatus::Pending,
        "{:?}",
        pending.last_error
    );
    let mut kinds = Vec::new();
    while let Some(m) = app.first_message().await {
        if let internals::SyncJob::Emit { event } = serde_json::from_str(&m.body).unwrap() {
            kinds.push(event.kind);
        }
        app.queue.delete(&m.receipt_handle).await.unwrap();
    }
    assert_eq!(kinds, vec![internals::OutboundType::InvoiceSynced]);
}

/// On the queue's last receive the item is marked failed, and `visma.item.failed` is queued
/// first: if that send fails the item stays pending (the hourly re-queue of stale pending
/// items, or the owner's Retry, takes it again) rather than failed without a word to Aourly.
#[tokio::test]
async fn a_failure_on_the_last_receive_is_not_stored_without_its_event() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("visma.item.failed");
    let app = fault.on_queue(&plain).await;
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1000,
        }],
        ..Faults::default()
    });
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    // Each poll: the pull's events are rescheduled, the push fails and comes back.
    app.drain_queue(20).await;
    assert_eq!(fault.refused(), 1);
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Pending,
        "{:?}",
        waiting.last_error
    );

    // Visma is back; the owner retries (or the hourly re-queue does).
    sb.set_faults(Faults::default());
    let retry = app
        .post("/tenants/acme/visma/sync-items/invoice/inv_1/retry")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    app.drain_queue(20).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
}
