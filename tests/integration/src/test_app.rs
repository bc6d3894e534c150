//! [`TestApp`]: one service under test and a small client for its router.

use std::ops::{Deref, DerefMut};

use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::internals::{
    self, Deps, ItemStatus, ReceivedMessage, RecordKind, SyncItem, SyncItems, SyncJob, TenantId,
};
use crate::payloads;

/// One service under test: its dependencies (dereferences to [`Deps`], so the service's own
/// functions take `&app`) and request helpers for the whole HTTP surface, served in-process by
/// the same router `make serve` serves.
#[derive(Clone, Debug)]
pub struct TestApp {
    pub deps: Deps,
    /// The raw table, for set-up and checks that the service's capabilities do not offer
    /// (store's `local` feature).
    pub table: internals::Table,
    /// The router requests go through: the whole service's unless [`TestApp::serving`] names
    /// one function's.
    router: Option<fn(Deps) -> axum::Router>,
}

impl Deref for TestApp {
    type Target = Deps;
    fn deref(&self) -> &Deps {
        &self.deps
    }
}

impl DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut Deps {
        &mut self.deps
    }
}

/// An answer of the service's router, the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The `Location` header (a redirect's target).
    pub fn location(&self) -> String {
        self.headers["location"]
            .to_str()
            .expect("a Location header")
            .to_owned()
    }
}

/// A request being built: `app.get(path).as_owner("acme").send().await`.
#[must_use = "a request does nothing until it is sent"]
pub struct Request<'a> {
    app: &'a TestApp,
    builder: axum::http::request::Builder,
    body: Vec<u8>,
}

impl Request<'_> {
    /// Bearer JWT for `tenant` in `role`, signed with the test secret.
    pub fn as_role(self, tenant: &str, role: &str) -> Self {
        self.bearer(&crate::jwt(tenant, role))
    }

    /// As the tenant's owner (every write needs one).
    pub fn as_owner(self, tenant: &str) -> Self {
        self.as_role(tenant, "owner")
    }

    /// As Aourly's backend (reads only).
    pub fn as_service(self, tenant: &str) -> Self {
        self.as_role(tenant, "service")
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn bearer_opt(self, token: Option<&str>) -> Self {
        match token {
            Some(token) => self.bearer(token),
            None => self,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// A JSON body (with its content type).
    pub fn json(self, body: Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    pub fn json_opt(self, body: Option<Value>) -> Self {
        match body {
            Some(body) => self.json(body),
            None => self,
        }
    }

    /// Raw body bytes, no content type.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub async fn send(self) -> Answer {
        let request = self
            .builder
            .body(axum::body::Body::from(self.body))
            .expect("a well-formed request");
        self.app.oneshot(request).await
    }
}

impl TestApp {
    /// `aws`: the SDK configuration the raw [`TestApp::table`] uses.
    pub fn new(deps: Deps, aws: &aws_config::SdkConfig) -> Self {
        let table =
            internals::Table::new(aws_sdk_dynamodb::Client::new(aws), &deps.config.table_name);
        Self {
            deps,
            table,
            router: None,
        }
    }

    /// Requests go through one function's router only (`internals::functions::api_router`).
    pub fn serving(mut self, router: fn(Deps) -> axum::Router) -> Self {
        self.router = Some(router);
        self
    }

    /// The HTTP router requests go through: by default the whole service's (api,
    /// oauth-callback and webhook, as `make serve` serves them).
    pub fn router(&self) -> axum::Router {
        match self.router {
            Some(router) => router(self.deps.clone()),
            None => internals::http_router(&self.deps),
        }
    }

    /// Sends a ready-made request through [`TestApp::router`].
    pub async fn oneshot(&self, request: axum::http::Request<axum::body::Body>) -> Answer {
        let response = self
            .router()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub fn request(&self, method: &str, path: impl AsRef<str>) -> Request<'_> {
        Request {
            app: self,
            builder: axum::http::Request::builder()
                .method(method)
                .uri(path.as_ref()),
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: impl AsRef<str>) -> Request<'_> {
        self.request("GET", path)
    }

    pub fn post(&self, path: impl AsRef<str>) -> Request<'_> {
        self.request("POST", path)
    }

    pub fn put(&self, path: impl AsRef<str>) -> Request<'_> {
        self.request("PUT", path)
    }

    pub fn delete(&self, path: impl AsRef<str>) -> Request<'_> {
        self.request("DELETE", path)
    }

    /// `POST /webhooks/aourly` with `event`, signed now with the test webhook secret.
    pub async fn post_webhook(&self, event: &Value) -> Answer {
        self.oneshot(payloads::signed_webhook_request(event)).await
    }

    // ------------------------------------------------------------------ queue

    /// Runs the worker over the queue until it is empty, making returned messages visible
    /// again at once (as if their backoff had passed). Returns how many polls it took.
    pub async fn drain_queue(&self, max_polls: usize) -> usize {
        for poll in 1..=max_polls {
            let report = self.poll_once(0).await;
            if report.received == 0 {
                return poll;
            }
            self.redeliver_now(&report).await;
        }
        panic!("the queue was not empty after {max_polls} polls");
    }

    /// One poll of the local worker loop (`wait_seconds` long poll).
    pub async fn poll_once(&self, wait_seconds: i32) -> internals::PollReport {
        internals::poll_once(&self.deps, wait_seconds)
            .await
            .expect("poll the queue")
    }

    /// Makes the messages a poll returned visible again at once (skipping their backoff).
    pub async fn redeliver_now(&self, report: &internals::PollReport) {
        for handle in &report.returned {
            self.queue
                .change_visibility(handle, 0)
                .await
                .expect("make a returned message visible");
        }
    }

    /// Takes every job off the sync queue (short polls until empty) without running them.
    pub async fn drain_jobs(&self) -> Vec<SyncJob> {
        let mut jobs = Vec::new();
        for _ in 0..10 {
            let batch = self.queue.receive(10, 0).await.unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                jobs.push(serde_json::from_str(&m.body).unwrap());
                self.queue.delete(&m.receipt_handle).await.unwrap();
            }
        }
        jobs
    }

    /// The first message on the queue, if any (received, so hidden for its visibility timeout).
    pub async fn first_message(&self) -> Option<ReceivedMessage> {
        self.queue.receive(1, 0).await.unwrap().into_iter().next()
    }

    /// Receives the queue's one message `times` times without handling it (workers that
    /// died), so that the next receive is its `times + 1`-th.
    pub async fn use_up_receives(&self, times: usize) {
        for _ in 0..times {
            let messages = self.queue.receive(10, 0).await.unwrap();
            assert_eq!(messages.len(), 1);
            self.queue
                .change_visibility(&messages[0].receipt_handle, 0)
                .await
                .unwrap();
        }
    }

    /// Queues a push job for an item (as a retry, a re-queue or a redelivery would).
    pub async fn queue_push(&self, tenant: &TenantId, kind: RecordKind, id: &str) {
        self.queue
            .send(&push_job(tenant, kind, id), 0)
            .await
            .unwrap();
    }

    /// Runs a pull job through the worker, as the schedule or a reconnect queues it.
    pub async fn run_pull_job(&self, tenant: &TenantId) {
        self.queue
            .send(
                &SyncJob::Pull {
                    tenant: tenant.clone(),
                },
                0,
            )
            .await
            .unwrap();
        self.drain_queue(10).await;
    }

    // ------------------------------------------------------------------ table

    /// The sync items of this service's table.
    pub fn items(&self) -> SyncItems {
        self.deps.items.clone()
    }

    /// The sync item of `id`, which must exist.
    pub async fn item(&self, tenant: &TenantId, kind: RecordKind, id: &str) -> SyncItem {
        self.items()
            .get(tenant, kind, id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no item {id}"))
    }

    /// Lets a claim left behind by a "crashed" or uncertain attempt run out now.
    pub async fn expire_claim(&self, tenant: &TenantId, kind: RecordKind, id: &str) {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key("PK", AttributeValue::S(internals::keys::tenant_pk(tenant)))
            .key("SK", AttributeValue::S(internals::keys::item_sk(kind, id)))
            .update_expression("SET in_flight_since = :old")
            .expression_attribute_values(":old", AttributeValue::S("2000-01-01T00:00:00Z".into()))
            .send()
            .await
            .unwrap();
    }

    /// Ends the creation lease of Aourly customer `id` of tenant acme now, as if its holder
    /// had died.
    pub async fn lapse_creation_lease(&self, id: &str) {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key(
                "PK",
                AttributeValue::S(internals::keys::tenant_pk(&crate::tenant("acme"))),
            )
            .key(
                "SK",
                AttributeValue::S(internals::keys::customer_creation_sk(id)),
            )
            .update_expression("SET #until = :past")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":past", AttributeValue::N("0".into()))
            .send()
            .await
            .unwrap();
    }

    /// Visma's authorization of `tenant` has expired (as a refused refresh token records it).
    pub async fn expire_connection(&self, tenant: &TenantId) {
        self.connections
            .leave_connected(
                tenant,
                internals::ConnectionStatus::Expired,
                Some("test"),
                chrono::Utc::now(),
                true,
            )
            .await
            .unwrap();
    }

    /// Puts `tenant` in the connected index (GSI1 partition `CONNECTED`) the scheduled pull
    /// reads, as a connection does, without tokens or a Visma company.
    pub async fn mark_connected(&self, tenant: &TenantId) {
        #[derive(serde::Serialize)]
        struct ConnectedMarker {
            #[serde(rename = "PK")]
            pk: String,
            #[serde(rename = "SK")]
            sk: String,
            #[serde(rename = "GSI1PK")]
            gsi1pk: String,
            #[serde(rename = "GSI1SK")]
            gsi1sk: String,
        }
        use internals::keys;
        self.table
            .put(&ConnectedMarker {
                pk: keys::tenant_pk(tenant),
                sk: keys::connection_sk().into(),
                gsi1pk: keys::CONNECTED_PARTITION.into(),
                gsi1sk: keys::connected_sk(tenant),
            })
            .await
            .unwrap();
    }

    /// Every sort key in the table (each test has its own table).
    pub async fn all_keys(&self) -> Vec<String> {
        let out = self
            .table
            .client()
            .scan()
            .table_name(self.table.name())
            .send()
            .await
            .unwrap();
        out.items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| {
                i.get(internals::keys::SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
            })
            .collect()
    }

    /// Sort keys of event markers and sync items only.
    pub async fn event_and_item_keys(&self) -> Vec<String> {
        self.all_keys()
            .await
            .into_iter()
            .filter(|sk| sk.starts_with("EVENT#") || sk.starts_with(internals::keys::ITEM_PREFIX))
            .collect()
    }

    /// `inv_1` (invoice 1042) is synced, and Visma has it once.
    pub async fn assert_1042_synced_once(&self, sb: &visma_sandbox::Sandbox, tenant: &TenantId) {
        let synced = self.item(tenant, RecordKind::Invoice, "inv_1").await;
        assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
        assert_eq!(payloads::invoices_with_reference(sb, "Aourly 1042"), 1);
    }
}

/// The push job of one record.
pub fn push_job(tenant: &TenantId, kind: RecordKind, id: &str) -> SyncJob {
    SyncJob::Push {
        tenant: tenant.clone(),
        kind,
        id: id.into(),
    }
}
