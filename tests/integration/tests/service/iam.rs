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
    handle_batch, API_SECRETS, OAUTH_CALLBACK_SECRETS, SCHEDULED_PULL_SECRETS, SYNC_WORKER_SECRETS,
    WEBHOOK_SECRETS,
};
use integration_tests::internals::{self, Config, Deps, Secret, TenantId};
use integration_tests::recording::{Call, Recorder, ResourceNames};
use integration_tests::template::{self, matches};
use integration_tests::*;
use serde_json::json;
use visma_sandbox::Sandbox;

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
pub(crate) const API: (&str, &[Secret]) = ("ApiFunction", API_SECRETS);
pub(crate) const OAUTH_CALLBACK: (&str, &[Secret]) =
    ("OAuthCallbackFunction", OAUTH_CALLBACK_SECRETS);
pub(crate) const WEBHOOK: (&str, &[Secret]) = ("WebhookFunction", WEBHOOK_SECRETS);
pub(crate) const SYNC_WORKER: (&str, &[Secret]) = ("SyncWorkerFunction", SYNC_WORKER_SECRETS);
pub(crate) const SCHEDULED_PULL: (&str, &[Secret]) =
    ("ScheduledPullFunction", SCHEDULED_PULL_SECRETS);

/// A table, queues, KMS key and SSM secrets shared by an unrecorded set-up app and the
/// function under test.
pub(crate) struct World {
    pub(crate) sandbox: Sandbox,
    pub(crate) vars: HashMap<String, String>,
    pub(crate) setup: TestApp,
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

pub(crate) async fn world() -> World {
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
    pub(crate) async fn function(&self, (_, secrets): (&str, &[Secret])) -> (TestApp, Recorder) {
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
        // The raw table (set-up only) on a client that records nothing.
        (
            TestApp::new(deps, &integration_tests::aws().await),
            recorder,
        )
    }

    /// Connects `name` as the callback would, with its first pull done, through the set-up app.
    pub(crate) async fn connected_and_pulled(&self, name: &str) -> TenantId {
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
    pub(crate) async fn run_jobs(&self, worker: &Deps, max_polls: usize) {
        for _ in 0..max_polls {
            let messages = self.setup.queue.receive(10, 0).await.unwrap();
            if messages.is_empty() {
                return;
            }
            self.hand_over(worker, messages).await;
        }
        panic!("the queue was not empty after {max_polls} polls");
    }

    pub(crate) async fn hand_over(&self, worker: &Deps, messages: Vec<internals::ReceivedMessage>) {
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
pub(crate) fn assert_least_privilege((function, _): (&str, &[Secret]), calls: &BTreeSet<Call>) {
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
