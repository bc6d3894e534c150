#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    app::telemetry::init();
    let deps = app::or_exit(app::Deps::from_env(webhook::SECRETS).await);
    lambda_http::run(webhook::router(deps)).await
}
