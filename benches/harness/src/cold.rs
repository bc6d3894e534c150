//! Figure 5: cold start of each function's release binary against a local fake of the Lambda
//! Runtime API, as a ratio to an empty `lambda_runtime` function; binary sizes; peak memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;

use crate::report::{figure, note, section};

/// What the fake runtime saw of one start.
#[derive(Default)]
struct Seen {
    first_next: Option<Instant>,
    response: Option<(Instant, bool)>,
    delivered: bool,
    error_body: Option<String>,
}

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Seen>>,
    event: Arc<String>,
    done: Arc<Notify>,
}

async fn next(State(f): State<Fake>) -> impl IntoResponse {
    let deliver = {
        let mut seen = f.seen.lock().expect("lock");
        if seen.first_next.is_none() {
            seen.first_next = Some(Instant::now());
        }
        !std::mem::replace(&mut seen.delivered, true)
    };
    if !deliver {
        // One invocation per start: later polls wait until the process is killed.
        std::future::pending::<()>().await;
    }
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        "bench-request-1".parse().expect("header"),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().expect("header"),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-north-1:123456789012:function:bench"
            .parse()
            .expect("header"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
            .parse()
            .expect("header"),
    );
    headers.insert("content-type", "application/json".parse().expect("header"));
    (StatusCode::OK, headers, f.event.as_str().to_owned())
}

fn finished(f: &Fake, ok: bool, body: Option<String>) -> StatusCode {
    let mut seen = f.seen.lock().expect("lock");
    if seen.response.is_none() {
        seen.response = Some((Instant::now(), ok));
        seen.error_body = body;
    }
    f.done.notify_one();
    StatusCode::ACCEPTED
}

async fn response(State(f): State<Fake>) -> StatusCode {
    finished(&f, true, None)
}

async fn error(State(f): State<Fake>, body: String) -> StatusCode {
    finished(&f, false, Some(body))
}

struct Start {
    to_next: Duration,
    to_response: Duration,
    ok: bool,
    peak_kib: u64,
    error: Option<String>,
}

fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn start_once(binary: &Path, name: &str, event: &str, env: &[(String, String)]) -> Start {
    let fake = Fake {
        seen: Arc::new(Mutex::new(Seen::default())),
        event: Arc::new(event.to_owned()),
        done: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("aourly-visma-{name}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/aourly-visma-{name}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let t0 = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let pid = child.id().unwrap_or(0);
    let waited = tokio::time::timeout(Duration::from_secs(30), fake.done.notified()).await;
    // Let the runtime come back for its next event, so the peak covers the whole invocation.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let peak = peak_kib(pid);
    let _ = child.kill().await;
    server.abort();
    let seen = fake.seen.lock().expect("lock");
    assert!(waited.is_ok(), "{name} gave no response within 30 s");
    let (at, ok) = seen.response.expect("a response");
    Start {
        to_next: seen.first_next.map_or(Duration::ZERO, |t| t - t0),
        to_response: at - t0,
        ok,
        peak_kib: peak,
        error: seen.error_body.clone(),
    }
}

/// The two baselines: an empty `lambda_runtime` function, and the same with the DynamoDB and
/// SQS clients every function builds.
const EMPTY: &str = "empty-lambda";
const SDK_FLOOR: &str = "sdk-floor-lambda";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The webhook sample event, re-signed now with the bench's webhook secret so the first
/// invocation does the real work (signature, parse, connection read) instead of a 401.
fn signed_webhook_event(raw: &str, secret: &str) -> String {
    let mut event: serde_json::Value = serde_json::from_str(raw).expect("event JSON");
    let body = event["body"].as_str().unwrap_or_default().to_owned();
    let signature = domain::sign(
        secret.as_bytes(),
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    );
    event["headers"]["aourly-signature"] = serde_json::Value::String(signature);
    event.to_string()
}

pub async fn run(runs: usize) {
    let dir = PathBuf::from(
        std::env::var("BENCH_RELEASE_DIR")
            .unwrap_or_else(|_| "/root/.cache/aourly-visma/target-release/release".into()),
    );
    section(&format!(
        "5. Cold start: release binaries in {}, {runs} rounds starting each once against a fake Lambda Runtime API (median)",
        dir.display()
    ));
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let read =
        |f: &str| std::fs::read_to_string(events.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));

    // A table and queues in the emulator for the functions to use.
    let sb = integration_tests::sandbox().await;
    let deps = crate::fixtures::deps_with_sandbox(&sb, &[]).await;
    let endpoint = integration_tests::endpoint();
    let webhook_secret = "local-webhook-secret";
    let env: Vec<(String, String)> = [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "eu-north-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("RUST_LOG", "info".into()),
        ("TABLE_NAME", deps.config.table_name.clone()),
        ("SYNC_QUEUE_URL", deps.queue.url().into()),
        ("SYNC_DLQ_URL", deps.queue.dead_letter_url().into()),
        ("VISMA_IDENTITY_URL", sb.url()),
        ("VISMA_API_URL", sb.url()),
        ("VISMA_CLIENT_ID", "aourly-local".into()),
        ("VISMA_CLIENT_SECRET", "aourly-local-secret".into()),
        (
            "VISMA_REDIRECT_URI",
            "http://127.0.0.1:3000/oauth/visma/callback".into(),
        ),
        ("AOURLY_JWT_SECRET", "local-jwt-secret".into()),
        ("AOURLY_WEBHOOK_SECRET", webhook_secret.into()),
        ("AOURLY_EVENTS_SECRET", "local-events-secret".into()),
        (
            "AOURLY_RETURN_URL_PREFIXES",
            "http://localhost:5173/".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let functions: Vec<(&str, String)> = vec![
        (EMPTY, read("schedule.json")),
        (SDK_FLOOR, read("schedule.json")),
        ("api", read("api-health.json")),
        ("oauth-callback", read("oauth-callback-denied.json")),
        ("webhook", String::new()),
        ("sync-worker", read("sqs-batch.json")),
        ("scheduled-pull", read("schedule.json")),
    ];
    let missing: Vec<&str> = functions
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !dir.join(n).is_file())
        .collect();
    if !missing.is_empty() {
        note(format!(
            "not measured: no release binary for {} in {} (scripts/bench.sh builds them)",
            missing.join(", "),
            dir.display()
        ));
        if missing.contains(&EMPTY) {
            return;
        }
    }
    let functions: Vec<&(&str, String)> = functions
        .iter()
        .filter(|(n, _)| !missing.contains(n))
        .collect();
    let raw_webhook = read("webhook-invoice-created.json");

    // Round-robin: each round starts every binary once, so a drift in the machine's speed
    // (another process, CPU frequency) reaches every binary alike instead of skewing a ratio.
    let mut starts: Vec<Vec<Start>> = functions.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for ((name, event), starts) in functions.iter().zip(&mut starts) {
            let event = if *name == "webhook" {
                signed_webhook_event(&raw_webhook, webhook_secret)
            } else {
                event.clone()
            };
            starts.push(start_once(&dir.join(name), name, &event, &env).await);
        }
    }

    let mut empty: Option<(f64, f64)> = None;
    let mut floor: Option<(f64, f64)> = None;
    for ((name, _), starts) in functions.iter().zip(starts) {
        let size = std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        let all_ok = starts.iter().all(|s| s.ok);
        let error = starts.iter().find_map(|s| s.error.clone());
        let peak = starts.iter().map(|s| s.peak_kib).max().unwrap_or(0);
        let (n, r) = (
            ms(median(starts.iter().map(|s| s.to_next).collect())),
            ms(median(starts.iter().map(|s| s.to_response).collect())),
        );
        let mib = peak as f64 / 1024.0;
        let size_mib = size as f64 / 1024.0 / 1024.0;
        note(format!(
            "{name}: exec → first next {n:.2} ms, → first response {r:.2} ms{}; peak memory (VmHWM) {mib:.1} MiB; binary {size_mib:.1} MiB",
            if all_ok { String::new() } else { format!(" (an error response: {})", error.unwrap_or_default()) }
        ));
        let Some((en, er)) = empty else {
            empty = Some((n, r));
            figure(
                "Cold start, empty lambda_runtime function",
                format!("first next {n:.2} ms, first response {r:.2} ms, peak {mib:.1} MiB, binary {size_mib:.1} MiB"),
                "(baseline)",
                None,
            );
            continue;
        };
        if *name == SDK_FLOOR {
            floor = Some((n, r));
            figure(
                "Cold start, empty function + DynamoDB and SQS clients (SDK floor)",
                format!(
                    "first next {:.2}x of empty ({n:.2} ms), first response {:.2}x ({r:.2} ms), peak {mib:.1} MiB, binary {size_mib:.1} MiB",
                    n / en,
                    r / er
                ),
                "(second baseline)",
                None,
            );
            continue;
        }
        let of_floor = floor.map_or(String::new(), |(fln, _)| {
            format!("; {:.2}x of the SDK floor (+{:.2} ms)", n / fln, n - fln)
        });
        figure(
            &format!("Cold start, {name}"),
            format!(
                "first next {:.2}x ({n:.2} ms), first response {:.2}x ({r:.2} ms){of_floor}",
                n / en,
                r / er
            ),
            "≤ 1.5x of empty",
            Some(n / en <= 1.5 && r / er <= 1.5),
        );
        figure(
            &format!("Peak memory and binary size, {name}"),
            format!("{mib:.1} MiB peak, binary {size_mib:.1} MiB"),
            "< 30 MB peak",
            Some(peak * 1024 < 30_000_000),
        );
    }
}
