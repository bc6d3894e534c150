//! Invoices pushed end to end: webhook → table + queue → sync worker → Visma sandbox, once
//! each (integration guide "Webhooks from Aourly" pushing rules), and the blocks that hold a push back until the owner or a
//! pull clears them (mapping, expired or lost connection, unusable tokens).

use integration_tests::internals::{ItemStatus, RecordKind, TenantId};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn an_invoice_reaches_visma_once_with_its_customer() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let answer = app
        .post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    app.drain_queue(10).await;

    let synced = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let booked = sb.customer_invoices(first_company(&sb));
    assert_eq!(booked.len(), 1);
    let visma = &booked[0];
    assert_eq!(synced.visma_id.as_deref(), visma["Id"].as_str());
    assert_eq!(
        synced.visma_number,
        Some(visma["InvoiceNumber"].to_string())
    );
    assert_eq!(
        visma["BuyersOrderReference"], "Aourly 1042",
        "Aourly's number is kept for the accountant"
    );
    assert_eq!(visma["YourReference"], "Anna Andersson");
    assert_eq!(visma["TotalAmount"].to_string(), "14843.75");
    let customers = sb.customers(first_company(&sb));
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["CustomerNumber"], "10042");
    // New customer after a pull: create it, create the invoice. The customer index and the
    // terms of payment the pull keeps answer the rest without asking Visma.
    assert_eq!(
        visma_requests(&sb),
        ["POST /v2/customers", "POST /v2/customerinvoices"]
    );

    // The same invoice again (a new event id) and a manual retry change nothing.
    sb.clear_request_log();
    app.post_webhook(&invoice_event("evt_2", invoice_1042()))
        .await;
    app.drain_queue(10).await;
    let retry = app
        .post("/tenants/acme/visma/sync-items/invoice/inv_1/retry")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(retry.status, 409);
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 0);
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    // A known customer: the next invoice costs exactly one Visma request.
    sb.clear_request_log();
    app.post_webhook(&invoice_event(
        "evt_3",
        invoice("inv_2", "1043", customer("cus_1", "10042")),
    ))
    .await;
    app.drain_queue(10).await;
    assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"]);
}

#[tokio::test]
async fn blocked_on_the_mapping_resumes_when_the_mapping_is_fixed() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    // The owner's saved mapping lacks 12 %.
    let current = app
        .get("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .send()
        .await
        .body;
    let full = current.clone();
    let mut without_12 = current.clone();
    without_12["sales"] = json!(current["sales"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["vat_rate"] != "12")
        .cloned()
        .collect::<Vec<_>>());
    let saved = app
        .put("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .json(without_12)
        .send()
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);

    let mut inv = invoice_1042();
    inv["lines"][0]["vat_rate"] = json!("12");
    inv["totals"] = json!({"net": "11875.00", "vat": "1425.00", "gross": "13300.00"});
    app.post_webhook(&invoice_event("evt_1", inv)).await;
    app.drain_queue(10).await;
    let blocked = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(blocked.status, ItemStatus::Blocked);
    let error = blocked.last_error.unwrap();
    assert_eq!(error.code, "mapping_incomplete");
    assert!(
        error.detail.unwrap().contains("12 %"),
        "the blocked item names the rate"
    );
    assert!(
        sb.customer_invoices(first_company(&sb)).is_empty(),
        "nothing posted to a guessed account"
    );

    let fixed = app
        .put("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .json(full)
        .send()
        .await;
    assert_eq!(fixed.status, 200, "{}", fixed.text);
    app.drain_queue(10).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
}

#[tokio::test]
async fn an_expired_connection_blocks_and_reconnect_resumes() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.expire_connection(&tenant).await;
    let answer = app
        .post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(
        app.item(&tenant, RecordKind::Invoice, "inv_1").await.status,
        ItemStatus::Blocked
    );

    // Reconnect (the whole callback flow) resumes it without another webhook.
    sb.set_auto_approve(true, Some(first_company(&sb)));
    let started = app
        .post("/tenants/acme/visma/connect")
        .as_owner("acme")
        .json(json!({"return_url": "http://localhost:5173/x"}))
        .send()
        .await;
    let authorize_url = started.body["authorize_url"].as_str().unwrap();
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize_url)
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let landed = app
        .get(format!("{}?{}", back.path(), back.query().unwrap()))
        .send()
        .await;
    assert_eq!(landed.status, 302);
    app.drain_queue(10).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
}

/// Right after a connect, the first pull's job and the first webhooks' jobs share the queue: an
/// invoice pushed before the pull proposed the mapping blocks `mapping_incomplete`, and the
/// pull that proposes it resumes the invoice (the owner has nothing to fix).
#[tokio::test]
async fn an_invoice_pushed_before_the_first_pull_is_resumed_by_that_pull() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;
    let answer = app
        .post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    assert_eq!(answer.status, 202);
    app.drain_queue(10).await;
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(waiting.status, ItemStatus::Blocked);
    assert_eq!(waiting.last_error.unwrap().code, "mapping_incomplete");

    app.run_pull_job(&tenant).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// An item whose push found the tenant disconnected waits (`not_connected`) and goes when the
/// owner connects again.
#[tokio::test]
async fn an_item_blocked_by_a_disconnect_goes_after_the_reconnect() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let answer = app
        .post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    assert_eq!(answer.status, 202);
    let gone = app
        .delete("/tenants/acme/visma")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    app.drain_queue(10).await;
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(waiting.status, ItemStatus::Blocked);
    assert_eq!(waiting.last_error.unwrap().code, "not_connected");

    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;
    app.run_pull_job(&tenant).await;
    app.assert_1042_synced_once(&sb, &tenant).await;
}

/// A block on the connection stored long after the connection was made is Visma refusing
/// this kind of record (a user without invoicing rights, say), not a lost race with the
/// reconnect: the pulls leave it alone rather than push it, and block it, every 15 minutes.
#[tokio::test]
async fn a_block_on_the_connection_long_after_the_connect_is_not_resumed_by_pulls() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let company = sb.companies()[0].clone();
    app.connections
        .put_connected(
            &tenant,
            internals::VismaCompany {
                name: company.name,
                corporate_identity_number: Some(company.corporate_identity_number),
                company_identifier: None,
                settings: None,
            },
            "user-1",
            chrono::Utc::now() - chrono::Duration::minutes(10),
        )
        .await
        .unwrap();
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    let items = app.items();
    let pending = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    items
        .set_status(
            &pending,
            ItemStatus::Blocked,
            Some(&internals::ItemError::new(
                internals::ItemCode::ConnectionExpired,
                "Visma no longer accepts the connection; reconnect to resume",
            )),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let blocked = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    // Its job was consumed by whatever blocked it.
    for message in app.queue.receive(10, 0).await.unwrap() {
        app.queue.delete(&message.receipt_handle).await.unwrap();
    }
    // Beside it, an item blocked before the connect: that one the pull resumes.
    app.post_webhook(&invoice_event(
        "evt_2",
        invoice("inv_2", "1044", customer("cus_1", "10042")),
    ))
    .await;
    for message in app.queue.receive(10, 0).await.unwrap() {
        app.queue.delete(&message.receipt_handle).await.unwrap();
    }
    let early = app.item(&tenant, RecordKind::Invoice, "inv_2").await;
    items
        .set_status(
            &early,
            ItemStatus::Blocked,
            Some(&internals::ItemError::new(
                internals::ItemCode::ConnectionExpired,
                "The Visma connection has expired; reconnect to resume syncing",
            )),
            chrono::Utc::now() - chrono::Duration::minutes(20),
        )
        .await
        .unwrap();

    app.run_pull_job(&tenant).await;
    let after = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(after.status, ItemStatus::Blocked);
    assert_eq!(after.version, blocked.version, "not resumed");
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 0);
    let resumed = app.item(&tenant, RecordKind::Invoice, "inv_2").await;
    assert_eq!(
        resumed.status,
        ItemStatus::Synced,
        "{:?}",
        resumed.last_error
    );
}

/// Stored tokens the service cannot use (here: not decodable; in AWS, a KMS key disabled)
/// are a fault on our side: the record fails with `internal_error`, not as Visma refusing it.
#[tokio::test]
async fn unusable_stored_tokens_fail_a_push_as_our_fault_not_visma_s() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.table
        .client()
        .update_item()
        .table_name(app.table.name())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(internals::keys::tenant_pk(&tenant)),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(internals::keys::tokens_sk().into()),
        )
        .update_expression("SET sealed = :junk")
        .expression_attribute_values(
            ":junk",
            aws_sdk_dynamodb::types::AttributeValue::S("not base64 at all!".into()),
        )
        .send()
        .await
        .unwrap();
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    app.drain_queue(10).await;
    let failed = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(failed.status, ItemStatus::Failed);
    let error = failed.last_error.unwrap();
    assert_eq!(error.code, "internal_error");
    assert!(!error.detail.unwrap().contains("Visma refused"));
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 0);
}

/// The race a reconnect's resume can lose: a webhook reads the connection as expired just
/// before the owner reconnects and stores its item blocked just after the reconnect's resume
/// looked for such items. The pull the reconnect queues resumes it.
#[tokio::test]
async fn an_item_blocked_just_after_the_reconnect_resumed_is_resumed_by_its_pull() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.expire_connection(&tenant).await;
    let answer = app
        .post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    assert_eq!(answer.status, 202);

    // While the connection is expired a pull is skipped and resumes nothing.
    app.run_pull_job(&tenant).await;
    let waiting = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(waiting.status, ItemStatus::Blocked);
    assert_eq!(waiting.last_error.unwrap().code, "connection_expired");
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 0);

    // The reconnect as the callback records it, its resume having run before the item was
    // blocked (so it found nothing), then the pull it queues.
    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;
    assert_eq!(
        app.item(&tenant, RecordKind::Invoice, "inv_1").await.status,
        ItemStatus::Blocked
    );
    app.run_pull_job(&tenant).await;
    app.assert_1042_synced_once(&sb, &tenant).await;

    // The next pull finds nothing left to resume, and nothing is pushed twice.
    app.run_pull_job(&tenant).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
}
