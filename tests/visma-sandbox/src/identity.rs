//! The OAuth identity server: `/connect/authorize` (consent page), `/connect/token`,
//! `/connect/revocation` and a minimal discovery document.

use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;
use uuid::Uuid;

use crate::paging::Query;
use crate::server::{App, LogInfo};
use crate::state::{AuthCode, PendingAuth, State as SbState, DEFAULT_USER};
use crate::util::random_token;

pub const CODE_LIFETIME: Duration = Duration::from_secs(300);
const PENDING_LIFETIME: Duration = Duration::from_secs(3600);

/// Scopes the identity server knows, with the words shown on the consent page.
pub const KNOWN_SCOPES: &[(&str, &str)] = &[
    ("ea:api", "Use the Visma eAccounting API on your behalf"),
    (
        "offline_access",
        "Stay connected when you are not using the app (refresh tokens)",
    ),
    (
        "ea:sales",
        "Read and change sales data: customers, articles, invoice drafts and customer invoices",
    ),
    (
        "ea:sales_readonly",
        "Read sales data: customers, articles and customer invoices",
    ),
    (
        "ea:accounting",
        "Read and change accounting data: vouchers, accounts, fiscal years and VAT codes",
    ),
    (
        "ea:accounting_readonly",
        "Read accounting data: vouchers, accounts, fiscal years and VAT codes",
    ),
    (
        "ea:purchase",
        "Read and change purchase data: suppliers and supplier invoices",
    ),
    ("ea:purchase_readonly", "Read purchase data"),
    ("ea:settings", "Read and change company settings"),
    ("ea:settings_readonly", "Read company settings"),
    ("openid", "Know who you are (your user id)"),
    ("profile", "Read your name"),
    ("email", "Read your e-mail address"),
    ("vls:api", "Use the Visma payroll API"),
];

pub fn routes() -> Router<App> {
    Router::new()
        .route("/connect/authorize", get(authorize))
        .route("/connect/authorize/decision", post(decision))
        .route("/connect/token", post(token))
        .route("/connect/revocation", post(revocation))
        .route("/.well-known/openid-configuration", get(discovery))
}

fn with_log(mut resp: Response, client_id: Option<String>, company_id: Option<Uuid>) -> Response {
    resp.extensions_mut().insert(LogInfo {
        client_id,
        company_id,
    });
    resp
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error - Visma (sandbox)</title></head>\
         <body><h1>Error</h1><p id=\"error\">{}</p><p id=\"error_description\">{}</p></body></html>",
        esc(title),
        esc(detail)
    );
    (status, Html(body)).into_response()
}

/// 302 to `redirect_uri` with the given parameters appended to its query.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let target = match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut qp = u.query_pairs_mut();
                for (k, v) in params {
                    qp.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    };
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn redirect_error(redirect_uri: &str, error: &str, desc: &str, state: Option<&str>) -> Response {
    let mut params = vec![("error", error), ("error_description", desc)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect_with(redirect_uri, &params)
}

fn issue_code(st: &mut SbState, p: &PendingAuth, company_id: Uuid) -> String {
    let code = random_token();
    st.codes.insert(
        code.clone(),
        AuthCode {
            client_id: p.client_id.clone(),
            redirect_uri: p.redirect_uri.clone(),
            scopes: p.scopes.clone(),
            user: p.user.clone(),
            company_id,
            code_challenge: p.code_challenge.clone(),
            code_challenge_method: p.code_challenge_method.clone(),
            expires_at: Instant::now() + CODE_LIFETIME,
            used: false,
        },
    );
    code
}

fn code_redirect(p: &PendingAuth, code: &str) -> Response {
    let mut params = vec![("code", code)];
    if let Some(s) = p.state.as_deref() {
        params.push(("state", s));
    }
    redirect_with(&p.redirect_uri, &params)
}

async fn authorize(State(app): State<App>, RawQuery(raw): RawQuery) -> Response {
    let q = match Query::parse(raw.as_deref()) {
        Ok(q) => q,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "invalid_request", "bad query"),
    };
    let client_id = q.get("client_id").unwrap_or_default().to_string();
    let log_client = (!client_id.is_empty()).then(|| client_id.clone());
    let mut st = app.state.lock();
    let Some(client) = st.client(&client_id).cloned() else {
        return with_log(
            error_page(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "Unknown client or client not enabled",
            ),
            log_client,
            None,
        );
    };
    let redirect_uri = q.get("redirect_uri").unwrap_or_default().to_string();
    let uri_ok = url::Url::parse(&redirect_uri).is_ok()
        && (client.redirect_uris.is_empty() || client.redirect_uris.contains(&redirect_uri));
    if !uri_ok {
        return with_log(
            error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid redirect_uri",
            ),
            log_client,
            None,
        );
    }
    let state_param = q.get("state").map(str::to_string);
    if q.get("response_type") != Some("code") {
        return with_log(
            redirect_error(
                &redirect_uri,
                "unsupported_response_type",
                "Only response_type=code is supported",
                state_param.as_deref(),
            ),
            log_client,
            None,
        );
    }
    let scopes: Vec<String> = q
        .get("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let unknown: Vec<&String> = scopes
        .iter()
        .filter(|s| !KNOWN_SCOPES.iter().any(|(k, _)| k == s))
        .collect();
    if scopes.is_empty() || !unknown.is_empty() {
        return with_log(
            redirect_error(
                &redirect_uri,
                "invalid_scope",
                "Missing or unknown scope",
                state_param.as_deref(),
            ),
            log_client,
            None,
        );
    }
    let challenge = q.get("code_challenge").map(str::to_string);
    let method = match (challenge.as_ref(), q.get("code_challenge_method")) {
        (None, _) => None,
        (Some(_), None) => Some("plain".to_string()),
        (Some(_), Some(m)) if m == "plain" || m == "S256" => Some(m.to_string()),
        (Some(_), Some(_)) => {
            return with_log(
                redirect_error(
                    &redirect_uri,
                    "invalid_request",
                    "Transform algorithm not supported",
                    state_param.as_deref(),
                ),
                log_client,
                None,
            )
        }
    };
    let user = q
        .get("login_hint")
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(DEFAULT_USER)
        .to_string();
    let pending = PendingAuth {
        client_id: client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scopes: scopes.clone(),
        state: state_param,
        user: user.clone(),
        code_challenge: challenge,
        code_challenge_method: method,
        created: Instant::now(),
    };
    if st.auto_approve {
        let company = st
            .auto_approve_company
            .filter(|c| st.company(*c).is_some())
            .or_else(|| st.companies.first().map(|c| c.info.id));
        let Some(company) = company else {
            return error_page(StatusCode::BAD_REQUEST, "no_company", "No company");
        };
        let code = issue_code(&mut st, &pending, company);
        return with_log(code_redirect(&pending, &code), log_client, Some(company));
    }
    let acr = q.get("acr_values").unwrap_or_default();
    let force = acr
        .split([' ', '+'])
        .any(|v| v.eq_ignore_ascii_case("forceselectcompany:true"));
    let prompt = q.get("prompt").unwrap_or_default();
    let show_picker = force
        || prompt
            .split_whitespace()
            .any(|p| p == "login" || p == "select_account")
        || user != DEFAULT_USER;
    let request_id = random_token();
    st.pending
        .retain(|_, p| p.created.elapsed() < PENDING_LIFETIME);
    st.pending.insert(request_id.clone(), pending);
    let companies: Vec<(Uuid, String, String)> = st
        .companies
        .iter()
        .map(|c| {
            (
                c.info.id,
                c.info.name.clone(),
                c.info.corporate_identity_number.clone(),
            )
        })
        .collect();
    drop(st);
    let page = consent_page(
        &client_id,
        &user,
        &scopes,
        &companies,
        show_picker,
        &request_id,
    );
    with_log(Html(page).into_response(), log_client, None)
}

fn consent_page(
    client_id: &str,
    user: &str,
    scopes: &[String],
    companies: &[(Uuid, String, String)],
    show_picker: bool,
    request_id: &str,
) -> String {
    let mut scope_items = String::new();
    for s in scopes {
        let words = KNOWN_SCOPES
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, w)| *w)
            .unwrap_or("");
        scope_items.push_str(&format!(
            "      <li data-scope=\"{}\">{} <code>{}</code></li>\n",
            esc(s),
            esc(words),
            esc(s)
        ));
    }
    let mut company_html = String::new();
    if show_picker {
        company_html.push_str(
            "    <fieldset id=\"company-picker\">\n      <legend>Choose company</legend>\n",
        );
        for (i, (id, name, org)) in companies.iter().enumerate() {
            let checked = if i == 0 { " checked" } else { "" };
            company_html.push_str(&format!(
                "      <label><input type=\"radio\" name=\"company_id\" value=\"{id}\"{checked}> {} ({})</label><br>\n",
                esc(name),
                esc(org)
            ));
        }
        company_html.push_str("    </fieldset>\n");
    } else if let Some((id, name, org)) = companies.first() {
        company_html.push_str(&format!(
            "    <p id=\"default-company\">Company: <strong>{} ({})</strong> (your default company)</p>\n    <input type=\"hidden\" name=\"company_id\" value=\"{id}\">\n",
            esc(name),
            esc(org)
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Grant access - Visma eAccounting (sandbox)</title></head>
<body>
  <h1>Visma eAccounting (sandbox)</h1>
  <p>Signed in as <strong id="user">{user}</strong></p>
  <p>The application <strong id="client-id">{client}</strong> requests permission to:</p>
  <form method="post" action="/connect/authorize/decision">
    <ul id="scopes">
{scope_items}    </ul>
{company_html}    <input type="hidden" name="request_id" value="{rid}">
    <button type="submit" name="decision" value="grant">Grant Access</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </form>
</body>
</html>
"#,
        user = esc(user),
        client = esc(client_id),
        rid = esc(request_id),
    )
}

async fn decision(State(app): State<App>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let _ = headers;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut st = app.state.lock();
    let Some(pending) = get("request_id").and_then(|r| st.pending.remove(r)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Unknown or already used authorization request",
        );
    };
    let log_client = Some(pending.client_id.clone());
    if get("decision").unwrap_or("grant") != "grant" {
        return with_log(
            redirect_error(
                &pending.redirect_uri,
                "access_denied",
                "The user denied access",
                pending.state.as_deref(),
            ),
            log_client,
            None,
        );
    }
    let company = get("company_id")
        .and_then(|c| Uuid::parse_str(c).ok())
        .or_else(|| st.companies.first().map(|c| c.info.id));
    let Some(company) = company.filter(|c| st.company(*c).is_some()) else {
        return with_log(
            error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Unknown company",
            ),
            log_client,
            None,
        );
    };
    let code = issue_code(&mut st, &pending, company);
    with_log(code_redirect(&pending, &code), log_client, Some(company))
}

fn oauth_error(status: StatusCode, error: &str, desc: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({"error": error, "error_description": desc})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Client credentials from HTTP Basic or the form body; `Err` is an `invalid_client` reply.
fn authenticate_client(
    st: &SbState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<String, (&'static str, Option<String>)> {
    let body_get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_string())
        });
    let creds = match basic {
        Some(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(("Malformed Basic credentials", None));
            };
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((dec(id), dec(secret)))
        }
        None => body_get("client_id").map(|id| (id, body_get("client_secret").unwrap_or_default())),
    };
    let Some((id, secret)) = creds else {
        return Err(("No client credentials", None));
    };
    match st.client(&id) {
        Some(c) if c.client_secret == secret => Ok(id),
        _ => Err(("Invalid client credentials", Some(id))),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

fn verify_pkce(code: &AuthCode, verifier: Option<&str>) -> bool {
    let Some(challenge) = code.code_challenge.as_deref() else {
        return true;
    };
    let Some(verifier) = verifier else {
        return false;
    };
    match code.code_challenge_method.as_deref() {
        Some("S256") => {
            let digest = sha2::Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge
        }
        _ => verifier == challenge,
    }
}

async fn token(State(app): State<App>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let latency = app.state.lock().faults.token_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !is_form(&headers) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Token requests must be application/x-www-form-urlencoded",
        );
    }
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Malformed form body",
        );
    };
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut st = app.state.lock();
    let client_id = match authenticate_client(&st, &headers, &form) {
        Ok(c) => c,
        Err((desc, id)) => {
            return with_log(
                oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", desc),
                id,
                None,
            )
        }
    };
    let log_client = Some(client_id.clone());
    let lifetime = st.access_token_lifetime.as_secs();
    let reply = |access: String, refresh: Option<String>, scopes: &[String]| {
        let mut v = json!({
            "access_token": access,
            "expires_in": lifetime,
            "token_type": "Bearer",
            "scope": scopes.join(" "),
        });
        if let Some(r) = refresh {
            v["refresh_token"] = Value::String(r);
        }
        let mut resp = (StatusCode::OK, axum::Json(v)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    };
    match get("grant_type") {
        Some("authorization_code") => {
            let Some(code_str) = get("code") else {
                return with_log(
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "code is missing",
                    ),
                    log_client,
                    None,
                );
            };
            let Some(code) = st.codes.get_mut(code_str) else {
                return with_log(
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid authorization code",
                    ),
                    log_client,
                    None,
                );
            };
            let company = code.company_id;
            let problem = if code.used {
                Some("Authorization code has already been used")
            } else if Instant::now() >= code.expires_at {
                Some("Authorization code has expired")
            } else if code.client_id != client_id {
                Some("Authorization code was issued to another client")
            } else if get("redirect_uri") != Some(code.redirect_uri.as_str()) {
                Some("redirect_uri does not match the authorization request")
            } else if !verify_pkce(code, get("code_verifier")) {
                Some("Invalid code_verifier")
            } else {
                None
            };
            code.used = true;
            if let Some(p) = problem {
                return with_log(
                    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", p),
                    log_client,
                    Some(company),
                );
            }
            let code = code.clone();
            let with_refresh = code.scopes.iter().any(|s| s == "offline_access");
            let (a, r) = st.issue(&client_id, &code.user, company, &code.scopes, with_refresh);
            with_log(reply(a, r, &code.scopes), log_client, Some(company))
        }
        Some("refresh_token") => {
            let Some(rt) = get("refresh_token") else {
                return with_log(
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "refresh_token is missing",
                    ),
                    log_client,
                    None,
                );
            };
            let valid = st
                .refresh_tokens
                .get(rt)
                .is_some_and(|t| t.client_id == client_id);
            if !valid {
                return with_log(
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid refresh token",
                    ),
                    log_client,
                    None,
                );
            }
            let Some(old) = st.refresh_tokens.remove(rt) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid refresh token",
                );
            };
            let (a, r) = st.issue(&client_id, &old.user, old.company_id, &old.scopes, true);
            with_log(reply(a, r, &old.scopes), log_client, Some(old.company_id))
        }
        Some(_) => with_log(
            oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            ),
            log_client,
            None,
        ),
        None => with_log(
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            ),
            log_client,
            None,
        ),
    }
}

async fn revocation(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !is_form(&headers) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Revocation requests must be application/x-www-form-urlencoded",
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut st = app.state.lock();
    let client_id = match authenticate_client(&st, &headers, &form) {
        Ok(c) => c,
        Err((desc, id)) => {
            return with_log(
                oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", desc),
                id,
                None,
            )
        }
    };
    let Some(token) = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
    else {
        return with_log(
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "token is missing",
            ),
            Some(client_id),
            None,
        );
    };
    let mut company = None;
    if st
        .refresh_tokens
        .get(&token)
        .is_some_and(|t| t.client_id == client_id)
    {
        company = st.refresh_tokens.remove(&token).map(|t| t.company_id);
    }
    if st
        .access_tokens
        .get(&token)
        .is_some_and(|t| t.client_id == client_id)
    {
        company = st.access_tokens.remove(&token).map(|t| t.company_id);
    }
    with_log(StatusCode::OK.into_response(), Some(client_id), company)
}

async fn discovery(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}");
    axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/connect/authorize"),
        "token_endpoint": format!("{base}/connect/token"),
        "revocation_endpoint": format!("{base}/connect/revocation"),
        "scopes_supported": KNOWN_SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
    }))
    .into_response()
}
