#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    app::telemetry::init();
    let deps = app::or_exit(app::Deps::from_env(api::SECRETS).await);
    lambda_http::run(api::router(deps)).await
}
