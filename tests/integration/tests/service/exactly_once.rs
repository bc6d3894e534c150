//! Each record reaches Visma at most once whatever fails on the way: duplicate deliveries,
//! racing workers, answers lost after Visma committed, crashes, gateway timeouts, flaky Visma,
//! poison messages.

use integration_tests::internals::{ItemStatus, RecordKind};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::json;
use visma_sandbox::{DropRule, Faults};

#[tokio::test]
async fn the_same_event_delivered_three_times_at_once_is_one_invoice() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let body = invoice_event("evt_1", invoice_1042());
    let (a, b, c) = tokio::join!(
        app.post_webhook(&body),
        app.post_webhook(&body),
        app.post_webhook(&body)
    );
    let mut statuses = vec![
        a.body["status"].clone(),
        b.body["status"].clone(),
        c.body["status"].clone(),
    ];
    statuses.sort_by_key(|s| s.to_string());
    assert_eq!(
        statuses,
        [json!("duplicate"), json!("duplicate"), json!("queued")]
    );
    // And three workers racing on the same record (a duplicate SQS delivery).
    let (x, y, z) = tokio::join!(
        internals::push::run(&app, &tenant, RecordKind::Invoice, "inv_1"),
        internals::push::run(&app, &tenant, RecordKind::Invoice, "inv_1"),
        internals::push::run(&app, &tenant, RecordKind::Invoice, "inv_1"),
    );
    let synced = [&x, &y, &z]
        .iter()
        .filter(|r| matches!(r, Ok(internals::push::PushOutcome::Synced { .. })))
        .count();
    assert_eq!(synced, 1, "{x:?} {y:?} {z:?}");
    app.drain_queue(10).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
}

#[tokio::test]
async fn a_dropped_connection_after_visma_committed_still_gives_one_invoice() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    // First attempt: Visma booked it, the answer never came. The claim is kept.
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    let pending = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(pending.status, ItemStatus::Pending);
    assert!(
        pending.in_flight_owner.is_some(),
        "an uncertain outcome keeps the claim"
    );

    // The lease runs out; the retry looks the invoice up instead of booking it again.
    app.expire_claim(&tenant, RecordKind::Invoice, "inv_1")
        .await;
    app.redeliver_now(&report).await;
    app.drain_queue(5).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        synced.visma_id.as_deref(),
        sb.customer_invoices(first_company(&sb))[0]["Id"].as_str()
    );
}

#[tokio::test]
async fn a_crash_between_the_visma_call_and_the_table_write_gives_no_duplicate() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    // A worker claims the item and books the invoice in Visma, then dies before writing back:
    // run it to completion, then put the item back as the crash would have left it.
    let items = app.items();
    let internals::Claim::Claimed { .. } = items
        .claim(
            &tenant,
            RecordKind::Invoice,
            "inv_1",
            "crashed-worker",
            chrono::Utc::now(),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap()
    else {
        panic!("claim");
    };
    // What the crashed worker sent (same body shape as the pipeline's).
    let crashed = app.clone();
    let customer_id = {
        let tokens = internals::tokens::TenantTokens::new(&crashed, tenant.clone());
        let api = crashed.visma.connect(&tokens);
        let terms = api
            .terms_of_payment()
            .list_all(&visma::ListQuery::new())
            .await
            .unwrap()
            .items[0]
            .id;
        let mut c = visma::models::Customer::new("Kund 10042 AB", terms);
        c.customer_number = Some("10042".into());
        c.invoice_city = Some("Stockholm".into());
        c.invoice_postal_code = Some("11122".into());
        c.is_active = true;
        api.customers().create(&c).await.unwrap().id.unwrap()
    };
    let mapping = internals::mapping::current(&app, &tenant)
        .await
        .unwrap()
        .unwrap();
    let article = mapping
        .entry_for_rate(internals::VatRate::TwentyFive)
        .unwrap()
        .article_id
        .clone()
        .unwrap();
    {
        let tokens = internals::tokens::TenantTokens::new(&crashed, tenant.clone());
        let api = crashed.visma.connect(&tokens);
        let mut inv = visma::models::CustomerInvoice::new(
            customer_id,
            vec![visma::models::CustomerInvoiceRow {
                article_id: Some(visma::models::ArticleId::new(
                    uuid::Uuid::parse_str(&article).unwrap(),
                )),
                quantity: Some("12.5".parse().unwrap()),
                unit_price: Some("950.00".parse().unwrap()),
                ..Default::default()
            }],
        );
        inv.buyers_order_reference = Some("Aourly 1042".into());
        api.customer_invoices().create(&inv).await.unwrap();
    }
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    // The claim expires; the queued job runs again.
    app.expire_claim(&tenant, RecordKind::Invoice, "inv_1")
        .await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(
        invoices_with_reference(&sb, "Aourly 1042"),
        1,
        "no duplicate"
    );
}

/// A gateway in front of Visma answers 504 while the create behind it still goes through, a
/// second later: the push treats the outcome as unknown (claim kept, no quick retry) and the
/// retry after the lease finds the invoice instead of booking it again.
#[tokio::test]
async fn a_gateway_timeout_on_a_create_that_went_through_gives_one_invoice() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        gateway_timeout_then_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    let pending = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert!(
        pending.in_flight_owner.is_some(),
        "an unknown outcome keeps the claim"
    );
    // Visma books it a moment after the gateway gave up.
    let deadline = std::time::Instant::now()
        + visma_sandbox::server::GATEWAY_COMMIT_DELAY
        + std::time::Duration::from_secs(10);
    while invoices_with_reference(&sb, "Aourly 1042") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Visma never booked it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    app.expire_claim(&tenant, RecordKind::Invoice, "inv_1")
        .await;
    app.redeliver_now(&report).await;
    app.drain_queue(5).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
}

#[tokio::test]
async fn flaky_visma_and_a_tight_rate_limit_still_sync_fifty_invoices_once_each() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        server_error_rate_percent: 30,
        ..Faults::default()
    });
    sb.set_rate_limit(10, std::time::Duration::from_secs(2));
    for n in 0..50 {
        let answer = app
            .post_webhook(&invoice_event(
                &format!("evt_{n}"),
                invoice(
                    &format!("inv_{n}"),
                    &format!("{}", 2000 + n),
                    customer(&format!("cus_{}", n % 5), &format!("{}", 20000 + n % 5)),
                ),
            ))
            .await;
        assert_eq!(answer.status, 202);
    }
    // Run the worker until every item is synced (uncertain outcomes never happen with plain
    // 5xx: Visma answered, so nothing is left claimed).
    for _ in 0..200 {
        let report = internals::poll_once(&app, 0).await.unwrap();
        for handle in &report.returned {
            app.queue.change_visibility(handle, 0).await.unwrap();
        }
        if report.received == 0 {
            break;
        }
    }
    let items = app.items();
    let all = items
        .all_with_status(&tenant, &[ItemStatus::Synced])
        .await
        .unwrap();
    let invoices = all.iter().filter(|i| i.kind == RecordKind::Invoice).count();
    let stuck: Vec<String> = items
        .all_with_status(
            &tenant,
            &[ItemStatus::Pending, ItemStatus::Failed, ItemStatus::Blocked],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            format!(
                "{} {:?} {:?} attempts {}",
                i.id, i.status, i.last_error, i.attempts
            )
        })
        .collect();
    assert_eq!(invoices, 50, "every invoice synced; stuck: {stuck:#?}");
    let booked = sb.customer_invoices(first_company(&sb));
    assert_eq!(booked.len(), 50, "none twice");
    let mut refs: Vec<String> = booked
        .iter()
        .map(|i| i["BuyersOrderReference"].as_str().unwrap().to_owned())
        .collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 50);
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        5,
        "customers matched, not duplicated"
    );
    let log = sb.request_log();
    let api_calls = log.iter().filter(|r| r.route.starts_with("/v2/")).count();
    let errors = log.iter().filter(|r| r.status >= 500).count();
    let limited = log.iter().filter(|r| r.status == 429).count();
    println!("50 invoices with 30 % 5xx and 10 req/2 s per route: {api_calls} Visma requests ({:.2} per invoice), {errors} 5xx, {limited} 429", api_calls as f64 / 50.0);
}

#[tokio::test]
async fn a_poison_message_dead_letters_then_a_retry_syncs_it() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
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
    app.drain_queue(20).await;
    let failed = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(failed.status, ItemStatus::Failed);
    assert_eq!(
        failed.last_error.as_ref().unwrap().code,
        "retries_exhausted"
    );
    let dead = app.queue.receive_dead_letters(10, 1).await.unwrap();
    assert_eq!(dead.len(), 1, "the job waits in the dead-letter queue");

    // The cause is fixed; the owner retries from the Integrations page.
    sb.set_faults(Faults::default());
    let retry = app
        .post("/tenants/acme/visma/sync-items/invoice/inv_1/retry")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    app.drain_queue(10).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
    // The stale dead letter, replayed, does nothing.
    let replay: internals::SyncJob = serde_json::from_str(&dead[0].body).unwrap();
    app.queue.send(&replay, 0).await.unwrap();
    app.drain_queue(5).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
}
