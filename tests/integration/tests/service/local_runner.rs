//! `make serve`'s pieces with the real handlers: /health over TCP, the worker loop honouring
//! partial batch failures and the redrive policy, and the schedule tick.

use integration_tests::*;

use integration_tests::internals::{SyncJob, TenantId};

#[tokio::test]
async fn serve_answers_health_over_tcp() {
    // A free port, then the real `serve` (it also creates the table and queues).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = config(&[("LOCAL_HTTP_ADDR", &addr)])
        .resolve_secrets(None)
        .await
        .unwrap();
    let server = tokio::spawn(internals::serve(config));
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
/// is not UTF-8, a body over the limit), is problem+json (integration guide "Errors").
#[tokio::test]
async fn errors_answer_problem_json() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = spawn_app(&[]).await;
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
        let response = internals::http_router(&app).oneshot(request).await.unwrap();
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
    let app = spawn_app(&[]).await;
    // A body no worker can decode: the handler reports it failed every time.
    app.queue
        .send_raw_to(app.queue.url(), "{\"not\": \"a job\"}".into())
        .await
        .unwrap();
    let mut polls = 0;
    loop {
        let report = internals::poll_once(&app, 1).await.unwrap();
        if report.received == 0 {
            break;
        }
        polls += 1;
        assert_eq!((report.done, report.returned.len()), (0, 1));
        // Skip the 360 s visibility timeout: what SQS does when it runs out.
        for handle in &report.returned {
            app.queue.change_visibility(handle, 0).await.unwrap();
        }
        assert!(polls < 20, "the message never left the queue");
    }
    let max_receives = template::max_receive_count();
    assert_eq!(polls, max_receives);
    let dead = app.queue.receive_dead_letters(10, 1).await.unwrap();
    assert_eq!(
        dead.len(),
        1,
        "the poison message ends in the dead-letter queue"
    );
    assert_eq!(dead[0].body, "{\"not\": \"a job\"}");
}

#[tokio::test]
async fn a_schedule_tick_queues_one_pull_per_connected_tenant() {
    let app = spawn_app(&[]).await;
    let tenants: Vec<TenantId> = (0..12)
        .map(|i| TenantId::parse(&format!("t{i:02}")).unwrap())
        .collect();
    for t in &tenants {
        app.mark_connected(t).await;
    }
    let report = internals::functions::handle_tick(&app, internals::functions::schedule_event())
        .await
        .unwrap();
    assert_eq!(report.tenants_queued, tenants.len());

    let mut queued = Vec::new();
    for _ in 0..10 {
        let got = app.queue.receive(10, 1).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            match serde_json::from_str::<SyncJob>(&m.body).unwrap() {
                SyncJob::Pull { tenant } => queued.push(tenant),
                other => panic!("unexpected job {other:?}"),
            }
            app.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    queued.sort();
    assert_eq!(queued, tenants);
}
