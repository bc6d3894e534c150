//! Visma's rate limit, shared by every worker through the pacer's budget in the table.

use integration_tests::internals::{ItemStatus, RecordKind};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn concurrent_workers_share_the_rate_budget_instead_of_meeting_429s() {
    let sb = sandbox().await;
    let (app, tenant) = ready_with(&sb, &[("VISMA_RATE_LIMIT", "10/2")]).await;
    sb.set_rate_limit(10, std::time::Duration::from_secs(2));
    // A known customer, so each invoice is one POST on the same route.
    app.post_webhook(&event(
        "evt_c",
        "customer.created",
        json!({"customer": customer("cus_1", "10042")}),
    ))
    .await;
    app.drain_queue(10).await;
    sb.clear_request_log();
    for n in 0..24 {
        app.post_webhook(&invoice_event(
            &format!("evt_{n}"),
            invoice(
                &format!("inv_{n}"),
                &format!("{}", 3000 + n),
                customer("cus_1", "10042"),
            ),
        ))
        .await;
    }
    let started = std::time::Instant::now();
    // Four workers, as four concurrent Lambdas would.
    let workers = (0..4).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                let report = internals::poll_once(&app, 0).await.unwrap();
                if report.received == 0 {
                    break;
                }
                for handle in &report.returned {
                    app.queue.change_visibility(handle, 0).await.unwrap();
                }
            }
        })
    });
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let synced = app
        .items()
        .all_with_status(&tenant, &[ItemStatus::Synced])
        .await
        .unwrap();
    assert_eq!(
        synced
            .iter()
            .filter(|i| i.kind == RecordKind::Invoice)
            .count(),
        24
    );
    let log = sb.request_log();
    let posts = log
        .iter()
        .filter(|r| r.route == "/v2/customerinvoices" && r.method == "POST")
        .count();
    let limited = log.iter().filter(|r| r.status == 429).count();
    println!(
        "24 invoices, 4 workers, 10 req/2 s: {posts} POSTs in {elapsed:?}, {limited} answered 429"
    );
    assert_eq!(
        limited, 0,
        "the shared pacer keeps every worker under the limit"
    );
    assert_eq!(posts, 24);
}

#[tokio::test]
async fn a_rate_budget_booked_beyond_the_longest_wait_sends_nothing_and_the_job_waits_its_turn() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    // GIVEN other workers have booked the invoice route's schedule an hour ahead
    let now_us = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap();
    let booked_until = now_us + 3_600_000_000;
    let schedule_key = (
        internals::keys::rate_pk(&app.config.visma_client_id),
        "POST /v2/customerinvoices".to_owned(),
    );
    app.table
        .client()
        .put_item()
        .table_name(app.table.name())
        .item("PK", AttributeValue::S(schedule_key.0.clone()))
        .item("SK", AttributeValue::S(schedule_key.1.clone()))
        .item("next_us", AttributeValue::N(booked_until.to_string()))
        .send()
        .await
        .unwrap();

    // WHEN an invoice for a known customer is pushed
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let report = internals::poll_once(&app, 1).await.unwrap();

    // THEN nothing reaches Visma, the item stays pending with the reason, and the job is hidden
    // until the schedule has room (about an hour less the longest wait), not retried at once
    assert_eq!((report.received, report.returned.len()), (1, 1));
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 0);
    let pending = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(pending.status, ItemStatus::Pending);
    let reason = pending.last_error.expect("the reason is recorded");
    assert!(
        reason
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("rate-limited"),
        "{reason:?}"
    );
    assert_eq!(internals::poll_once(&app, 1).await.unwrap().received, 0);

    // AND once the schedule has drained (the booking removed as if the hour had passed) the
    // job runs again and the invoice is booked once
    app.table
        .client()
        .delete_item()
        .table_name(app.table.name())
        .key("PK", AttributeValue::S(schedule_key.0))
        .key("SK", AttributeValue::S(schedule_key.1))
        .send()
        .await
        .unwrap();
    app.redeliver_now(&report).await;
    app.drain_queue(5).await;
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    assert_eq!(
        app.item(&tenant, RecordKind::Invoice, "inv_1").await.status,
        ItemStatus::Synced
    );
}
