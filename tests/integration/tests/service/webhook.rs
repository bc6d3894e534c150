//! `POST /webhooks/aourly` end to end (integration guide "Webhooks from Aourly"): signature, size, parsing and connection
//! state; what is refused writes nothing and queues nothing.

use integration_tests::internals::{
    self, ConnectionStatus, ItemStatus, RecordKind, SyncJob, TenantId,
};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::{json, Value};

/// Sends raw bytes through the service's router with the given signature header; every
/// refusal is problem+json.
pub(crate) async fn post_raw(
    app: &TestApp,
    body: Vec<u8>,
    signature: Option<String>,
    content_length: bool,
) -> Answer {
    let mut request = app
        .post("/webhooks/aourly")
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        request = request.header(internals::SIGNATURE_HEADER, &sig);
    }
    if content_length {
        request = request.header("content-length", &body.len().to_string());
    }
    let answer = request.body(body).send().await;
    if answer.status >= 400 {
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    answer
}

/// Signs and posts a JSON event.
pub(crate) async fn post(app: &TestApp, event: &Value) -> Answer {
    let body = serde_json::to_vec(event).unwrap();
    let sig = signature(&body);
    post_raw(app, body, Some(sig), true).await
}

/// A connected tenant, through the sandbox (the sandbox must outlive the test).
pub(crate) async fn connected(name: &str) -> (visma_sandbox::Sandbox, TestApp, TenantId) {
    let sb = sandbox().await;
    let (app, tenant) = integration_tests::connected(&sb, name).await;
    (sb, app, tenant)
}

#[tokio::test]
async fn every_malformed_payload_is_refused_with_its_field_and_nothing_is_written() {
    let (_sb, app, _tenant) = connected("acme").await;
    let good = november_invoice_event("evt_bad", "acme", "inv_1");

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
    let mut v = event_at(
        "evt_bad",
        "voucher.created",
        "acme",
        "2026-11-23T10:00:00Z",
        json!({"voucher": november_voucher("vch_1")}),
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
        let answer = post_raw(&app, body, Some(sig), true).await;
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

    assert!(app.event_and_item_keys().await.is_empty());
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn bad_missing_and_stale_signatures_are_refused_and_nothing_is_written() {
    let (_sb, app, _tenant) = connected("acme").await;
    let body = serde_json::to_vec(&november_invoice_event("evt_1", "acme", "inv_1")).unwrap();
    let now = chrono::Utc::now().timestamp();
    for (what, header) in [
        ("missing", None),
        ("malformed", Some("garbage".to_owned())),
        (
            "wrong secret",
            Some(internals::sign(b"other-secret", now, &body)),
        ),
        (
            "stale",
            Some(internals::sign(WEBHOOK_SECRET, now - 301, &body)),
        ),
        (
            "from the future",
            Some(internals::sign(WEBHOOK_SECRET, now + 301, &body)),
        ),
        (
            "other body",
            Some(internals::sign(WEBHOOK_SECRET, now, b"{}")),
        ),
    ] {
        let answer = post_raw(&app, body.clone(), header, true).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], "invalid_signature", "{what}");
    }
    assert!(app.event_and_item_keys().await.is_empty());
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn oversize_bodies_are_refused_before_anything_else() {
    let app = spawn_app(&[]).await;
    let body = vec![b' '; 256 * 1024 + 1];
    // Declared oversize, unsigned: 413, not 401.
    let answer = post_raw(&app, body.clone(), None, true).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.body["code"], "payload_too_large");
    // Undeclared (no content-length), signed: still 413.
    let sig = signature(&body);
    let answer = post_raw(&app, body, Some(sig), false).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    // Exactly 256 KiB is not too large: it is read, and here refused as a bad signature.
    let answer = post_raw(&app, vec![b' '; 256 * 1024], None, false).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(app.event_and_item_keys().await.is_empty());
}

#[tokio::test]
async fn never_connected_and_disconnected_tenants_get_not_connected() {
    let (_sb, app, tenant) = connected("gone").await;
    app.connections
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
        let answer = post(&app, &november_invoice_event("evt_1", name, "inv_1")).await;
        assert_eq!(answer.status, 409, "{name}: {}", answer.body);
        assert_eq!(answer.body["code"], "not_connected");
    }
    assert!(app.event_and_item_keys().await.is_empty());
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn an_expired_connection_holds_the_event_as_blocked_without_a_job() {
    let (_sb, app, tenant) = connected("acme").await;
    app.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Expired,
            Some("Visma refused the refresh token"),
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();

    let answer = post(&app, &november_invoice_event("evt_1", "acme", "inv_1")).await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"event_id": "evt_1", "status": "queued"})
    );
    let items = app.items();
    let item = items
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Blocked);
    assert_eq!(item.last_error.unwrap().code, "connection_expired");
    assert!(items.event(&tenant, "evt_1").await.unwrap().unwrap().queued);
    assert!(app.drain_jobs().await.is_empty());
}

/// With outbound events on, Aourly hears of an event held blocked like any blocked record:
/// one `visma.item.blocked`, queued with the event (and not again for a repeated delivery).
#[tokio::test]
async fn an_event_held_for_an_expired_connection_is_announced_as_blocked() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(
        &sb,
        &[
            ("AOURLY_EVENTS_URL", "http://127.0.0.1:9/events"),
            ("AOURLY_EVENTS_SECRET", "test-events-secret"),
        ],
    )
    .await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;
    app.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Expired,
            Some("Visma refused the refresh token"),
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();
    let delivery = november_invoice_event("evt_1", "acme", "inv_1");
    assert_eq!(post(&app, &delivery).await.status, 202);
    assert_eq!(post(&app, &delivery).await.status, 202);

    let jobs = app.drain_jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let SyncJob::Emit { event } = &jobs[0] else {
        panic!("an event, got {jobs:?}");
    };
    assert_eq!(event.kind, internals::OutboundType::ItemBlocked);
    assert_eq!(event.data["kind"], "invoice");
    assert_eq!(event.data["id"], "inv_1");
    assert_eq!(event.data["status"], "blocked");
    assert_eq!(event.data["last_error"]["code"], "connection_expired");
}
