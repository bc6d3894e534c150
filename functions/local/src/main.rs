#[tokio::main]
async fn main() {
    app::telemetry::init();
    let config = app::or_exit(app::Config::from_env(&app::Secret::ALL));
    let config = app::or_exit(config.resolve_secrets(None).await);
    if let Err(e) = local::serve(config).await {
        eprintln!("make serve stopped: {e}");
        std::process::exit(1);
    }
}
