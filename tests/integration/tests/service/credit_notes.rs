//! Credit notes: pushed after the invoice they credit, naming its Visma number, and waiting
//! (blocked, not failed) while that invoice is not in Visma yet.

use integration_tests::internals::{ItemStatus, RecordKind};
use integration_tests::payloads::*;
use integration_tests::*;

#[tokio::test]
async fn a_credit_note_names_the_credited_visma_invoice() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    app.drain_queue(10).await;
    let original = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    app.post_webhook(&credit_note("inv_1c", "1043", "inv_1"))
        .await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_1c").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let booked = sb.customer_invoices(first_company(&sb));
    let credit = booked
        .iter()
        .find(|i| i["BuyersOrderReference"] == "Aourly 1043")
        .unwrap();
    assert_eq!(credit["IsCreditInvoice"], true);
    assert_eq!(credit["TotalAmount"].to_string(), "-14843.75");
    let named = format!("Kreditering av faktura {}", original.visma_number.unwrap());
    assert_eq!(credit["OurReference"], named.as_str());
}

/// A credit note whose invoice is still queued when the queue gives up on it waits blocked
/// (`original_invoice_missing`), not failed, and the pull after the invoice is synced resumes
/// it; so does one that arrived before its invoice.
#[tokio::test]
async fn a_credit_note_waits_for_its_invoice_and_follows_it() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;

    // The invoice is accepted; its job sits far back in a long backlog (taken out here).
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let backlog = app.queue.receive(10, 0).await.unwrap();
    assert_eq!(backlog.len(), 1);
    app.queue.delete(&backlog[0].receipt_handle).await.unwrap();
    // Its credit note's job runs out of receives while the invoice is still pending.
    app.post_webhook(&credit_note("inv_1c", "1043", "inv_1"))
        .await;
    app.use_up_receives(4).await;
    internals::poll_once(&app, 0).await.unwrap();
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1c").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Blocked,
        "{:?}",
        waiting.last_error
    );
    assert_eq!(waiting.last_error.unwrap().code, "original_invoice_missing");

    // A credit note for an invoice Aourly has not sent yet waits the same way.
    app.post_webhook(&credit_note("inv_2c", "1045", "inv_2"))
        .await;
    app.drain_queue(10).await;
    let early = app.item(&tenant, RecordKind::Invoice, "inv_2c").await;
    assert_eq!(early.status, ItemStatus::Blocked);
    assert_eq!(early.last_error.unwrap().code, "original_invoice_missing");

    // A pull while the invoices are not synced leaves both waiting.
    app.run_pull_job(&tenant).await;
    for id in ["inv_1c", "inv_2c"] {
        let still = app.item(&tenant, RecordKind::Invoice, id).await;
        assert_eq!(still.status, ItemStatus::Blocked, "{id}");
    }

    // The invoices reach Visma; the next pull sends the credit notes after them.
    app.queue_push(&tenant, RecordKind::Invoice, "inv_1").await;
    app.post_webhook(&invoice_event(
        "evt_2",
        invoice("inv_2", "1044", customer("cus_1", "10042")),
    ))
    .await;
    app.drain_queue(10).await;
    app.run_pull_job(&tenant).await;
    let booked = sb.customer_invoices(first_company(&sb));
    for (credit_id, credit_number, original_id) in
        [("inv_1c", "1043", "inv_1"), ("inv_2c", "1045", "inv_2")]
    {
        let synced = app.item(&tenant, RecordKind::Invoice, credit_id).await;
        assert_eq!(
            synced.status,
            ItemStatus::Synced,
            "{credit_id}: {:?}",
            synced.last_error
        );
        let original = app.item(&tenant, RecordKind::Invoice, original_id).await;
        let credit = booked
            .iter()
            .find(|i| i["BuyersOrderReference"] == format!("Aourly {credit_number}"))
            .unwrap();
        let named = format!("Kreditering av faktura {}", original.visma_number.unwrap());
        assert_eq!(credit["OurReference"], named.as_str());
        assert_eq!(
            invoices_with_reference(&sb, &format!("Aourly {credit_number}")),
            1
        );
    }
}
