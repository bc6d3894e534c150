//! visma-sandbox: a local, stateful simulator of the Visma eAccounting (eEkonomi) API v2
//! and its OAuth identity server, for tests and local demos. Nothing reaches the internet.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use visma_sandbox::{Sandbox, SandboxConfig};
//! let sb = Sandbox::start(SandboxConfig::default()).await?;
//! let company = sb.companies()[0].id;
//! let tokens = sb.issue_tokens("aourly-local", company, &["ea:api", "ea:sales", "offline_access"]);
//! // GET {sb.url()}/v2/customers with `Authorization: Bearer {tokens.access_token}`
//! # Ok(()) }
//! ```
//!
//! See `docs/visma-sandbox.md` in the workspace for the full description.

#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub mod admin;
pub mod api;
pub mod errors;
pub mod filter;
pub mod identity;
pub mod paging;
pub mod seed;
pub mod server;
pub mod state;
pub mod types;
pub mod util;
pub mod validate;

pub use types::{
    ClientRegistration, CompanyInfo, DropRule, Faults, LoggedRequest, SandboxConfig, Seed,
    TokenPair,
};

use state::{Shared, State};

/// A running sandbox. It serves on a background task and stops when dropped.
pub struct Sandbox {
    shared: Shared,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sandbox {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Binds `addr` and starts serving.
    pub async fn start_on(addr: SocketAddr, config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Shared(Arc::new(Mutex::new(State::new(&config))));
        let router = server::router(server::App {
            state: shared.clone(),
        });
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, router, rx));
        Ok(Sandbox {
            shared,
            addr,
            shutdown: tx,
            task,
        })
    }

    /// `http://127.0.0.1:PORT` — both the identity URL (`/connect/...`) and the API URL (`/v2/...`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn companies(&self) -> Vec<CompanyInfo> {
        self.shared.companies()
    }

    /// Issues an access + refresh token pair for the test user without the browser flow.
    pub fn issue_tokens(&self, client_id: &str, company_id: Uuid, scopes: &[&str]) -> TokenPair {
        self.shared.issue_tokens(client_id, company_id, scopes)
    }

    /// Auto-approve authorizations (for `company_id`, or the first company when `None`).
    pub fn set_auto_approve(&self, on: bool, company_id: Option<Uuid>) {
        self.shared.set_auto_approve(on, company_id)
    }

    /// Replaces the current faults.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults)
    }

    pub fn set_rate_limit(&self, per_window: u32, window: Duration) {
        self.shared.set_rate_limit(per_window, window)
    }

    /// Every access and refresh token (and unused code) dies.
    pub fn revoke_all_tokens(&self) {
        self.shared.revoke_all_tokens()
    }

    /// Kills all tokens of `user` (e.g. `anna@example.se`).
    pub fn password_changed(&self, user: &str) {
        self.shared.password_changed(user)
    }

    /// Makes every current access token expired (refresh tokens stay valid).
    pub fn expire_access_tokens(&self) {
        self.shared.expire_access_tokens()
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.request_log()
    }

    pub fn clear_request_log(&self) {
        self.shared.clear_request_log()
    }

    /// Number of logged requests with this method and route template.
    pub fn count(&self, method: &str, route: &str) -> usize {
        self.shared.count(method, route)
    }

    pub fn customer_invoices(&self, company_id: Uuid) -> Vec<serde_json::Value> {
        self.shared.customer_invoices(company_id)
    }

    pub fn customers(&self, company_id: Uuid) -> Vec<serde_json::Value> {
        self.shared.customers(company_id)
    }

    pub fn vouchers(&self, company_id: Uuid) -> Vec<serde_json::Value> {
        self.shared.vouchers(company_id)
    }

    /// Adds (or re-activates/renames) an account in a fiscal year. Panics on unknown ids.
    pub fn add_account(&self, company_id: Uuid, fiscal_year_id: Uuid, number: &str, name: &str) {
        if let Err(e) = self
            .shared
            .add_account(company_id, fiscal_year_id, number, name)
        {
            panic!("add_account failed: {}", e.message);
        }
    }

    /// Adds an unlocked fiscal year with the chart of the latest year. Panics on overlap.
    pub fn add_fiscal_year(&self, company_id: Uuid, start: NaiveDate, end: NaiveDate) -> Uuid {
        match self.shared.add_fiscal_year(company_id, start, end) {
            Ok(id) => id,
            Err(e) => panic!("add_fiscal_year failed: {}", e.message),
        }
    }

    /// Changes what `/v2/companysettings` reports (Visma's field names; see
    /// `PUT /_sandbox/companies/{id}/settings`). Panics when a field is refused.
    pub fn set_company_settings(&self, company_id: Uuid, patch: serde_json::Value) {
        if let Err(e) = self.shared.set_company_settings(company_id, &patch) {
            panic!("set_company_settings failed: {}", e.message);
        }
    }

    pub fn lock_fiscal_year(&self, company_id: Uuid, fiscal_year_id: Uuid) {
        if let Err(e) = self.shared.lock_fiscal_year(company_id, fiscal_year_id) {
            panic!("lock_fiscal_year failed: {}", e.message);
        }
    }

    /// Creates a customer as if entered in Visma's UI (same validation as `POST /v2/customers`;
    /// `TermsOfPaymentId` defaults to the company's first terms). Not in the request log.
    /// Panics with the Visma error body when it is rejected.
    pub fn add_customer(&self, company_id: Uuid, customer: serde_json::Value) -> serde_json::Value {
        match self.shared.add_customer(company_id, &customer) {
            Ok(c) => c,
            Err(e) => panic!("add_customer rejected: {}", e.body()),
        }
    }

    /// Changes a customer as if edited in Visma's UI: the fields in `changes` replace the
    /// customer's, the rest stay (same validation as `PUT /v2/customers/{id}`; `ChangedUtc`
    /// moves, so the next pull reads it). Not in the request log. Panics on an unknown id or
    /// with the Visma error body when it is rejected.
    pub fn update_customer(
        &self,
        company_id: Uuid,
        customer_id: Uuid,
        changes: serde_json::Value,
    ) -> serde_json::Value {
        match self
            .shared
            .update_customer(company_id, customer_id, &changes)
        {
            Ok(c) => c,
            Err(e) => panic!("update_customer rejected: {}", e.body()),
        }
    }

    /// Books a voucher as if entered in Visma's UI (same validation as `POST /v2/vouchers`).
    /// Panics with the Visma error body when it is rejected.
    pub fn book_manual_voucher(
        &self,
        company_id: Uuid,
        voucher: serde_json::Value,
    ) -> serde_json::Value {
        match self.shared.book_manual_voucher(company_id, &voucher) {
            Ok(v) => v,
            Err(e) => panic!("book_manual_voucher rejected: {}", e.body()),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}
