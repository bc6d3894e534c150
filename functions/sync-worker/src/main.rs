use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::telemetry::init();
    let deps = app::or_exit(app::Deps::from_env(sync_worker::SECRETS).await);
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(sync_worker::handle_batch(deps, event.payload).await)
    }))
    .await
}
