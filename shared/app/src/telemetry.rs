//! Structured logs through `tracing`: JSON lines with the current span's fields (tenant, event
//! id, message id, Visma call outcome). In Lambda without timestamps (CloudWatch adds them);
//! `LOG_FORMAT=pretty` for humans. `RUST_LOG` takes comma-separated `level` and `target=level`
//! directives (`tracing_subscriber::filter::Targets`: no span or field filters, and so no
//! regex engine in the binaries, which made their cold start slower). Tokens, secrets and payloads
//! are never logged: `tests/integration/tests/logs.rs` runs whole flows and searches the
//! captured output for them.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Installs the global subscriber once; later calls are no-ops.
pub fn init() {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| parse_filter(&directives))
        .unwrap_or_else(default_filter);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if pretty {
        registry.with(fmt::layer()).try_init()
    } else if in_lambda {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .without_time(),
            )
            .try_init()
    } else {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init()
    };
}

/// Installs the production JSON format, filtered by `directives` (as `RUST_LOG`), writing to
/// `writer` (tests capture the logs this way).
pub fn init_with_writer<W>(writer: W, directives: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::registry()
        .with(parse_filter(directives).unwrap_or_else(default_filter))
        .with(
            fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_writer(writer),
        )
        .try_init();
}

/// `None` for blank or malformed directives: the service then logs at the default levels
/// rather than not at all.
fn parse_filter(directives: &str) -> Option<Targets> {
    let directives = directives.trim();
    if directives.is_empty() {
        None
    } else {
        directives.parse().ok()
    }
}

fn default_filter() -> Targets {
    parse_filter(DEFAULT_FILTER).expect("the default directives parse")
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn directives_set_levels_per_target_over_a_default() {
        let filter = parse_filter("warn,app=debug").expect("valid directives");
        assert!(filter.would_enable("app::push", &Level::DEBUG));
        assert!(!filter.would_enable("app::push", &Level::TRACE));
        assert!(filter.would_enable("hyper", &Level::WARN));
        assert!(!filter.would_enable("hyper", &Level::INFO));
    }

    #[test]
    fn blank_or_malformed_directives_fall_back_to_the_default_levels() {
        assert!(parse_filter("  ").is_none());
        assert!(parse_filter("info,app=loud").is_none());
        let filter = default_filter();
        assert!(filter.would_enable("app::push", &Level::INFO));
        assert!(!filter.would_enable("app::push", &Level::DEBUG));
        assert!(!filter.would_enable("aws_config::loader", &Level::INFO));
        assert!(filter.would_enable("aws_config::loader", &Level::WARN));
    }
}
