//! Every sample in `events/` goes through its handler, the way Lambda would deliver it (the
//! same files work with `cargo lambda invoke --data-file`).

use integration_tests::*;

use aws_lambda_events::sqs::SqsEvent;

/// The samples' JWTs are signed with the local default secret (scripts/local-env.sh).
async fn samples_app() -> TestApp {
    spawn_app(&[("AOURLY_JWT_SECRET", "local-jwt-secret")]).await
}

/// Runs an API Gateway HTTP API (payload 2.0) sample through the service's router.
async fn invoke_http(app: &TestApp, name: &str) -> (u16, serde_json::Value) {
    let request = lambda_http::request::from_str(&sample(name))
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway v2 request: {e}"));
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::from(body.to_vec());
    let answer = app
        .oneshot(axum::http::Request::from_parts(parts, body))
        .await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn every_http_sample_reaches_a_real_route() {
    let app = samples_app().await;
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("api-") || n.starts_with("oauth-") || n.starts_with("webhook-"))
        .collect();
    names.sort();
    assert!(names.len() >= 15, "samples missing: {names:?}");
    for name in &names {
        let (status, body) = invoke_http(&app, name).await;
        assert!(
            body["code"] != "unknown_route" && status != 405 && status < 500,
            "{name}: {status} {body}"
        );
        if status >= 400 && !name.starts_with("oauth-") {
            assert!(
                body["code"].is_string(),
                "{name}: a problem+json body, got {body}"
            );
        }
    }
}

#[tokio::test]
async fn http_samples_answer_as_documented() {
    let app = samples_app().await;
    assert_eq!(
        invoke_http(&app, "api-health.json").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, body) = invoke_http(&app, "api-status.json").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("not_connected"))
    );
    let (status, body) = invoke_http(&app, "api-connect.json").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["authorize_url"]
        .as_str()
        .unwrap()
        .contains("/connect/authorize?"));
    assert_eq!(invoke_http(&app, "api-disconnect.json").await.0, 204);
    // The sample state was never issued.
    assert_eq!(invoke_http(&app, "oauth-callback.json").await.0, 400);
    // The sample signature is far outside the 300 s window.
    let (status, body) = invoke_http(&app, "webhook-invoice-created.json").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_signature"))
    );
}

#[tokio::test]
async fn the_sqs_sample_reports_only_the_bad_record() {
    let app = samples_app().await;
    let event: SqsEvent = serde_json::from_str(&sample("sqs-batch.json")).unwrap();
    assert_eq!(event.records.len(), 2);
    let response = internals::functions::handle_batch(&app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
}

#[test]
fn every_webhook_body_sample_parses() {
    let dir = format!("{}/webhooks", events_dir());
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let event = internals::parse_event(&body).unwrap_or_else(|e| panic!("{path:?}: {e:?}"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            event.kind().as_str(),
            stem,
            "{path:?}: file name and type differ"
        );
        count += 1;
    }
    assert_eq!(count, 5, "one sample per webhook type");
}
