//! Outbound events (integration guide "Outbound events"): queued durably, signed like Aourly's webhooks, and retried
//! through the queue until Aourly answers 2xx.

use integration_tests::*;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use integration_tests::internals::OutboundType;
use integration_tests::internals::TenantId;

#[derive(Clone, Default)]
struct Inbox {
    /// How many deliveries to refuse before accepting.
    refuse_first: Arc<Mutex<u32>>,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    attempts: Arc<Mutex<u32>>,
}

async fn receive(
    State(inbox): State<Inbox>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    *inbox.attempts.lock().unwrap() += 1;
    let signature = headers
        .get(internals::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if internals::verify(
        b"test-events-secret",
        signature,
        &body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .is_err()
    {
        return StatusCode::UNAUTHORIZED;
    }
    let mut refuse = inbox.refuse_first.lock().unwrap();
    if *refuse > 0 {
        *refuse -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    inbox
        .accepted
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

#[tokio::test]
async fn events_are_signed_and_retried_until_accepted() {
    let inbox = Inbox::default();
    *inbox.refuse_first.lock().unwrap() = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/aourly/events", listener.local_addr().unwrap());
    let inbox_app = Router::new()
        .route("/aourly/events", post(receive))
        .with_state(inbox.clone());
    tokio::spawn(async move { axum::serve(listener, inbox_app).await });

    let app = spawn_app(&[
        ("AOURLY_EVENTS_URL", &url),
        ("AOURLY_EVENTS_SECRET", "test-events-secret"),
    ])
    .await;
    let tenant = TenantId::parse("acme").unwrap();
    internals::events::emit(
        &app,
        &tenant,
        OutboundType::AccountsUpdated,
        serde_json::json!({"fiscal_year_id": "fy"}),
    )
    .await
    .unwrap();

    // Two refusals, then accepted. Each refusal queues a fresh copy, delayed (1 s for an
    // event this young), and the refused message is done: every delivery is a first receive,
    // so an outage longer than the queue's receive budget never sends the event to the
    // dead-letter queue.
    let mut polls = 0;
    let mut deliveries = 0;
    while inbox.accepted.lock().unwrap().is_empty() {
        polls += 1;
        assert!(polls <= 20, "the event was never delivered");
        let messages = app.queue.receive(10, 1).await.unwrap();
        for message in &messages {
            app.queue
                .change_visibility(&message.receipt_handle, 0)
                .await
                .unwrap();
        }
        if messages.is_empty() {
            continue;
        }
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0].receive_count, 1,
            "a fresh copy, not the same message again"
        );
        let report = internals::poll_once(&app, 0).await.unwrap();
        assert_eq!((report.received, report.done), (1, 1), "{report:?}");
        deliveries += 1;
    }
    assert_eq!((deliveries, *inbox.attempts.lock().unwrap()), (3, 3));
    let accepted = inbox.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["type"], "visma.accounts.updated");
    assert_eq!(accepted[0]["tenant"], "acme");
    assert_eq!(accepted[0]["data"]["fiscal_year_id"], "fy");
    assert!(accepted[0]["id"].as_str().unwrap().starts_with("evt_"));
    // Nothing left behind.
    assert!(internals::poll_once(&app, 0).await.unwrap().received == 0);
}

#[tokio::test]
async fn without_an_events_url_nothing_is_queued() {
    let app = spawn_app(&[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    internals::events::emit(
        &app,
        &tenant,
        OutboundType::ItemFailed,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert!(app.queue.receive(10, 0).await.unwrap().is_empty());
}
