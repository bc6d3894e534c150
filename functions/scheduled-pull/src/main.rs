use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::telemetry::init();
    let deps = app::or_exit(app::Deps::from_env(scheduled_pull::SECRETS).await);
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            scheduled_pull::handle_tick(deps, event.payload).await
        },
    ))
    .await
}
