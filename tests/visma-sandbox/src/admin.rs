//! Control operations shared by [`crate::Sandbox`] and the `/_sandbox/...` admin API.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::errors::{ApiError, ApiResult};
use crate::paging::Query;
use crate::server::App;
use crate::state::{Account, FiscalYear, Shared, DEFAULT_USER};
use crate::types::{CompanyInfo, DropRule, Faults, LoggedRequest, TokenPair};

impl Shared {
    pub fn companies(&self) -> Vec<CompanyInfo> {
        self.lock()
            .companies
            .iter()
            .map(|c| c.info.clone())
            .collect()
    }

    pub fn issue_tokens(&self, client_id: &str, company_id: Uuid, scopes: &[&str]) -> TokenPair {
        let mut st = self.lock();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_string()).collect();
        let (access, refresh) = st.issue(client_id, DEFAULT_USER, company_id, &scopes, true);
        TokenPair {
            access_token: access,
            refresh_token: refresh.unwrap_or_default(),
            expires_in: st.access_token_lifetime.as_secs(),
        }
    }

    pub fn set_auto_approve(&self, on: bool, company_id: Option<Uuid>) {
        let mut st = self.lock();
        st.auto_approve = on;
        st.auto_approve_company = company_id;
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn set_rate_limit(&self, per_window: u32, window: Duration) {
        let mut st = self.lock();
        st.rate_limit = per_window;
        st.rate_window = window;
    }

    pub fn revoke_all_tokens(&self) {
        let mut st = self.lock();
        st.access_tokens.clear();
        st.refresh_tokens.clear();
        st.codes.clear();
    }

    pub fn password_changed(&self, user: &str) {
        let mut st = self.lock();
        st.access_tokens.retain(|_, t| t.user != user);
        st.refresh_tokens.retain(|_, t| t.user != user);
        st.codes.retain(|_, c| c.user != user);
    }

    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for t in self.lock().access_tokens.values_mut() {
            t.expires_at = now;
        }
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_request_log(&self) {
        self.lock().log.clear();
    }

    pub fn count(&self, method: &str, route: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.method.eq_ignore_ascii_case(method) && l.route == route)
            .count()
    }

    fn company_list(
        &self,
        company_id: Uuid,
        pick: fn(&crate::state::Company) -> &Vec<Value>,
    ) -> Vec<Value> {
        self.lock()
            .company(company_id)
            .map(|c| pick(c).clone())
            .unwrap_or_default()
    }

    pub fn customer_invoices(&self, company_id: Uuid) -> Vec<Value> {
        self.company_list(company_id, |c| &c.invoices)
    }

    pub fn customers(&self, company_id: Uuid) -> Vec<Value> {
        self.company_list(company_id, |c| &c.customers)
    }

    pub fn vouchers(&self, company_id: Uuid) -> Vec<Value> {
        self.company_list(company_id, |c| &c.vouchers)
    }

    pub fn add_account(
        &self,
        company_id: Uuid,
        fiscal_year_id: Uuid,
        number: &str,
        name: &str,
    ) -> ApiResult<()> {
        let n: u64 = number.trim().parse().map_err(|_| {
            ApiError::field(
                "Number",
                "InvalidType",
                "Account number must be an integer.",
            )
        })?;
        let mut st = self.lock();
        let now = st.tick();
        let c = st
            .company_mut(company_id)
            .ok_or_else(|| ApiError::not_found("Company"))?;
        if c.fiscal_year(fiscal_year_id).is_none() {
            return Err(ApiError::not_found("FiscalYear"));
        }
        if let Some(a) = c
            .accounts
            .iter_mut()
            .find(|a| a.fiscal_year_id == fiscal_year_id && a.number == n)
        {
            a.name = name.to_string();
            a.active = true;
            a.modified = now;
        } else {
            c.accounts.push(Account {
                fiscal_year_id,
                number: n,
                name: name.to_string(),
                active: true,
                blocked_for_manual_booking: false,
                vat_code_id: None,
                vat_code_description: None,
                created: now,
                modified: now,
            });
            c.accounts.sort_by_key(|a| (a.fiscal_year_id, a.number));
        }
        Ok(())
    }

    /// Adds a fiscal year (accounts copied from the latest existing year, like Visma does).
    pub fn add_fiscal_year(
        &self,
        company_id: Uuid,
        start: NaiveDate,
        end: NaiveDate,
    ) -> ApiResult<Uuid> {
        let mut st = self.lock();
        let now = st.tick();
        let c = st
            .company_mut(company_id)
            .ok_or_else(|| ApiError::not_found("Company"))?;
        if end < start {
            return Err(ApiError::field(
                "EndDate",
                "Range",
                "EndDate must be after StartDate.",
            ));
        }
        if c.fiscal_years
            .iter()
            .any(|f| f.start <= end && start <= f.end)
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                4020,
                "FiscalYearOverlaps - The fiscal year overlaps an existing fiscal year.",
            ));
        }
        let id = Uuid::new_v4();
        let template = c.fiscal_years.iter().max_by_key(|f| f.end).map(|f| f.id);
        let copied: Vec<Account> = template
            .map(|t| {
                c.accounts
                    .iter()
                    .filter(|a| a.fiscal_year_id == t)
                    .map(|a| Account {
                        fiscal_year_id: id,
                        created: now,
                        modified: now,
                        ..a.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        c.accounts.extend(copied);
        c.accounts.sort_by_key(|a| (a.fiscal_year_id, a.number));
        c.fiscal_years.push(FiscalYear {
            id,
            start,
            end,
            locked: false,
            bookkeeping_method: 0,
        });
        c.fiscal_years.sort_by_key(|f| f.start);
        Ok(id)
    }

    /// Changes what `/v2/companysettings` reports, as the owner would in Visma's settings (or
    /// Visma's sales would, for the plan). `patch` uses Visma's own field names:
    /// `ProductVariant`, `ShowPricesExclVatPC`, `DomesticCurrencyRounding`,
    /// `UsesReverseConstructionVat`, `UsesRotReducedInvoicing`, `AccountingLockedTo`; fields
    /// left out keep their value.
    pub fn set_company_settings(&self, company_id: Uuid, patch: &Value) -> ApiResult<()> {
        let mut st = self.lock();
        let c = st
            .company_mut(company_id)
            .ok_or_else(|| ApiError::not_found("Company"))?;
        let bad = |field: &str| {
            ApiError::field(field, "InvalidValue", format!("{field} has the wrong type"))
        };
        let obj = patch.as_object().ok_or_else(|| bad(""))?;
        for (key, value) in obj {
            match key.as_str() {
                "ProductVariant" => {
                    c.product_variant = value
                        .as_i64()
                        .and_then(|v| i32::try_from(v).ok())
                        .filter(|v| (1..=6).contains(v))
                        .ok_or_else(|| bad(key))?
                }
                "ShowPricesExclVatPC" => {
                    c.booking.show_prices_excl_vat_pc = value.as_bool().ok_or_else(|| bad(key))?
                }
                "DomesticCurrencyRounding" => {
                    c.booking.domestic_currency_rounding = value
                        .as_i64()
                        .and_then(|v| i32::try_from(v).ok())
                        .filter(|v| matches!(v, 0 | 1))
                        .ok_or_else(|| bad(key))?
                }
                "UsesReverseConstructionVat" => {
                    c.booking.uses_reverse_construction_vat =
                        value.as_bool().ok_or_else(|| bad(key))?
                }
                "UsesRotReducedInvoicing" => {
                    c.booking.uses_rot_reduced_invoicing =
                        value.as_bool().ok_or_else(|| bad(key))?
                }
                "AccountingLockedTo" => {
                    c.booking.accounting_locked_to = match value {
                        Value::Null => None,
                        Value::String(raw) => Some(
                            NaiveDate::parse_from_str(&raw[..raw.len().min(10)], "%Y-%m-%d")
                                .map_err(|_| bad(key))?,
                        ),
                        _ => return Err(bad(key)),
                    }
                }
                _ => {
                    return Err(ApiError::field(
                        key,
                        "UnknownField",
                        format!("{key} is not a setting the sandbox keeps"),
                    ))
                }
            }
        }
        Ok(())
    }

    pub fn lock_fiscal_year(&self, company_id: Uuid, fiscal_year_id: Uuid) -> ApiResult<()> {
        let mut st = self.lock();
        let c = st
            .company_mut(company_id)
            .ok_or_else(|| ApiError::not_found("Company"))?;
        let fy = c
            .fiscal_years
            .iter_mut()
            .find(|f| f.id == fiscal_year_id)
            .ok_or_else(|| ApiError::not_found("FiscalYear"))?;
        fy.locked = true;
        Ok(())
    }

    /// Creates a customer as if entered in Visma's UI (same validation as `POST /v2/customers`).
    /// `TermsOfPaymentId` defaults to the company's first terms of payment.
    pub fn add_customer(&self, company_id: Uuid, customer: &Value) -> ApiResult<Value> {
        let mut obj = customer.as_object().cloned().ok_or_else(|| {
            ApiError::field("", "InvalidType", "The customer must be a JSON object.")
        })?;
        let mut st = self.lock();
        crate::api::on_company(&mut st, company_id, |c, now| {
            if !obj.contains_key("TermsOfPaymentId") {
                if let Some(id) = c.terms.first().and_then(|t| t.get("Id")).cloned() {
                    obj.insert("TermsOfPaymentId".into(), id);
                }
            }
            crate::api::customers::save_customer(c, now, &obj, None)
        })
    }

    /// Changes a customer as if edited in Visma's UI: `changes` (fields of `POST
    /// /v2/customers`) replace those fields, the rest stay, and the whole is saved as
    /// `PUT /v2/customers/{id}` would save it (same validation, `ChangedUtc` moves).
    pub fn update_customer(
        &self,
        company_id: Uuid,
        customer_id: Uuid,
        changes: &Value,
    ) -> ApiResult<Value> {
        let changes = changes.as_object().cloned().ok_or_else(|| {
            ApiError::field("", "InvalidType", "The changes must be a JSON object.")
        })?;
        let mut st = self.lock();
        crate::api::on_company(&mut st, company_id, |c, now| {
            let i = crate::state::position_by_id(&c.customers, customer_id)
                .ok_or_else(|| ApiError::not_found("Customer"))?;
            let mut obj = c.customers[i].as_object().cloned().unwrap_or_default();
            obj.extend(changes);
            crate::api::customers::save_customer(c, now, &obj, Some(customer_id))
        })
    }

    pub fn book_manual_voucher(&self, company_id: Uuid, voucher: &Value) -> ApiResult<Value> {
        let obj = voucher.as_object().cloned().ok_or_else(|| {
            ApiError::field("", "InvalidType", "The voucher must be a JSON object.")
        })?;
        let v = crate::api::vouchers::parse(&obj, &Query::default())?;
        let mut st = self.lock();
        crate::api::on_company(&mut st, company_id, |c, now| {
            crate::api::vouchers::book(c, now, v, 4038)
        })
    }
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/_sandbox/log", get(get_log).delete(clear_log))
        .route("/_sandbox/count", get(count))
        .route("/_sandbox/faults", put(put_faults))
        .route("/_sandbox/rate-limit", put(put_rate_limit))
        .route("/_sandbox/revoke-all", post(revoke_all))
        .route(
            "/_sandbox/users/{user}/password-changed",
            post(password_changed),
        )
        .route("/_sandbox/expire-access-tokens", post(expire))
        .route("/_sandbox/auto-approve", put(auto_approve))
        .route("/_sandbox/tokens", post(tokens))
        .route("/_sandbox/companies", get(companies))
        .route("/_sandbox/companies/{id}/customers", get(customers))
        .route("/_sandbox/companies/{id}/customer-invoices", get(invoices))
        .route(
            "/_sandbox/companies/{id}/vouchers",
            get(vouchers).post(book_voucher),
        )
        .route("/_sandbox/companies/{id}/fiscal-years", post(add_year))
        .route("/_sandbox/companies/{id}/settings", put(put_settings))
        .route(
            "/_sandbox/companies/{id}/fiscal-years/{fy}/lock",
            post(lock_year),
        )
        .route(
            "/_sandbox/companies/{id}/fiscal-years/{fy}/accounts",
            post(add_account),
        )
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    let src: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(src).map_err(|e| ApiError::field("", "InvalidJson", e.to_string()))
}

fn company_id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found("Company"))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn get_log(State(app): State<App>) -> Response {
    Json(app.state.request_log()).into_response()
}

async fn clear_log(State(app): State<App>) -> Response {
    app.state.clear_request_log();
    no_content()
}

async fn count(State(app): State<App>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref())?;
    let method = q.get("method").unwrap_or("GET");
    let route = q.get("route").unwrap_or_default();
    Ok(Json(json!({"count": app.state.count(method, route)})).into_response())
}

#[derive(Deserialize)]
struct FaultsBody {
    #[serde(default)]
    server_error_rate_percent: u8,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    token_latency_ms: u64,
    #[serde(default)]
    drop_after_commit: Vec<DropRule>,
    #[serde(default)]
    gateway_timeout_then_commit: Vec<DropRule>,
    #[serde(default)]
    server_error_on: Vec<DropRule>,
}

async fn put_faults(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: FaultsBody = parse_body(&body)?;
    if b.server_error_rate_percent > 100 {
        return Err(ApiError::field(
            "server_error_rate_percent",
            "Range",
            "0..=100",
        ));
    }
    app.state.set_faults(Faults {
        server_error_rate_percent: b.server_error_rate_percent,
        latency: Duration::from_millis(b.latency_ms),
        token_latency: Duration::from_millis(b.token_latency_ms),
        drop_after_commit: b.drop_after_commit,
        gateway_timeout_then_commit: b.gateway_timeout_then_commit,
        server_error_on: b.server_error_on,
    });
    Ok(no_content())
}

#[derive(Deserialize)]
struct RateBody {
    per_window: u32,
    window_secs: Option<u64>,
    window_ms: Option<u64>,
}

async fn put_rate_limit(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: RateBody = parse_body(&body)?;
    let window = match (b.window_ms, b.window_secs) {
        (Some(ms), _) => Duration::from_millis(ms),
        (None, Some(s)) => Duration::from_secs(s),
        (None, None) => Duration::from_secs(60),
    };
    app.state.set_rate_limit(b.per_window, window);
    Ok(no_content())
}

async fn revoke_all(State(app): State<App>) -> Response {
    app.state.revoke_all_tokens();
    no_content()
}

async fn password_changed(State(app): State<App>, Path(user): Path<String>) -> Response {
    app.state.password_changed(&user);
    no_content()
}

async fn expire(State(app): State<App>) -> Response {
    app.state.expire_access_tokens();
    no_content()
}

#[derive(Deserialize)]
struct AutoApproveBody {
    on: bool,
    company_id: Option<Uuid>,
}

async fn auto_approve(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: AutoApproveBody = parse_body(&body)?;
    app.state.set_auto_approve(b.on, b.company_id);
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize)]
struct TokensBody {
    client_id: Option<String>,
    company_id: Option<Uuid>,
    scopes: Option<Scopes>,
}

async fn tokens(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: TokensBody = parse_body(&body)?;
    let (client, company) = {
        let st = app.state.lock();
        let client = b
            .client_id
            .or_else(|| st.clients.first().map(|c| c.client_id.clone()))
            .unwrap_or_default();
        let company = b
            .company_id
            .or_else(|| st.companies.first().map(|c| c.info.id))
            .unwrap_or_default();
        if st.company(company).is_none() {
            return Err(ApiError::not_found("Company"));
        }
        (client, company)
    };
    let scopes: Vec<String> = match b.scopes {
        Some(Scopes::List(l)) => l,
        Some(Scopes::Text(t)) => t.split_whitespace().map(str::to_string).collect(),
        None => ["ea:api", "offline_access", "ea:sales", "ea:accounting"]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
    };
    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let pair = app.state.issue_tokens(&client, company, &refs);
    Ok(Json(json!({
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "company_id": company,
        "client_id": client,
    }))
    .into_response())
}

async fn companies(State(app): State<App>) -> Response {
    Json(app.state.companies()).into_response()
}

async fn customers(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(app.state.customers(company_id(&id)?)).into_response())
}

async fn invoices(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(app.state.customer_invoices(company_id(&id)?)).into_response())
}

async fn vouchers(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(app.state.vouchers(company_id(&id)?)).into_response())
}

async fn book_voucher(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let v: Value = parse_body(&body)?;
    let out = app.state.book_manual_voucher(company_id(&id)?, &v)?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[derive(Deserialize)]
struct YearBody {
    start: NaiveDate,
    end: NaiveDate,
}

async fn add_year(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: YearBody = parse_body(&body)?;
    let fy = app
        .state
        .add_fiscal_year(company_id(&id)?, b.start, b.end)?;
    Ok((StatusCode::CREATED, Json(json!({"id": fy}))).into_response())
}

async fn put_settings(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let patch: Value = parse_body(&body)?;
    app.state.set_company_settings(company_id(&id)?, &patch)?;
    Ok(no_content())
}

async fn lock_year(
    State(app): State<App>,
    Path((id, fy)): Path<(String, String)>,
) -> ApiResult<Response> {
    let fy = Uuid::parse_str(&fy).map_err(|_| ApiError::not_found("FiscalYear"))?;
    app.state.lock_fiscal_year(company_id(&id)?, fy)?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct AccountBody {
    number: String,
    name: String,
}

async fn add_account(
    State(app): State<App>,
    Path((id, fy)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: AccountBody = parse_body(&body)?;
    let fy = Uuid::parse_str(&fy).map_err(|_| ApiError::not_found("FiscalYear"))?;
    app.state
        .add_account(company_id(&id)?, fy, &b.number, &b.name)?;
    Ok(no_content())
}
