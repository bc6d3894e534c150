//! Structured logs through `tracing`: JSON lines with the current span's fields (tenant, event
//! id, message id, Visma call outcome). In Lambda without timestamps (CloudWatch adds them);
//! `LOG_FORMAT=pretty` for humans. `RUST_LOG` filters as usual. Tokens, secrets and payloads
//! are never logged: `tests/integration/tests/logs.rs` runs whole flows and searches the
//! captured output for them.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Installs the global subscriber once; later calls are no-ops.
pub fn init() {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if pretty {
        builder.try_init()
    } else if in_lambda {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .without_time()
            .try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    };
}

/// Installs the production JSON format, at `level` and above, writing to `writer` (tests
/// capture the logs this way).
pub fn init_with_writer<W>(writer: W, level: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_writer(writer)
        .try_init();
}
