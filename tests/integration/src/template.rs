//! What `template.yaml` says, read for the tests: the sync queue's receive limit and each
//! function's IAM grants.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

/// The template as committed.
pub fn text() -> String {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The template, parsed (intrinsic functions stay tagged values).
pub fn parsed() -> Value {
    serde_yaml_ng::from_str(&text()).expect("template.yaml is YAML")
}

/// The sync queue's `maxReceiveCount`: the `SyncMaxReceiveCount` parameter's default (the
/// value the template passes the functions as `SYNC_MAX_RECEIVE_COUNT`), or the redrive
/// policy's plain number.
pub fn max_receive_count() -> u32 {
    let template = parsed();
    let parameter = &template["Parameters"]["SyncMaxReceiveCount"]["Default"];
    let plain =
        &template["Resources"]["SyncQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"];
    parameter
        .as_u64()
        .or_else(|| plain.as_u64())
        .and_then(|n| u32::try_from(n).ok())
        .expect("template.yaml sets the sync queue's maxReceiveCount")
}

/// One IAM statement of a function's role, its resources in the form the recording client
/// names them: a logical id (`StateTable`, `SyncQueue`, `TokenKey`), with an index path
/// (`StateTable/index/GSI1`, `StateTable/index/*`), or `parameter:<name>` for SSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// The condition the statement is under (`HasSecretsKmsKey`), if any.
    pub condition: Option<String>,
}

impl Grant {
    /// Whether this statement allows `action` on `resource`.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|a| a == action)
            && self.resources.iter().any(|r| matches(r, resource))
    }
}

/// `pattern` (a resource of a statement, `*` only at the end) covers `resource`.
pub fn matches(pattern: &str, resource: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => resource.starts_with(prefix),
        None => pattern == resource,
    }
}

/// Every function's statements, by logical id (`ApiFunction`, ...).
pub fn function_grants() -> BTreeMap<String, Vec<Grant>> {
    let template = parsed();
    let defaults = parameter_defaults(&template);
    let mut out = BTreeMap::new();
    for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap().to_owned();
        let mut grants = Vec::new();
        for policy in resource["Properties"]["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default()
        {
            let (condition, document) = match &policy {
                Value::Tagged(tagged) if tagged.tag == "If" => {
                    let parts = tagged.value.as_sequence().expect("!If [cond, then, else]");
                    (parts[0].as_str().map(str::to_owned), parts[1].clone())
                }
                Value::Mapping(_) => (None, policy.clone()),
                other => panic!("{id}: a policy this test does not read: {other:?}"),
            };
            for statement in document["Statement"].as_sequence().expect("Statement") {
                assert_eq!(
                    statement["Effect"].as_str(),
                    Some("Allow"),
                    "{id}: {statement:?}"
                );
                grants.push(Grant {
                    sid: statement["Sid"].as_str().unwrap_or_default().to_owned(),
                    actions: one_or_many(&statement["Action"])
                        .iter()
                        .map(|a| a.as_str().expect("an action").to_owned())
                        .collect(),
                    resources: one_or_many(&statement["Resource"])
                        .iter()
                        .map(|r| resource_name(r, &defaults))
                        .collect(),
                    condition: condition.clone(),
                });
            }
        }
        out.insert(id, grants);
    }
    out
}

/// The value of every function's `Environment.Variables` entry `name` (the function's own,
/// else the Globals'), by function logical id; intrinsic values as their YAML text.
pub fn function_environment(name: &str) -> BTreeMap<String, Option<String>> {
    let template = parsed();
    let global = template["Globals"]["Function"]["Environment"]["Variables"][name].clone();
    let mut out = BTreeMap::new();
    for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let own = &resource["Properties"]["Environment"]["Variables"][name];
        let value = if own.is_null() { &global } else { own };
        let text =
            (!value.is_null()).then(|| serde_yaml_ng::to_string(value).unwrap().trim().to_owned());
        out.insert(id.as_str().unwrap().to_owned(), text);
    }
    out
}

fn one_or_many(value: &Value) -> Vec<Value> {
    match value {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn parameter_defaults(template: &Value) -> BTreeMap<String, String> {
    template["Parameters"]
        .as_mapping()
        .map(|params| {
            params
                .iter()
                .filter_map(|(k, v)| {
                    Some((k.as_str()?.to_owned(), v["Default"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A statement's resource in the recording client's naming.
fn resource_name(value: &Value, defaults: &BTreeMap<String, String>) -> String {
    let Value::Tagged(tagged) = value else {
        return value.as_str().unwrap_or_default().to_owned();
    };
    let inner = tagged.value.as_str().unwrap_or_default();
    match tagged.tag.to_string().trim_start_matches('!') {
        "GetAtt" => inner.trim_end_matches(".Arn").to_owned(),
        "Ref" => inner.to_owned(),
        "Sub" => {
            const SSM: &str =
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${";
            if let Some(rest) = inner.strip_prefix(SSM) {
                let parameter = rest.trim_end_matches('}');
                let name = defaults
                    .get(parameter)
                    .unwrap_or_else(|| panic!("parameter {parameter} has no default"));
                return format!("parameter:{name}");
            }
            let mut text = inner.to_owned();
            while let Some(start) = text.find("${") {
                let end = start + text[start..].find('}').expect("a closing brace");
                let reference = text[start + 2..end].trim_end_matches(".Arn").to_owned();
                text.replace_range(start..=end, &reference);
            }
            text
        }
        other => panic!("a resource this test does not read: !{other} {inner}"),
    }
}
