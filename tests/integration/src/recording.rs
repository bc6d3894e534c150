//! An AWS SDK HTTP client that records which IAM action each request needs, on which
//! resource, and passes it on to the real client: the IAM test drives each function's
//! handler with it and compares what was called with what template.yaml grants.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::Value;

/// One AWS call as IAM sees it: the action and the resource's template name (`StateTable`,
/// `StateTable/index/GSI1`, `SyncQueue`, `TokenKey`, `parameter:/aourly-visma/...`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub action: String,
    pub resource: String,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)
    }
}

/// Physical names (table name, queue URLs, key id) → the template's logical ids.
#[derive(Debug, Clone, Default)]
pub struct ResourceNames(BTreeMap<String, String>);

impl ResourceNames {
    pub fn with(mut self, physical: impl Into<String>, logical: &str) -> Self {
        self.0.insert(physical.into(), logical.to_owned());
        self
    }

    fn logical(&self, physical: &str) -> String {
        self.0
            .get(physical)
            .cloned()
            .unwrap_or_else(|| format!("unknown:{physical}"))
    }
}

/// The record every request goes into.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<BTreeSet<Call>>>,
    names: Arc<Mutex<ResourceNames>>,
}

impl Recorder {
    pub fn new(names: ResourceNames) -> Self {
        Self {
            calls: Arc::default(),
            names: Arc::new(Mutex::new(names)),
        }
    }

    /// Another physical name to recognise (a key created after the client was built).
    pub fn name(&self, physical: impl Into<String>, logical: &str) {
        let mut names = self.names.lock().unwrap();
        *names = std::mem::take(&mut *names).with(physical, logical);
    }

    /// The SDK HTTP client to build the SDK configuration with: records, then sends through
    /// `inner`.
    pub fn http_client(&self, inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(RecordingClient {
            inner,
            recorder: self.clone(),
        })
    }

    /// Everything recorded so far.
    pub fn calls(&self) -> BTreeSet<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Forgets what was recorded (set-up calls that are not the function's).
    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    fn record(&self, request: &HttpRequest) {
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let names = self.names.lock().unwrap().clone();
        let calls = calls_of(&target, &body, &names);
        self.calls.lock().unwrap().extend(calls);
    }
}

/// The IAM actions (and resources) one request needs. Batches need the single operation's
/// action; a transaction needs each of its items' actions.
pub fn calls_of(target: &str, body: &Value, names: &ResourceNames) -> Vec<Call> {
    let call = |action: String, physical: &str| Call {
        action,
        resource: names.logical(physical),
    };
    let (service, operation) = target.split_once('.').unwrap_or(("", target));
    match service {
        "DynamoDB_20120810" => {
            let table = body["TableName"].as_str().unwrap_or_default();
            match operation {
                "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
                    .as_object()
                    .map(|tables| {
                        tables
                            .keys()
                            .map(|t| call(format!("dynamodb:{operation}"), t))
                            .collect()
                    })
                    .unwrap_or_default(),
                "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|item| item.as_object()?.iter().next())
                    .map(|(kind, write)| {
                        let action = match kind.as_str() {
                            "Put" => "PutItem",
                            "Update" => "UpdateItem",
                            "Delete" => "DeleteItem",
                            "ConditionCheck" => "ConditionCheckItem",
                            "Get" => "GetItem",
                            other => panic!("a transaction item this test does not know: {other}"),
                        };
                        call(
                            format!("dynamodb:{action}"),
                            write["TableName"].as_str().unwrap_or_default(),
                        )
                    })
                    .collect(),
                _ => {
                    let mut c = call(format!("dynamodb:{operation}"), table);
                    if let Some(index) = body["IndexName"].as_str() {
                        c.resource = format!("{}/index/{index}", c.resource);
                    }
                    vec![c]
                }
            }
        }
        "AmazonSQS" => {
            let action = match operation {
                "SendMessageBatch" => "SendMessage",
                "DeleteMessageBatch" => "DeleteMessage",
                "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
                other => other,
            };
            let queue = body["QueueUrl"]
                .as_str()
                .or(body["QueueName"].as_str())
                .unwrap_or_default();
            vec![call(format!("sqs:{action}"), queue)]
        }
        "TrentService" => {
            // Decrypt names no key: the ciphertext does, and the code only decrypts tokens.
            let key = body["KeyId"].as_str().unwrap_or("token-key");
            vec![call(format!("kms:{operation}"), key)]
        }
        "AmazonSSM" => body["Names"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(body.get("Name"))
            .filter_map(Value::as_str)
            .map(|name| Call {
                action: format!("ssm:{operation}"),
                resource: format!("parameter:{name}"),
            })
            .collect(),
        _ => vec![Call {
            action: format!("unknown:{target}"),
            resource: String::new(),
        }],
    }
}

#[derive(Debug)]
struct RecordingClient {
    inner: SharedHttpClient,
    recorder: Recorder,
}

impl HttpClient for RecordingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
            recorder: self.recorder.clone(),
        })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    recorder: Recorder,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.recorder.record(&request);
        self.inner.call(request)
    }
}
