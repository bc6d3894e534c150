//! Least privilege, from behaviour: each function's handler is driven through its flows with
//! an AWS SDK HTTP client that records the IAM action (and resource) every request needs
//! (`integration_tests::recording`). Then, per function: everything it called is granted to
//! it in template.yaml, and everything template.yaml grants it was called by some flow, or is
//! listed in [`NOT_CALLED_BY_THE_CODE`] with the reason.
//!
//! Each function starts as its `main` does (`Deps::from_env`): its own secrets read from SSM in
//! one `GetParameters` call, tokens encrypted with a KMS key (moto has both), the shared table
//! and queues. Set-up that is not the function's (connecting a tenant, posting the webhooks a
//! worker then pushes) goes through an unrecorded `TestApp` on the same table and queues.

use std::collections::{BTreeSet, HashMap};

use integration_tests::internals::functions::{
    api_router, handle_batch, handle_tick, oauth_callback_router, schedule_event, webhook_router,
    API_SECRETS, OAUTH_CALLBACK_SECRETS, SCHEDULED_PULL_SECRETS, SYNC_WORKER_SECRETS,
    WEBHOOK_SECRETS,
};
use integration_tests::internals::{
    self, Config, ConnectionStatus, Deps, ItemStatus, RecordKind, Secret, TenantId,
};
use integration_tests::payloads::*;
use integration_tests::recording::{Call, Recorder, ResourceNames};
use integration_tests::template::{self, matches};
use integration_tests::*;
use serde_json::json;
use visma_sandbox::{DropRule, Faults, Sandbox};

use super::connection::{authorize_at_visma, start_connect};

/// Grants no flow of the code can show, each with the reason it is there:
/// (function, action, resource, reason). `*` is every function.
const NOT_CALLED_BY_THE_CODE: &[(&str, &str, &str, &str)] = &[
    (
        "SyncWorkerFunction",
        "sqs:ReceiveMessage",
        "SyncQueue",
        "the SQS event source mapping polls the queue with the function's role",
    ),
    (
        "SyncWorkerFunction",
        "sqs:DeleteMessage",
        "SyncQueue",
        "the event source mapping deletes the messages the batch response does not list",
    ),
    (
        "SyncWorkerFunction",
        "sqs:GetQueueAttributes",
        "SyncQueue",
        "the event source mapping reads the queue's attributes with the function's role",
    ),
    (
        "*",
        "kms:Decrypt",
        "SecretsKmsKeyArn",
        "SSM decrypts SecureStrings under a customer-managed key with the caller's role",
    ),
];

/// The template's logical id of each function's role, and the secrets it starts with.
const API: (&str, &[Secret]) = ("ApiFunction", API_SECRETS);
const OAUTH_CALLBACK: (&str, &[Secret]) = ("OAuthCallbackFunction", OAUTH_CALLBACK_SECRETS);
const WEBHOOK: (&str, &[Secret]) = ("WebhookFunction", WEBHOOK_SECRETS);
const SYNC_WORKER: (&str, &[Secret]) = ("SyncWorkerFunction", SYNC_WORKER_SECRETS);
const SCHEDULED_PULL: (&str, &[Secret]) = ("ScheduledPullFunction", SCHEDULED_PULL_SECRETS);

/// A table, queues, KMS key and SSM secrets shared by an unrecorded set-up app and the
/// function under test.
struct World {
    sandbox: Sandbox,
    vars: HashMap<String, String>,
    setup: TestApp,
    key_id: String,
    key_arn: String,
    _inbox: tokio::task::JoinHandle<()>,
}

/// Each secret's variable, and the template parameter naming its SSM parameter.
const SECRET_PARAMETERS: [(&str, &str); 4] = [
    ("VISMA_CLIENT_SECRET", "VismaClientSecretParameterName"),
    ("AOURLY_JWT_SECRET", "AourlyJwtSecretParameterName"),
    ("AOURLY_WEBHOOK_SECRET", "AourlyWebhookSecretParameterName"),
    ("AOURLY_EVENTS_SECRET", "AourlyEventsSecretParameterName"),
];

/// The SSM parameter name template.yaml gives `variable`'s secret by default.
fn parameter_name(variable: &str) -> String {
    let (_, parameter) = SECRET_PARAMETERS
        .iter()
        .find(|(v, _)| *v == variable)
        .expect("a secret variable");
    template::parsed()["Parameters"][*parameter]["Default"]
        .as_str()
        .expect("a default parameter name")
        .to_owned()
}

async fn world() -> World {
    let sandbox = sandbox().await;
    let aws = aws().await;
    let key = aws_sdk_kms::Client::new(&aws)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    // Outbound events go to an inbox that accepts them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let events_url = format!("http://{}/aourly/events", listener.local_addr().unwrap());
    let inbox = axum::Router::new().route(
        "/aourly/events",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    let inbox = tokio::spawn(async move {
        axum::serve(listener, inbox).await.unwrap();
    });
    let mut overrides: Vec<(&str, String)> = sandbox_overrides(&sandbox);
    overrides.push(("TOKEN_KMS_KEY_ID", key.key_id.clone()));
    overrides.push(("AOURLY_EVENTS_URL", events_url));
    overrides.push(("AOURLY_EVENTS_SECRET", "test-events-secret".into()));
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let vars = env_vars(&overrides);
    // The secrets as SSM SecureStrings under the template's default names (the same values in
    // every test, so tests running at once do not disturb each other).
    let ssm = aws_sdk_ssm::Client::new(&aws);
    for (variable, _) in SECRET_PARAMETERS {
        ssm.put_parameter()
            .name(parameter_name(variable))
            .value(&vars[variable])
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }
    let setup = spawn_app_from(&vars).await;
    World {
        sandbox,
        setup,
        vars,
        key_id: key.key_id,
        key_arn: key.arn.unwrap_or_default(),
        _inbox: inbox,
    }
}

impl World {
    /// The function's dependencies as its `main` builds them, on a recording SDK client.
    async fn function(&self, (_, secrets): (&str, &[Secret])) -> (TestApp, Recorder) {
        let names = ResourceNames::default()
            .with(&self.vars["TABLE_NAME"], "StateTable")
            .with(&self.vars["SYNC_QUEUE_URL"], "SyncQueue")
            .with(&self.vars["SYNC_DLQ_URL"], "SyncDeadLetterQueue")
            .with(&self.key_id, "TokenKey")
            .with(&self.key_arn, "TokenKey")
            .with("token-key", "TokenKey");
        let recorder = Recorder::new(names);
        let aws = aws_with_http_client(recorder.http_client(internals::aws_http_client())).await;
        // As in AWS: each secret named by its `X_PARAM` variable, not given as `X`.
        let lookup = |name: &str| {
            if SECRET_PARAMETERS.iter().any(|(v, _)| *v == name) {
                return None;
            }
            match name.strip_suffix("_PARAM") {
                Some(variable) if SECRET_PARAMETERS.iter().any(|(v, _)| *v == variable) => {
                    Some(parameter_name(variable))
                }
                _ => self.vars.get(name).cloned(),
            }
        };
        // What `Deps::from_env` does with the process environment.
        let config = Config::from_lookup(secrets, lookup).expect("the function's configuration");
        let ssm = config
            .reads_parameter_store()
            .then(|| aws_sdk_ssm::Client::new(&aws));
        let config = config
            .resolve_secrets(ssm.as_ref())
            .await
            .expect("the secrets from SSM");
        let deps = Deps::with_config(config, &aws).expect("the function's dependencies");
        (TestApp::new(deps), recorder)
    }

    /// Connects `name` as the callback would, with its first pull done, through the set-up app.
    async fn connected_and_pulled(&self, name: &str) -> TenantId {
        let tenant = tenant(name);
        connect_tenant(
            &self.setup,
            &self.sandbox,
            &tenant,
            first_company(&self.sandbox),
        )
        .await;
        internals::pull::run(&self.setup, &tenant).await.unwrap();
        self.setup.drain_jobs().await;
        tenant
    }

    /// Runs the queue's jobs through `worker`'s batch handler until the queue is empty; the
    /// set-up app receives and deletes, as the event source mapping does. Messages whose
    /// receive count is in `last_receive` are handed over as the queue's last receive.
    async fn run_jobs(&self, worker: &Deps, max_polls: usize) {
        for _ in 0..max_polls {
            let messages = self.setup.queue.receive(10, 0).await.unwrap();
            if messages.is_empty() {
                return;
            }
            self.hand_over(worker, messages).await;
        }
        panic!("the queue was not empty after {max_polls} polls");
    }

    async fn hand_over(&self, worker: &Deps, messages: Vec<internals::ReceivedMessage>) {
        let event = internals::sqs_event(self.setup.queue.url(), &messages);
        let response = handle_batch(worker, event).await;
        for message in &messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == message.message_id);
            if failed {
                self.setup
                    .queue
                    .change_visibility(&message.receipt_handle, 0)
                    .await
                    .unwrap();
            } else {
                self.setup
                    .queue
                    .delete(&message.receipt_handle)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Every call `function` made is granted to it, and every grant it holds was used (or is
/// explained in [`NOT_CALLED_BY_THE_CODE`]).
fn assert_least_privilege((function, _): (&str, &[Secret]), calls: &BTreeSet<Call>) {
    let grants = template::function_grants()
        .remove(function)
        .unwrap_or_else(|| panic!("template.yaml has no {function}"));
    assert!(calls.len() >= 2, "{function}: the recording saw {calls:?}");
    let ungranted: Vec<String> = calls
        .iter()
        .filter(|c| !grants.iter().any(|g| g.allows(&c.action, &c.resource)))
        .map(|c| c.to_string())
        .collect();
    assert!(
        ungranted.is_empty(),
        "{function} calls what template.yaml does not grant it: {ungranted:#?}\n(it called {calls:#?})"
    );
    let mut unused = Vec::new();
    for grant in &grants {
        for action in &grant.actions {
            for resource in &grant.resources {
                let used = calls
                    .iter()
                    .any(|c| &c.action == action && matches(resource, &c.resource));
                let explained = NOT_CALLED_BY_THE_CODE.iter().any(|(f, a, r, _)| {
                    (*f == function || *f == "*") && a == action && r == resource
                });
                if !used && !explained {
                    unused.push(format!("{} {action} on {resource}", grant.sid));
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "template.yaml grants {function} what none of its flows calls: {unused:#?}\n(it called {calls:#?})"
    );
}

#[tokio::test]
async fn the_api_function_is_granted_exactly_what_it_calls() {
    let world = world().await;
    let acme = world.connected_and_pulled("acme").await;
    let setup = &world.setup;
    // Items in every state for the lists and the retries.
    for (event_id, invoice) in [
        (
            "evt_1",
            invoice("inv_1", "1042", customer("cus_1", "10042")),
        ),
        (
            "evt_2",
            invoice("inv_2", "1043", customer("cus_1", "10042")),
        ),
    ] {
        assert_eq!(
            setup
                .post_webhook(&invoice_event(event_id, invoice))
                .await
                .status,
            202
        );
    }
    let failed = setup.item(&acme, RecordKind::Invoice, "inv_1").await;
    let error = internals::ItemError::new("visma_rejected", "Visma refused it");
    setup
        .items()
        .set_status(
            &failed,
            ItemStatus::Failed,
            Some(&error),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let blocked = setup.item(&acme, RecordKind::Invoice, "inv_2").await;
    let error = internals::ItemError::new("mapping_incomplete", "no entry for 12 %");
    setup
        .items()
        .set_status(
            &blocked,
            ItemStatus::Blocked,
            Some(&error),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    setup.drain_jobs().await;
    // The mapping's articles are not made yet (saving it makes them in Visma), and the access
    // token is due: the save refreshes the tokens first.
    let pulled = internals::Pulled::new(setup.table.clone());
    let mut stored = pulled
        .mapping(&acme)
        .await
        .unwrap()
        .expect("a proposed mapping");
    for entry in &mut stored.sales {
        entry.article_id = None;
    }
    pulled.put_mapping(&acme, &stored).await.unwrap();
    let tokens = setup.vault.load(&acme).await.unwrap().unwrap();
    setup
        .vault
        .store_new(
            &acme,
            &tokens.access_token,
            &tokens.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    world.sandbox.expire_access_tokens();

    let (api, recorder) = world.function(API).await;
    let api = api.serving(api_router);
    let base = "/tenants/acme/visma";
    assert_eq!(api.get("/health").send().await.status, 200);
    for path in [
        base.to_owned(),
        format!("{base}/accounts"),
        format!("{base}/fiscal-years"),
        format!("{base}/vouchers"),
        format!("{base}/sync-items"),
        format!("{base}/sync-items?status=failed"),
    ] {
        let answer = api.get(&path).as_owner("acme").send().await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    let mapping = api
        .get(format!("{base}/account-mapping"))
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(mapping.status, 200, "{}", mapping.text);
    let saved = api
        .put(format!("{base}/account-mapping"))
        .as_owner("acme")
        .json(mapping.body)
        .send()
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let retried = api
        .post(format!("{base}/sync-items/invoice/inv_1/retry"))
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(retried.status, 202, "{}", retried.text);
    let synced = api
        .post(format!("{base}/sync"))
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(synced.status, 202, "{}", synced.text);
    let started = api
        .post("/tenants/beta/visma/connect")
        .as_owner("beta")
        .json(json!({"return_url": "http://localhost:5173/x"}))
        .send()
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let gone = api.delete(base).as_owner("acme").send().await;
    assert_eq!(gone.status, 204, "{}", gone.text);

    assert_least_privilege(API, &recorder.calls());
}

#[tokio::test]
async fn the_oauth_callback_function_is_granted_exactly_what_it_calls() {
    let world = world().await;
    let (callback, recorder) = world.function(OAUTH_CALLBACK).await;
    let callback = callback.serving(oauth_callback_router);
    let sb = &world.sandbox;
    sb.set_auto_approve(true, Some(first_company(sb)));

    // A first connect.
    let back = authorize_at_visma(&start_connect(&world.setup, "acme").await).await;
    let landed = callback.get(&back).send().await;
    assert_eq!(landed.status, 302, "{}", landed.text);
    assert!(landed.location().ends_with("visma=connected"));

    // The connection expires and an invoice waits for it; the reconnect resumes it.
    let acme = tenant("acme");
    world.setup.expire_connection(&acme).await;
    let held = world
        .setup
        .post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    assert_eq!(held.status, 202, "{}", held.text);
    assert_eq!(
        world
            .setup
            .item(&acme, RecordKind::Invoice, "inv_1")
            .await
            .status,
        ItemStatus::Blocked
    );
    let back = authorize_at_visma(&start_connect(&world.setup, "acme").await).await;
    assert_eq!(callback.get(&back).send().await.status, 302);
    assert_eq!(
        world
            .setup
            .item(&acme, RecordKind::Invoice, "inv_1")
            .await
            .status,
        ItemStatus::Pending,
        "resumed by the reconnect"
    );

    // Consent denied, and a state that was never issued.
    let authorize_url = start_connect(&world.setup, "beta").await;
    let state = url::Url::parse(&authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = callback
        .get(format!(
            "/oauth/visma/callback?error=access_denied&state={state}"
        ))
        .send()
        .await;
    assert_eq!(denied.status, 302);
    let forged = callback
        .get("/oauth/visma/callback?code=x&state=forged")
        .send()
        .await;
    assert_eq!(forged.status, 400);

    assert_least_privilege(OAUTH_CALLBACK, &recorder.calls());
}

#[tokio::test]
async fn the_webhook_function_is_granted_exactly_what_it_calls() {
    let world = world().await;
    let acme = world.connected_and_pulled("acme").await;
    let gone = tenant("gone");
    connect_tenant(
        &world.setup,
        &world.sandbox,
        &gone,
        first_company(&world.sandbox),
    )
    .await;
    world.setup.expire_connection(&gone).await;
    let (webhook, recorder) = world.function(WEBHOOK).await;
    let webhook = webhook.serving(webhook_router);

    // Accepted, repeated, updated, for every kind of record.
    let first = invoice_event("evt_1", invoice_1042());
    assert_eq!(webhook.post_webhook(&first).await.body["status"], "queued");
    assert_eq!(
        webhook.post_webhook(&first).await.body["status"],
        "duplicate"
    );
    for event in [
        customer_event("evt_2", "customer.created", customer("cus_2", "10043")),
        customer_event("evt_3", "customer.updated", customer("cus_2", "10043")),
        voucher_event("evt_4", voucher("vch_1")),
        credit_note("inv_1c", "1043", "inv_1"),
    ] {
        let answer = webhook.post_webhook(&event).await;
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    // A second create of a synced invoice is acknowledged and ignored.
    let synced = world.setup.item(&acme, RecordKind::Invoice, "inv_1").await;
    world
        .setup
        .items()
        .set_status(&synced, ItemStatus::Synced, None, chrono::Utc::now())
        .await
        .unwrap();
    let again = webhook
        .post_webhook(&invoice_event("evt_5", invoice_1042()))
        .await;
    assert_eq!(again.body["status"], "duplicate", "{}", again.text);
    // An expired connection holds the event (announcing it), a disconnected one refuses it.
    let mut held = invoice_event("evt_6", invoice_1042());
    held["tenant"] = json!("gone");
    assert_eq!(webhook.post_webhook(&held).await.status, 202);
    world
        .setup
        .connections
        .leave_connected(
            &gone,
            ConnectionStatus::Disconnected,
            None,
            chrono::Utc::now(),
            false,
        )
        .await
        .unwrap();
    let mut refused = invoice_event("evt_7", invoice_1042());
    refused["tenant"] = json!("gone");
    assert_eq!(webhook.post_webhook(&refused).await.status, 409);
    // A delivery whose job was never sent (its sending lease lapsed) is re-sent by the retry.
    let body = invoice_event(
        "evt_8",
        invoice("inv_8", "1048", customer("cus_1", "10042")),
    );
    let event = internals::parse_event(&serde_json::to_vec(&body).unwrap()).unwrap();
    let stored_at =
        chrono::Utc::now() - internals::webhook::SEND_LEASE - chrono::Duration::seconds(1);
    let item = internals::SyncItem::new(&event, ItemStatus::Pending, None, stored_at).unwrap();
    let marker = internals::EventMarker::new(
        &event,
        "stored",
        true,
        stored_at,
        internals::webhook::SEND_LEASE,
    );
    world
        .setup
        .items()
        .record_event(&marker, &internals::ItemWrite::Create(Box::new(item)))
        .await
        .unwrap();
    assert_eq!(
        webhook.post_webhook(&body).await.body["status"],
        "duplicate"
    );
    let jobs = world.setup.drain_jobs().await;
    assert!(
        jobs.contains(&push_job(&acme, RecordKind::Invoice, "inv_8")),
        "{jobs:?}"
    );

    assert_least_privilege(WEBHOOK, &recorder.calls());
}

#[tokio::test]
async fn the_sync_worker_function_is_granted_exactly_what_it_calls() {
    let world = world().await;
    let sb = &world.sandbox;
    let setup = &world.setup;
    let (worker, recorder) = world.function(SYNC_WORKER).await;
    let acme = tenant("acme");
    connect_tenant(setup, sb, &acme, first_company(sb)).await;

    // The first pull (and the events it announces), then pushes of every kind.
    setup
        .queue
        .send(
            &internals::SyncJob::Pull {
                tenant: acme.clone(),
            },
            0,
        )
        .await
        .unwrap();
    world.run_jobs(&worker, 10).await;
    setup
        .queue
        .send(
            &internals::SyncJob::Pull {
                tenant: acme.clone(),
            },
            0,
        )
        .await
        .unwrap();
    world.run_jobs(&worker, 10).await;
    for event in [
        invoice_event("evt_1", invoice_1042()),
        customer_event("evt_2", "customer.created", customer("cus_2", "10043")),
        // Without a number: made under a creation lease, released once linked.
        customer_event(
            "evt_p",
            "customer.created",
            person("cus_p", "Anna Andersson"),
        ),
        voucher_event("evt_3", voucher("vch_1")),
        credit_note("inv_1c", "1043", "inv_1"),
    ] {
        assert_eq!(setup.post_webhook(&event).await.status, 202);
    }
    world.run_jobs(&worker, 10).await;
    assert_eq!(
        setup
            .item(&acme, RecordKind::Invoice, "inv_1c")
            .await
            .status,
        ItemStatus::Synced
    );
    // An update of a synced customer, with the access token due (a refresh first).
    let stored = setup.vault.load(&acme).await.unwrap().unwrap();
    setup
        .vault
        .store_new(
            &acme,
            &stored.access_token,
            &stored.refresh_token,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    sb.expire_access_tokens();
    let updated = customer_event("evt_4", "customer.updated", customer("cus_2", "10043"));
    assert_eq!(setup.post_webhook(&updated).await.status, 202);
    world.run_jobs(&worker, 10).await;
    // Visma failing: the job comes back with a backoff, and on the queue's last receive the
    // item fails (and Aourly hears of it).
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1000,
        }],
        ..Faults::default()
    });
    let failing = invoice_event(
        "evt_5",
        invoice("inv_5", "1045", customer("cus_2", "10043")),
    );
    assert_eq!(setup.post_webhook(&failing).await.status, 202);
    let mut messages = setup.queue.receive(10, 0).await.unwrap();
    world.hand_over(&worker, messages.clone()).await;
    messages = setup.queue.receive(10, 0).await.unwrap();
    for m in &mut messages {
        m.receive_count = template::max_receive_count() as _;
    }
    world.hand_over(&worker, messages).await;
    assert_eq!(
        setup.item(&acme, RecordKind::Invoice, "inv_5").await.status,
        ItemStatus::Failed
    );
    sb.set_faults(Faults::default());
    world.run_jobs(&worker, 10).await;
    // A message that is no job; an item blocked by an expired connection, resumed by the pull
    // after the reconnect.
    setup
        .queue
        .send_raw_to(setup.queue.url(), "{\"not\": \"a job\"}".into())
        .await
        .unwrap();
    let messages = setup.queue.receive(10, 0).await.unwrap();
    world.hand_over(&worker, messages).await;
    for message in setup.queue.receive(10, 0).await.unwrap() {
        setup.queue.delete(&message.receipt_handle).await.unwrap();
    }
    setup.expire_connection(&acme).await;
    let held = invoice_event(
        "evt_6",
        invoice("inv_6", "1046", customer("cus_2", "10043")),
    );
    assert_eq!(setup.post_webhook(&held).await.status, 202);
    connect_tenant(setup, sb, &acme, first_company(sb)).await;
    setup
        .queue
        .send(
            &internals::SyncJob::Pull {
                tenant: acme.clone(),
            },
            0,
        )
        .await
        .unwrap();
    world.run_jobs(&worker, 10).await;
    assert_eq!(
        setup.item(&acme, RecordKind::Invoice, "inv_6").await.status,
        ItemStatus::Synced
    );

    assert_least_privilege(SYNC_WORKER, &recorder.calls());
}

#[tokio::test]
async fn the_scheduled_pull_function_is_granted_exactly_what_it_calls() {
    let world = world().await;
    let tenants: Vec<TenantId> = (0..12).map(|i| tenant(&format!("t{i:02}"))).collect();
    for t in &tenants {
        world.setup.mark_connected(t).await;
    }
    let (scheduled, recorder) = world.function(SCHEDULED_PULL).await;
    let report = handle_tick(&scheduled, schedule_event()).await.unwrap();
    assert_eq!(report.tenants_queued, tenants.len());
    assert_eq!(world.setup.drain_jobs().await.len(), tenants.len());

    let calls = recorder.calls();
    assert_least_privilege(SCHEDULED_PULL, &calls);
    // Reads only the connected index, and writes nothing to the table.
    assert!(
        calls.iter().all(|c| !c.action.starts_with("dynamodb:")
            || (c.action == "dynamodb:Query" && c.resource == "StateTable/index/GSI1")),
        "{calls:#?}"
    );
}

/// The recording's mapping of SDK operations to IAM actions, offline.
#[test]
fn transactions_need_each_item_s_action_and_batches_the_single_action() {
    use integration_tests::recording::calls_of;
    let names = ResourceNames::default()
        .with("state-1", "StateTable")
        .with("http://sqs/1/sync-1", "SyncQueue");
    let actions = |target: &str, body: serde_json::Value| -> Vec<String> {
        calls_of(target, &body, &names)
            .into_iter()
            .map(|c| c.to_string())
            .collect()
    };
    assert_eq!(
        actions(
            "DynamoDB_20120810.TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "state-1"}}, {"Update": {"TableName": "state-1"}},
                {"Delete": {"TableName": "state-1"}}, {"ConditionCheck": {"TableName": "state-1"}}]})
        ),
        [
            "dynamodb:PutItem on StateTable",
            "dynamodb:UpdateItem on StateTable",
            "dynamodb:DeleteItem on StateTable",
            "dynamodb:ConditionCheckItem on StateTable",
        ]
    );
    assert_eq!(
        actions(
            "DynamoDB_20120810.BatchGetItem",
            json!({"RequestItems": {"state-1": {}}})
        ),
        ["dynamodb:BatchGetItem on StateTable"]
    );
    assert_eq!(
        actions(
            "DynamoDB_20120810.Query",
            json!({"TableName": "state-1", "IndexName": "GSI1"})
        ),
        ["dynamodb:Query on StateTable/index/GSI1"]
    );
    assert_eq!(
        actions(
            "AmazonSQS.SendMessageBatch",
            json!({"QueueUrl": "http://sqs/1/sync-1"})
        ),
        ["sqs:SendMessage on SyncQueue"]
    );
    assert_eq!(
        actions("AmazonSSM.GetParameters", json!({"Names": ["/a", "/b"]})),
        [
            "ssm:GetParameters on parameter:/a",
            "ssm:GetParameters on parameter:/b"
        ]
    );
    assert_eq!(
        actions("DynamoDB_20120810.GetItem", json!({"TableName": "other"})),
        ["dynamodb:GetItem on unknown:other"]
    );
}

/// The check fails on a call the template does not grant the function, and on a grant no
/// call used.
#[test]
fn an_ungranted_call_and_an_unused_grant_are_both_caught() {
    let call = |action: &str, resource: &str| Call {
        action: action.into(),
        resource: resource.into(),
    };
    let scheduled: BTreeSet<Call> = [
        call("dynamodb:Query", "StateTable/index/GSI1"),
        call("sqs:SendMessage", "SyncQueue"),
    ]
    .into();
    assert_least_privilege(SCHEDULED_PULL, &scheduled);
    let mut ungranted = scheduled.clone();
    ungranted.insert(call("dynamodb:Query", "StateTable/index/GSI2"));
    let caught = std::panic::catch_unwind(|| assert_least_privilege(SCHEDULED_PULL, &ungranted));
    assert!(caught.is_err(), "an ungranted call passed");

    let webhook: BTreeSet<Call> = [
        call("dynamodb:GetItem", "StateTable"),
        call("dynamodb:PutItem", "StateTable"),
        call("dynamodb:UpdateItem", "StateTable"),
        call("sqs:SendMessage", "SyncQueue"),
        call(
            "ssm:GetParameters",
            &format!("parameter:{}", parameter_name("AOURLY_WEBHOOK_SECRET")),
        ),
    ]
    .into();
    assert_least_privilege(WEBHOOK, &webhook);
    let mut unused = webhook.clone();
    unused.remove(&call("dynamodb:UpdateItem", "StateTable"));
    let caught = std::panic::catch_unwind(|| assert_least_privilege(WEBHOOK, &unused));
    assert!(caught.is_err(), "an unused grant passed");
}
