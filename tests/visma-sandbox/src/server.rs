//! Router assembly, the observing middleware (log, faults, auth, rate limit, scopes) and
//! the hyper accept loop that can drop a connection after the work is done.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;
use uuid::Uuid;

use crate::errors::ApiError;
use crate::state::Shared;
use crate::types::LoggedRequest;

/// How long after answering 504 a `gateway_timeout_then_commit` request is done.
pub const GATEWAY_COMMIT_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// What a gateway in front of Visma answers when it gives up waiting.
fn gateway_timeout_page() -> Response {
    (
        StatusCode::GATEWAY_TIMEOUT,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body><h1>504 Gateway Time-out</h1></body></html>",
    )
        .into_response()
}

/// Router state.
#[derive(Clone)]
pub struct App {
    pub state: Shared,
}

/// Who made a request, attached to responses by identity handlers for the log.
#[derive(Debug, Clone)]
pub struct LogInfo {
    pub client_id: Option<String>,
    pub company_id: Option<Uuid>,
}

/// Marker on a response: close the connection instead of writing it.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct ApiCtx {
    pub client_id: String,
    pub user: String,
    pub company_id: Uuid,
    pub scopes: Vec<String>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .merge(crate::identity::routes())
        .merge(crate::api::routes())
        .merge(crate::admin::routes())
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

async fn fallback(req: Request) -> Response {
    if req.uri().path().starts_with("/v2") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            3000,
            format!("No API endpoint matches '{}'", req.uri().path()),
        )
        .into_response()
    } else {
        (StatusCode::NOT_FOUND, "Not found").into_response()
    }
}

/// Scopes of which the token needs at least one (besides `ea:api`), by area and method.
pub fn required_scopes(method: &str, route: &str) -> &'static [&'static str] {
    let area = route
        .trim_start_matches("/v2/")
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let read = method == "GET" || method == "HEAD";
    match area.as_str() {
        "customers"
        | "articles"
        | "articleaccountcodings"
        | "units"
        | "customerinvoices"
        | "customerinvoicedrafts"
        | "companysettings" => {
            if read {
                &["ea:sales", "ea:sales_readonly"]
            } else {
                &["ea:sales"]
            }
        }
        "termsofpayments" => &[
            "ea:sales",
            "ea:sales_readonly",
            "ea:purchase",
            "ea:purchase_readonly",
        ],
        "vouchers" | "accounts" | "vatcodes" | "accountbalances" => {
            if read {
                &["ea:accounting", "ea:accounting_readonly"]
            } else {
                &["ea:accounting"]
            }
        }
        "fiscalyears" => {
            if read {
                &[
                    "ea:sales",
                    "ea:sales_readonly",
                    "ea:accounting",
                    "ea:accounting_readonly",
                ]
            } else {
                &["ea:sales", "ea:accounting"]
            }
        }
        _ => &[],
    }
}

fn take_rule(rules: &mut [crate::types::DropRule], method: &str, route: &str) -> bool {
    for r in rules.iter_mut() {
        if r.times > 0 && r.method.eq_ignore_ascii_case(method) && r.route == route {
            r.times -= 1;
            return true;
        }
    }
    false
}

async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    if path.starts_with("/_sandbox") {
        return next.run(req).await;
    }
    let is_api = path == "/v2" || path.starts_with("/v2/");
    let mut client_id = None;
    let mut company_id = None;
    let mut dropped = false;

    let resp = if is_api {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            });
        let (latency, inject, token) = {
            let mut st = app.state.lock();
            let inject = take_rule(&mut st.faults.server_error_on, &method, &route)
                || (st.faults.server_error_rate_percent > 0
                    && rand::rng().random_range(0u8..100) < st.faults.server_error_rate_percent);
            let token = bearer
                .as_deref()
                .and_then(|b| st.access_tokens.get(b))
                .cloned();
            (st.faults.latency, inject, token)
        };
        if let Some(t) = &token {
            client_id = Some(t.client_id.clone());
            company_id = Some(t.company_id);
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if inject {
            ApiError::internal().into_response()
        } else {
            match api_gate(&app, token, &method, &route) {
                Err(e) => e.into_response(),
                Ok(ctx) => {
                    req.extensions_mut().insert(ctx);
                    let gateway_gives_up = take_rule(
                        &mut app.state.lock().faults.gateway_timeout_then_commit,
                        &method,
                        &route,
                    );
                    if gateway_gives_up {
                        // The gateway answers now; Visma does the work a moment later.
                        tokio::spawn(async move {
                            tokio::time::sleep(GATEWAY_COMMIT_DELAY).await;
                            let _ = next.run(req).await;
                        });
                        gateway_timeout_page()
                    } else {
                        let mut resp = next.run(req).await;
                        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
                            resp = ApiError::new(
                                StatusCode::METHOD_NOT_ALLOWED,
                                4002,
                                format!(
                                "The requested resource does not support http method '{method}'."
                            ),
                            )
                            .into_response();
                        }
                        let mut st = app.state.lock();
                        if take_rule(&mut st.faults.drop_after_commit, &method, &route) {
                            dropped = true;
                            resp.extensions_mut().insert(DropConnection);
                        }
                        resp
                    }
                }
            }
        }
    } else {
        let resp = next.run(req).await;
        if let Some(info) = resp.extensions().get::<LogInfo>() {
            client_id = info.client_id.clone();
            company_id = info.company_id;
        }
        resp
    };
    let entry = LoggedRequest {
        at: Utc::now(),
        method,
        path,
        route,
        query,
        status: resp.status().as_u16(),
        client_id,
        company_id,
        dropped,
    };
    app.state.lock().log.push(entry);
    resp
}

/// Authentication, rate limit and scope check for one API request.
fn api_gate(
    app: &App,
    token: Option<crate::state::AccessToken>,
    method: &str,
    route: &str,
) -> Result<ApiCtx, ApiError> {
    let Some(token) = token else {
        return Err(ApiError::unauthorized());
    };
    let now = Instant::now();
    if now >= token.expires_at {
        return Err(ApiError::unauthorized());
    }
    let mut st = app.state.lock();
    let limit = st.rate_limit as usize;
    let window = st.rate_window;
    let key = (token.client_id.clone(), format!("{method} {route}"));
    let hits = st.rate.entry(key).or_default();
    while hits
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        hits.pop_front();
    }
    if hits.len() >= limit {
        let wait = hits
            .front()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window);
        let mut secs = wait.as_secs();
        if wait.subsec_nanos() > 0 || secs == 0 {
            secs += 1;
        }
        let per = if window.as_secs() == 60 && window.subsec_nanos() == 0 {
            "Minute".to_string()
        } else {
            format!("{} Seconds", window.as_secs().max(1))
        };
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            4010,
            format!(
                "API calls quota exceeded! maximum admitted {limit} per {per}. Try again in {secs} seconds."
            ),
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    hits.push_back(now);
    drop(st);
    let has = |s: &str| token.scopes.iter().any(|x| x == s);
    let needed = required_scopes(method, route);
    if !has("ea:api") || (!needed.is_empty() && !needed.iter().any(|s| has(s))) {
        let mut want = vec!["ea:api"];
        want.extend_from_slice(needed);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            4006,
            format!(
                "NoAccessToScopes - The access token lacks the scopes required for this endpoint (needs ea:api and any of: {}).",
                if needed.is_empty() { "-".to_string() } else { needed.join(", ") }
            ),
        ));
    }
    Ok(ApiCtx {
        client_id: token.client_id,
        user: token.user,
        company_id: token.company_id,
        scopes: token.scopes,
    })
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by visma-sandbox fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Accept loop: one hyper HTTP/1 connection task per socket. A response carrying
/// [`DropConnection`] makes the service fail, so hyper closes the socket unanswered.
pub async fn serve(listener: TcpListener, router: Router, shutdown: watch::Receiver<bool>) {
    let mut sd = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = sd.changed() => break,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let router = router.clone();
        let mut conn_sd = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let router = router.clone();
                async move {
                    let resp = match router.oneshot(req.map(Body::new)).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    if resp.extensions().get::<DropConnection>().is_some() {
                        Err(Dropped)
                    } else {
                        Ok(resp)
                    }
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = conn_sd.changed() => {}
            }
        });
    }
}
