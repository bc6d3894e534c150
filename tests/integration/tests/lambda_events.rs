//! Every sample in `events/` goes through its handler, the way Lambda would deliver it (the
//! same files work with `cargo lambda invoke --data-file`).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn sample(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn deps() -> app::Deps {
    // The samples' JWTs are signed with the local default secret (scripts/local-env.sh).
    integration_tests::deps(&[("AOURLY_JWT_SECRET", "local-jwt-secret")]).await
}

/// Runs an API Gateway HTTP API (payload 2.0) sample through the service's router.
async fn invoke_http(deps: &app::Deps, name: &str) -> (u16, serde_json::Value) {
    let request = lambda_http::request::from_str(&sample(name))
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway v2 request: {e}"));
    let response = local::http_router(deps).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn every_http_sample_reaches_a_real_route() {
    let deps = deps().await;
    let mut names: Vec<String> =
        std::fs::read_dir(format!("{}/../../events", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| {
                n.starts_with("api-") || n.starts_with("oauth-") || n.starts_with("webhook-")
            })
            .collect();
    names.sort();
    assert!(names.len() >= 15, "samples missing: {names:?}");
    for name in &names {
        let (status, body) = invoke_http(&deps, name).await;
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
    let deps = deps().await;
    assert_eq!(
        invoke_http(&deps, "api-health.json").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, body) = invoke_http(&deps, "api-status.json").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("not_connected"))
    );
    let (status, body) = invoke_http(&deps, "api-connect.json").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["authorize_url"]
        .as_str()
        .unwrap()
        .contains("/connect/authorize?"));
    assert_eq!(invoke_http(&deps, "api-disconnect.json").await.0, 204);
    // The sample state was never issued.
    assert_eq!(invoke_http(&deps, "oauth-callback.json").await.0, 400);
    // The sample signature is far outside the 300 s window.
    let (status, body) = invoke_http(&deps, "webhook-invoice-created.json").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_signature"))
    );
}

#[tokio::test]
async fn the_sqs_sample_reports_only_the_bad_record() {
    let deps = deps().await;
    let event: SqsEvent = serde_json::from_str(&sample("sqs-batch.json")).unwrap();
    assert_eq!(event.records.len(), 2);
    let response = sync_worker::handle_batch(&deps, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
}

#[tokio::test]
async fn the_schedule_sample_runs_a_tick() {
    let deps = deps().await;
    let event: EventBridgeEvent<serde_json::Value> =
        serde_json::from_str(&sample("schedule.json")).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
    let report =
        scheduled_pull::handle_tick(&deps, scheduled_pull::schedule_event(chrono::Utc::now()))
            .await
            .unwrap();
    assert_eq!(report.tenants_queued, 0);
}

#[test]
fn every_webhook_body_sample_parses() {
    let dir = format!("{}/../../events/webhooks", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let event = domain::parse_event(&body).unwrap_or_else(|e| panic!("{path:?}: {e:?}"));
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
