//! `POST /webhooks/aourly` end to end (CONTRACT §6): signature, size, parsing, connection
//! state, de-duplication, and what lands in the table and on the queue.

use app::Deps;
use domain::connection::ConnectionStatus;
use domain::{RecordKind, SyncJob, TenantId};
use serde_json::{json, Value};
use store::{keys, ItemStatus, SyncItems};

const SECRET: &[u8] = b"test-webhook-secret";

fn customer(id: &str, name: &str) -> Value {
    json!({"id": id, "number": "10042", "name": name, "is_private_person": false,
           "org_number": "556677-8899", "vat_number": "SE556677889901", "email": "faktura@exempel.se",
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

fn invoice(id: &str) -> Value {
    json!({"id": id, "number": "1042", "customer": customer("cus_9", "Exempel Bygg AB"),
           "issue_date": "2026-11-20", "due_date": "2026-12-20",
           "currency": "SEK", "your_reference": "Anna Andersson", "our_reference": null,
           "lines": [{"description": "Konsulttimmar november", "quantity": "12.5", "unit": "h",
                      "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"}],
           "totals": {"net": "11875.00", "vat": "2968.75", "gross": "14843.75"}})
}

fn voucher(id: &str) -> Value {
    json!({"id": id, "date": "2026-11-21", "text": "Utlägg tåg", "rows": [
             {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
             {"account": "2641", "debit": "48.00", "credit": "0", "text": "Moms 6%"},
             {"account": "1930", "debit": "0", "credit": "848.00", "text": null}]})
}

fn event(id: &str, kind: &str, tenant: &str, created_at: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "tenant": tenant, "created_at": created_at, "data": data})
}

fn invoice_event(id: &str, tenant: &str, invoice_id: &str) -> Value {
    event(
        id,
        "invoice.created",
        tenant,
        "2026-11-23T10:00:00Z",
        json!({"invoice": invoice(invoice_id)}),
    )
}

fn signature(body: &[u8]) -> String {
    domain::sign(SECRET, chrono::Utc::now().timestamp(), body)
}

struct Answer {
    status: u16,
    body: Value,
}

/// Sends raw bytes through the service's router with the given signature header.
async fn post_raw(
    deps: &Deps,
    body: Vec<u8>,
    signature: Option<String>,
    content_length: bool,
) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri("/webhooks/aourly")
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        request = request.header(domain::SIGNATURE_HEADER, sig);
    }
    if content_length {
        request = request.header("content-length", body.len().to_string());
    }
    let response = local::http_router(deps)
        .oneshot(request.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status >= 400 {
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Signs and posts a JSON event.
async fn post(deps: &Deps, event: &Value) -> Answer {
    let body = serde_json::to_vec(event).unwrap();
    let sig = signature(&body);
    post_raw(deps, body, Some(sig), true).await
}

/// Every sort key in the table (each test has its own table).
async fn all_keys(deps: &Deps) -> Vec<String> {
    let out = integration_tests::dynamodb()
        .await
        .scan()
        .table_name(&deps.config.table_name)
        .send()
        .await
        .unwrap();
    out.items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.get(keys::SK).and_then(|v| v.as_s().ok()).cloned())
        .collect()
}

/// Sort keys of event markers and sync items only.
async fn event_and_item_keys(deps: &Deps) -> Vec<String> {
    all_keys(deps)
        .await
        .into_iter()
        .filter(|sk| sk.starts_with("EVENT#") || sk.starts_with(keys::ITEM_PREFIX))
        .collect()
}

/// Drains the sync queue (short polls until empty) and returns the jobs.
async fn drain_jobs(deps: &Deps) -> Vec<SyncJob> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let batch = deps.queue.receive(10, 0).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            jobs.push(serde_json::from_str(&m.body).unwrap());
            deps.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    jobs
}

fn push(tenant: &TenantId, kind: RecordKind, id: &str) -> SyncJob {
    SyncJob::Push {
        tenant: tenant.clone(),
        kind,
        id: id.into(),
    }
}

/// A connected tenant, through the sandbox (the sandbox must outlive the test).
async fn connected(name: &str) -> (visma_sandbox::Sandbox, Deps, TenantId) {
    let sb = integration_tests::sandbox().await;
    let deps = integration_tests::deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse(name).unwrap();
    integration_tests::connect_tenant(&deps, &sb, &tenant, integration_tests::first_company(&sb))
        .await;
    (sb, deps, tenant)
}

#[tokio::test]
async fn an_invoice_is_stored_pending_and_its_push_job_queued() {
    let (_sb, deps, tenant) = connected("acme").await;

    let answer = post(&deps, &invoice_event("evt_1", "acme", "inv_123")).await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"event_id": "evt_1", "status": "queued"})
    );
    let items = deps.items.clone();
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
        drain_jobs(&deps).await,
        [push(&tenant, RecordKind::Invoice, "inv_123")]
    );

    // The same event again is a duplicate and queues nothing.
    let again = post(&deps, &invoice_event("evt_1", "acme", "inv_123")).await;
    assert_eq!(again.status, 202);
    assert_eq!(
        again.body,
        json!({"event_id": "evt_1", "status": "duplicate"})
    );
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn every_malformed_payload_is_refused_with_its_field_and_nothing_is_written() {
    let (_sb, deps, _tenant) = connected("acme").await;
    let good = invoice_event("evt_bad", "acme", "inv_1");

    let mut cases: Vec<(&str, Vec<u8>, &str, &str)> = Vec::new();
    cases.push((
        "invalid JSON",
        b"{\"id\": ".to_vec(),
        "invalid_json",
        "body",
    ));
    let mut v = good.clone();
    v["type"] = json!("invoice.deleted");
    cases.push((
        "unknown type",
        serde_json::to_vec(&v).unwrap(),
        "unknown_type",
        "type",
    ));
    let mut v = good.clone();
    v["data"]["invoice"]
        .as_object_mut()
        .unwrap()
        .remove("issue_date");
    cases.push((
        "missing field",
        serde_json::to_vec(&v).unwrap(),
        "invalid_event",
        "data.invoice.issue_date",
    ));
    let mut v = good.clone();
    v["data"]["invoice"]["lines"][0]["unit_price"] = json!("950.001");
    cases.push((
        "three-decimal amount",
        serde_json::to_vec(&v).unwrap(),
        "invalid_event",
        "data.invoice.lines[0].unit_price",
    ));
    let mut v = good.clone();
    v["data"]["invoice"]["lines"][0]["quantity"] = json!(12.5);
    cases.push((
        "number instead of string",
        serde_json::to_vec(&v).unwrap(),
        "invalid_event",
        "data.invoice.lines[0].quantity",
    ));
    let mut v = good.clone();
    v["data"]["invoice"]["totals"]["vat"] = json!("2968.74");
    cases.push((
        "totals that do not match the lines",
        serde_json::to_vec(&v).unwrap(),
        "invalid_event",
        "data.invoice.totals.vat",
    ));
    let mut v = event(
        "evt_bad",
        "voucher.created",
        "acme",
        "2026-11-23T10:00:00Z",
        json!({"voucher": voucher("vch_1")}),
    );
    v["data"]["voucher"]["rows"][2]["credit"] = json!("847.99");
    cases.push((
        "unbalanced voucher",
        serde_json::to_vec(&v).unwrap(),
        "invalid_event",
        "data.voucher.rows",
    ));
    let mut v = good.clone();
    v["tenant"] = json!("bad tenant");
    cases.push((
        "bad tenant",
        serde_json::to_vec(&v).unwrap(),
        "invalid_event",
        "tenant",
    ));

    for (what, body, code, field) in cases {
        let sig = signature(&body);
        let answer = post_raw(&deps, body, Some(sig), true).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], code, "{what}: {}", answer.body);
        let fields: Vec<&str> = answer.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no errors in {}", answer.body))
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{what}: {field} not in {fields:?}");
    }

    assert!(event_and_item_keys(&deps).await.is_empty());
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn bad_missing_and_stale_signatures_are_refused_and_nothing_is_written() {
    let (_sb, deps, _tenant) = connected("acme").await;
    let body = serde_json::to_vec(&invoice_event("evt_1", "acme", "inv_1")).unwrap();
    let now = chrono::Utc::now().timestamp();
    for (what, header) in [
        ("missing", None),
        ("malformed", Some("garbage".to_owned())),
        (
            "wrong secret",
            Some(domain::sign(b"other-secret", now, &body)),
        ),
        ("stale", Some(domain::sign(SECRET, now - 301, &body))),
        (
            "from the future",
            Some(domain::sign(SECRET, now + 301, &body)),
        ),
        ("other body", Some(domain::sign(SECRET, now, b"{}"))),
    ] {
        let answer = post_raw(&deps, body.clone(), header, true).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], "invalid_signature", "{what}");
    }
    assert!(event_and_item_keys(&deps).await.is_empty());
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn oversize_bodies_are_refused_before_anything_else() {
    let deps = integration_tests::deps(&[]).await;
    let body = vec![b' '; 256 * 1024 + 1];
    // Declared oversize, unsigned: 413, not 401.
    let answer = post_raw(&deps, body.clone(), None, true).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.body["code"], "payload_too_large");
    // Undeclared (no content-length), signed: still 413.
    let sig = signature(&body);
    let answer = post_raw(&deps, body, Some(sig), false).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    // Exactly 256 KiB is not too large: it is read, and here refused as a bad signature.
    let answer = post_raw(&deps, vec![b' '; 256 * 1024], None, false).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(event_and_item_keys(&deps).await.is_empty());
}

#[tokio::test]
async fn never_connected_and_disconnected_tenants_get_not_connected() {
    let (_sb, deps, tenant) = connected("gone").await;
    deps.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Disconnected,
            None,
            chrono::Utc::now(),
            false,
        )
        .await
        .unwrap();
    for name in ["never", "gone"] {
        let answer = post(&deps, &invoice_event("evt_1", name, "inv_1")).await;
        assert_eq!(answer.status, 409, "{name}: {}", answer.body);
        assert_eq!(answer.body["code"], "not_connected");
    }
    assert!(event_and_item_keys(&deps).await.is_empty());
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn an_expired_connection_holds_the_event_as_blocked_without_a_job() {
    let (_sb, deps, tenant) = connected("acme").await;
    deps.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Expired,
            Some("Visma refused the refresh token"),
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();

    let answer = post(&deps, &invoice_event("evt_1", "acme", "inv_1")).await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"event_id": "evt_1", "status": "queued"})
    );
    let items = deps.items.clone();
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Blocked);
    assert_eq!(item.last_error.unwrap().code, "connection_expired");
    assert!(items.event(&tenant, "evt_1").await.unwrap().unwrap().queued);
    assert!(drain_jobs(&deps).await.is_empty());
}

/// With outbound events on, Aourly hears of an event held blocked like any blocked record:
/// one `visma.item.blocked`, queued with the event (and not again for a repeated delivery).
#[tokio::test]
async fn an_event_held_for_an_expired_connection_is_announced_as_blocked() {
    let sb = integration_tests::sandbox().await;
    let deps = integration_tests::deps_with_sandbox(
        &sb,
        &[
            ("AOURLY_EVENTS_URL", "http://127.0.0.1:9/events"),
            ("AOURLY_EVENTS_SECRET", "test-events-secret"),
        ],
    )
    .await;
    let tenant = TenantId::parse("acme").unwrap();
    integration_tests::connect_tenant(&deps, &sb, &tenant, integration_tests::first_company(&sb))
        .await;
    deps.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Expired,
            Some("Visma refused the refresh token"),
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();
    let delivery = invoice_event("evt_1", "acme", "inv_1");
    assert_eq!(post(&deps, &delivery).await.status, 202);
    assert_eq!(post(&deps, &delivery).await.status, 202);

    let jobs = drain_jobs(&deps).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let SyncJob::Emit { event } = &jobs[0] else {
        panic!("an event, got {jobs:?}");
    };
    assert_eq!(event.kind, domain::outbound::OutboundType::ItemBlocked);
    assert_eq!(event.data["kind"], "invoice");
    assert_eq!(event.data["id"], "inv_1");
    assert_eq!(event.data["status"], "blocked");
    assert_eq!(event.data["last_error"]["code"], "connection_expired");
}

#[tokio::test]
async fn the_same_event_delivered_three_times_at_once_is_stored_and_queued_once() {
    let (_sb, deps, tenant) = connected("acme").await;
    let e = invoice_event("evt_race", "acme", "inv_race");

    let (a, b, c) = tokio::join!(post(&deps, &e), post(&deps, &e), post(&deps, &e));

    let mut statuses: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|x| {
            assert_eq!(x.status, 202, "{}", x.body);
            x.body["status"].as_str().unwrap().to_owned()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "duplicate", "queued"]);
    let mut keys = event_and_item_keys(&deps).await;
    keys.sort();
    assert_eq!(keys, ["EVENT#evt_race", "ITEM#invoice#inv_race"]);
    assert_eq!(
        drain_jobs(&deps).await,
        [push(&tenant, RecordKind::Invoice, "inv_race")]
    );
}

#[tokio::test]
async fn a_failed_queue_send_answers_503_and_the_retry_queues_the_job() {
    let (_sb, deps, tenant) = connected("acme").await;
    let mut broken = deps.clone();
    broken.queue = store::Queue::new(
        deps.queue.client().clone(),
        format!("{}-missing", deps.queue.url()),
        deps.queue.dead_letter_url(),
    );
    let e = invoice_event("evt_q", "acme", "inv_q");

    let first = post(&broken, &e).await;

    assert_eq!(first.status, 503, "{}", first.body);
    let items = deps.items.clone();
    let marker = items.event(&tenant, "evt_q").await.unwrap().unwrap();
    assert!(!marker.queued);
    assert_eq!(marker.sending_until, None, "the lease is released");
    assert!(drain_jobs(&deps).await.is_empty());

    // Aourly retries; the queue works again.
    let retry = post(&deps, &e).await;
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(retry.body, json!({"event_id": "evt_q", "status": "queued"}));
    let marker = items.event(&tenant, "evt_q").await.unwrap().unwrap();
    assert!(marker.sending_until.unwrap() > chrono::Utc::now().timestamp_millis());
    assert_eq!(
        drain_jobs(&deps).await,
        [push(&tenant, RecordKind::Invoice, "inv_q")]
    );
    // Later deliveries are plain duplicates.
    let third = post(&deps, &e).await;
    assert_eq!(third.body["status"], "duplicate");
    assert!(drain_jobs(&deps).await.is_empty());
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_q")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.status, item.version), (ItemStatus::Pending, 1));
}

#[tokio::test]
async fn a_customer_update_resets_a_synced_customer_but_an_older_one_is_ignored() {
    let (_sb, deps, tenant) = connected("acme").await;
    let items = deps.items.clone();
    let created = event(
        "evt_c1",
        "customer.created",
        "acme",
        "2026-11-23T10:00:00Z",
        json!({"customer": customer("cus_9", "Exempel Bygg AB")}),
    );
    assert_eq!(post(&deps, &created).await.status, 202);
    drain_jobs(&deps).await;
    // The worker pushed it.
    let item = items
        .get(&tenant, RecordKind::Customer, "cus_9")
        .await
        .unwrap()
        .unwrap();
    let store::Claim::Claimed { item, .. } = items
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
    let finish = store::Finish {
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
        store::Finished::Applied
    );

    let updated = event(
        "evt_c2",
        "customer.updated",
        "acme",
        "2026-11-24T10:00:00Z",
        json!({"customer": customer("cus_9", "Exempel Bygg & Måleri AB")}),
    );
    let answer = post(&deps, &updated).await;

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
        drain_jobs(&deps).await,
        [push(&tenant, RecordKind::Customer, "cus_9")]
    );

    // An update created before the stored one (delivered late) changes nothing.
    let late = event(
        "evt_c0",
        "customer.updated",
        "acme",
        "2026-11-23T12:00:00Z",
        json!({"customer": customer("cus_9", "Old Name AB")}),
    );
    let answer = post(&deps, &late).await;
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
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn a_second_create_of_a_synced_invoice_is_acknowledged_and_ignored() {
    let (_sb, deps, tenant) = connected("acme").await;
    let items = deps.items.clone();
    assert_eq!(
        post(&deps, &invoice_event("evt_1", "acme", "inv_1"))
            .await
            .status,
        202
    );
    drain_jobs(&deps).await;
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    let synced = items
        .set_status(&item, ItemStatus::Synced, None, chrono::Utc::now())
        .await
        .unwrap();

    let answer = post(&deps, &invoice_event("evt_2", "acme", "inv_1")).await;

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
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn a_credit_note_is_an_invoice_item_under_its_own_id() {
    let (_sb, deps, tenant) = connected("acme").await;
    let mut credit = invoice("inv_124");
    credit["lines"][0]["quantity"] = json!("-12.5");
    credit["totals"] = json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    let e = event(
        "evt_cr",
        "invoice.credited",
        "acme",
        "2026-11-25T10:00:00Z",
        json!({"invoice": credit, "credits_invoice_id": "inv_123"}),
    );

    let answer = post(&deps, &e).await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    let item = deps
        .items
        .clone()
        .get(&tenant, RecordKind::Invoice, "inv_124")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.event_type, domain::EventKind::InvoiceCredited);
    assert!(matches!(
        item.event().unwrap().data(),
        domain::EventData::InvoiceCredited { credits_invoice_id, .. } if credits_invoice_id.as_str() == "inv_123"
    ));
    assert_eq!(
        drain_jobs(&deps).await,
        [push(&tenant, RecordKind::Invoice, "inv_124")]
    );
}

/// Stores `body`'s event and item as a delivery that died before sending its job would have
/// left them, with the sending lease already lapsed.
async fn stored_with_lapsed_lease(deps: &Deps, body: &Value) -> SyncItems {
    let event = domain::parse_event(&serde_json::to_vec(body).unwrap()).unwrap();
    let items = deps.items.clone();
    let stored_at = chrono::Utc::now() - app::webhook::SEND_LEASE - chrono::Duration::seconds(1);
    let item = store::SyncItem::new(&event, ItemStatus::Pending, None, stored_at).unwrap();
    let marker =
        store::EventMarker::new(&event, "stored", true, stored_at, app::webhook::SEND_LEASE);
    items
        .record_event(&marker, &store::ItemWrite::Create(Box::new(item)))
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
    let (_sb, deps, tenant) = connected("acme").await;
    let body = invoice_event("evt_died", "acme", "inv_died");
    stored_with_lapsed_lease(&deps, &body).await;
    assert!(drain_jobs(&deps).await.is_empty(), "the job was never sent");

    let retry = post(&deps, &body).await;

    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(
        retry.body,
        json!({"event_id": "evt_died", "status": "duplicate"})
    );
    assert_eq!(
        drain_jobs(&deps).await,
        [push(&tenant, RecordKind::Invoice, "inv_died")]
    );
    // Within the new lease, further deliveries send nothing.
    let again = post(&deps, &body).await;
    assert_eq!(again.body["status"], "duplicate");
    assert!(drain_jobs(&deps).await.is_empty());
}

/// A duplicate after the lease whose defensive re-send fails still answers `duplicate`, not
/// 503 (the event was accepted before; CONTRACT §6); the schedule's sweep of stale pending
/// items (`app::resume::requeue_stale_pending`) is what covers a job lost that way.
#[tokio::test]
async fn a_late_duplicate_whose_resend_fails_is_still_a_duplicate() {
    let (_sb, deps, tenant) = connected("acme").await;
    let body = invoice_event("evt_late", "acme", "inv_late");
    let items = stored_with_lapsed_lease(&deps, &body).await;
    let mut broken = deps.clone();
    broken.queue = store::Queue::new(
        deps.queue.client().clone(),
        format!("{}-missing", deps.queue.url()),
        deps.queue.dead_letter_url(),
    );

    let late = post(&broken, &body).await;

    assert_eq!(late.status, 202, "{}", late.body);
    assert_eq!(
        late.body,
        json!({"event_id": "evt_late", "status": "duplicate"})
    );
    assert!(drain_jobs(&deps).await.is_empty());
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Pending, "left to the sweep");
}
