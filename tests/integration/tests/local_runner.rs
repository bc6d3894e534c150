//! `make serve`'s pieces with the real handlers: /health over TCP, the worker loop honouring
//! partial batch failures and the redrive policy, and the schedule tick.

use domain::{SyncJob, TenantId};
use serde::Serialize;
use store::keys;

#[tokio::test]
async fn serve_answers_health_over_tcp() {
    // A free port, then the real `serve` (it also creates the table and queues).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = integration_tests::config(&[("LOCAL_HTTP_ADDR", &addr)])
        .resolve_secrets(None)
        .await
        .unwrap();
    let server = tokio::spawn(local::serve(config));
    let client = reqwest::Client::new();
    let mut last = None;
    for _ in 0..100 {
        match client.get(format!("http://{addr}/health")).send().await {
            Ok(r) => {
                last = Some((
                    r.status().as_u16(),
                    r.json::<serde_json::Value>().await.unwrap(),
                ));
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    server.abort();
    assert_eq!(last, Some((200, serde_json::json!({"status": "ok"}))));
}

/// Every error answer, including those axum makes itself (a wrong method, a path segment that
/// is not UTF-8, a body over the limit), is problem+json (CONTRACT §3).
#[tokio::test]
async fn errors_answer_problem_json() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let deps = integration_tests::deps(&[]).await;
    let over_limit = vec![b' '; 3 * 1024 * 1024];
    for (method, path, body, status, code) in [
        ("GET", "/nope", vec![], 404, "unknown_route"),
        ("GET", "/tenants/acme/visma", vec![], 401, "unauthorized"),
        (
            "GET",
            "/tenants/bad%20tenant/visma",
            vec![],
            400,
            "invalid_tenant",
        ),
        ("POST", "/webhooks/aourly", vec![], 401, "invalid_signature"),
        ("POST", "/health", vec![], 405, "method_not_allowed"),
        ("GET", "/webhooks/aourly", vec![], 405, "method_not_allowed"),
        (
            "POST",
            "/oauth/visma/callback",
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/tenants/acme/visma/sync-items/invoice/%FF/retry",
            vec![],
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/tenants/acme/visma/account-mapping",
            over_limit.clone(),
            413,
            "payload_too_large",
        ),
    ] {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::from(body))
            .unwrap();
        let response = local::http_router(&deps).oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], code, "{method} {path}");
        assert_eq!(problem["status"], status);
        assert!(problem["title"].is_string(), "{problem}");
    }
}

#[tokio::test]
async fn the_worker_loop_returns_failed_messages_until_the_queue_dead_letters_them() {
    let deps = integration_tests::deps(&[]).await;
    // A body no worker can decode: the handler reports it failed every time.
    deps.queue
        .send_raw_to(deps.queue.url(), "{\"not\": \"a job\"}".into())
        .await
        .unwrap();
    let mut polls = 0;
    loop {
        let report = local::poll_once(&deps, 1).await.unwrap();
        if report.received == 0 {
            break;
        }
        polls += 1;
        assert_eq!((report.done, report.returned.len()), (0, 1));
        // Skip the 360 s visibility timeout: what SQS does when it runs out.
        for handle in &report.returned {
            deps.queue.change_visibility(handle, 0).await.unwrap();
        }
        assert!(polls < 20, "the message never left the queue");
    }
    let max_receives = store::resources::Definitions::from_template()
        .unwrap()
        .sync_queue
        .redrive_policy
        .unwrap()
        .max_receive_count;
    assert_eq!(polls, max_receives);
    let dead = deps.queue.receive_dead_letters(10, 1).await.unwrap();
    assert_eq!(
        dead.len(),
        1,
        "the poison message ends in the dead-letter queue"
    );
    assert_eq!(dead[0].body, "{\"not\": \"a job\"}");
}

#[derive(Serialize)]
struct ConnectedMarker {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
}

#[tokio::test]
async fn a_schedule_tick_queues_one_pull_per_connected_tenant() {
    let deps = integration_tests::deps(&[]).await;
    let tenants: Vec<TenantId> = (0..12)
        .map(|i| TenantId::parse(&format!("t{i:02}")).unwrap())
        .collect();
    for t in &tenants {
        integration_tests::table(&deps)
            .await
            .put(&ConnectedMarker {
                pk: keys::tenant_pk(t),
                sk: keys::connection_sk().into(),
                gsi1pk: keys::CONNECTED_PARTITION.into(),
                gsi1sk: keys::connected_sk(t),
            })
            .await
            .unwrap();
    }
    let report =
        scheduled_pull::handle_tick(&deps, scheduled_pull::schedule_event(chrono::Utc::now()))
            .await
            .unwrap();
    assert_eq!(report.tenants_queued, tenants.len());

    let mut queued = Vec::new();
    for _ in 0..10 {
        let got = deps.queue.receive(10, 1).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            match serde_json::from_str::<SyncJob>(&m.body).unwrap() {
                SyncJob::Pull { tenant } => queued.push(tenant),
                other => panic!("unexpected job {other:?}"),
            }
            deps.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    queued.sort();
    assert_eq!(queued, tenants);
}
