//! The functions' entry points handed the sample events the way Lambda delivers them.

use integration_tests::internals::functions::{handle_tick, schedule_event};
use integration_tests::internals::SyncJob;
use integration_tests::*;

/// `events/schedule.json` parsed into the typed EventBridge event and passed to the
/// scheduled-pull handler: no connected tenant queues nothing; a connected one gets its pull.
#[tokio::test]
async fn the_schedule_sample_goes_through_the_scheduled_pull_handler() {
    let app = spawn_app(&[]).await;
    let event = schedule_event();
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.events");
    assert_eq!(event.detail, serde_json::json!({}));

    let report = handle_tick(&app, event.clone()).await.unwrap();
    assert_eq!(report.tenants_queued, 0);
    assert!(app.drain_jobs().await.is_empty());

    let acme = tenant("acme");
    app.mark_connected(&acme).await;
    let report = handle_tick(&app, event).await.unwrap();
    assert_eq!(report.tenants_queued, 1);
    assert_eq!(app.drain_jobs().await, [SyncJob::Pull { tenant: acme }]);
}
