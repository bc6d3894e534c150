#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    app::telemetry::init();
    let deps = app::or_exit(app::Deps::from_env(oauth_callback::SECRETS).await);
    lambda_http::run(oauth_callback::router(deps)).await
}
