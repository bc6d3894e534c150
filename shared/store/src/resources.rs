//! The table and queue definitions, read from `template.yaml`, the one source of truth.
//! Behind the store's `local` feature: only the local runner and the tests create resources, so
//! no Lambda binary carries the template or a YAML parser.
//!
//! AWS creates the resources from the template; local runs and tests create them here from the
//! same text (compiled in), so the two cannot drift apart. Tests in `tests/integration` check
//! that the key names [`crate::keys`] uses are the ones the template declares.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;

use crate::error::SdkResultExt;
use crate::StoreError;

/// The SAM template, as committed.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// Logical ids in the template.
pub const TABLE_RESOURCE: &str = "StateTable";
pub const SYNC_QUEUE_RESOURCE: &str = "SyncQueue";
pub const DEAD_LETTER_QUEUE_RESOURCE: &str = "SyncDeadLetterQueue";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub billing_mode: String,
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_specification: Option<TtlDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueDefinition {
    pub visibility_timeout: Option<i32>,
    pub message_retention_period: Option<i32>,
    pub redrive_policy: Option<RedriveDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveDef {
    pub max_receive_count: i32,
}

/// Everything local runs create, as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definitions {
    pub table: TableDefinition,
    pub sync_queue: QueueDefinition,
    pub dead_letter_queue: QueueDefinition,
}

impl Definitions {
    /// Reads the committed template.
    pub fn from_template() -> Result<Self, StoreError> {
        Self::parse(TEMPLATE)
    }

    /// Reads a template text (tests feed altered copies to prove mismatches are caught).
    pub fn parse(template: &str) -> Result<Self, StoreError> {
        #[derive(Deserialize)]
        struct Template {
            #[serde(rename = "Parameters", default)]
            parameters: BTreeMap<String, serde_yaml_ng::Value>,
            #[serde(rename = "Resources")]
            resources: BTreeMap<String, serde_yaml_ng::Value>,
        }
        let template: Template =
            serde_yaml_ng::from_str(template).map_err(|e| bad(format!("template.yaml: {e}")))?;
        let properties = |id: &str| -> Result<serde_yaml_ng::Value, StoreError> {
            template
                .resources
                .get(id)
                .and_then(|r| r.get("Properties"))
                .cloned()
                .ok_or_else(|| bad(format!("template.yaml has no {id} with Properties")))
        };
        let decode = |id: &str| {
            let mut value = properties(id)?;
            resolve_parameter_refs(&mut value, &template.parameters);
            Ok::<_, StoreError>((id.to_owned(), value))
        };
        let (_, table) = decode(TABLE_RESOURCE)?;
        let (_, sync) = decode(SYNC_QUEUE_RESOURCE)?;
        let (_, dlq) = decode(DEAD_LETTER_QUEUE_RESOURCE)?;
        Ok(Self {
            table: serde_yaml_ng::from_value(table)
                .map_err(|e| bad(format!("{TABLE_RESOURCE}: {e}")))?,
            sync_queue: serde_yaml_ng::from_value(sync)
                .map_err(|e| bad(format!("{SYNC_QUEUE_RESOURCE}: {e}")))?,
            dead_letter_queue: serde_yaml_ng::from_value(dlq)
                .map_err(|e| bad(format!("{DEAD_LETTER_QUEUE_RESOURCE}: {e}")))?,
        })
    }
}

impl TableDefinition {
    /// Checks that the template declares the keys, index and TTL attribute the code writes
    /// ([`crate::keys`]). Local start-up and the tests call it, so a template edit that the code
    /// does not follow is caught before anything runs.
    pub fn check_matches_code(&self) -> Result<(), StoreError> {
        use crate::keys::{GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, PK, SK, TTL_ATTRIBUTE};
        fn key(schema: &[KeyDef]) -> Vec<(&str, &str)> {
            schema
                .iter()
                .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
                .collect()
        }
        let mut problems = Vec::new();
        if key(&self.key_schema) != [(PK, "HASH"), (SK, "RANGE")] {
            problems.push(format!("the key schema must be {PK} HASH, {SK} RANGE"));
        }
        match self
            .global_secondary_indexes
            .iter()
            .find(|i| i.index_name == GSI1)
        {
            Some(index) if key(&index.key_schema) == [(GSI1PK, "HASH"), (GSI1SK, "RANGE")] => {
                if index.projection.projection_type != "ALL" {
                    problems.push(format!("{GSI1} must project ALL attributes"));
                }
            }
            _ => problems.push(format!(
                "index {GSI1} must be {GSI1PK} HASH, {GSI1SK} RANGE"
            )),
        }
        match self
            .global_secondary_indexes
            .iter()
            .find(|i| i.index_name == GSI2)
        {
            Some(index) if key(&index.key_schema) == [(GSI2PK, "HASH"), (SK, "RANGE")] => {
                if index.projection.projection_type != "KEYS_ONLY" {
                    problems.push(format!("{GSI2} must project KEYS_ONLY"));
                }
            }
            _ => problems.push(format!("index {GSI2} must be {GSI2PK} HASH, {SK} RANGE")),
        }
        for name in [PK, SK, GSI1PK, GSI1SK, GSI2PK] {
            let declared = self
                .attribute_definitions
                .iter()
                .any(|a| a.attribute_name == name && a.attribute_type == "S");
            if !declared {
                problems.push(format!("attribute {name} must be declared as S"));
            }
        }
        match &self.time_to_live_specification {
            Some(ttl) if ttl.attribute_name == TTL_ATTRIBUTE && ttl.enabled => {}
            _ => problems.push(format!("TTL must be enabled on {TTL_ATTRIBUTE}")),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(bad(format!(
                "template.yaml {TABLE_RESOURCE}: {}",
                problems.join("; ")
            )))
        }
    }
}

fn bad(message: String) -> StoreError {
    StoreError::Decode(message)
}

fn sdk_build<E: std::fmt::Display>(e: E) -> StoreError {
    bad(format!("invalid definition: {e}"))
}

/// Creates the table as the template defines it, unless a table of that name exists.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    def: &TableDefinition,
) -> Result<(), StoreError> {
    def.check_matches_code()?;
    match client.describe_table().table_name(name).send().await {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(StoreError::from_sdk("DescribeTable", e)),
    }
    let key = |k: &KeyDef| {
        KeySchemaElement::builder()
            .attribute_name(&k.attribute_name)
            .key_type(KeyType::from(k.key_type.as_str()))
            .build()
            .map_err(sdk_build)
    };
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()));
    for a in &def.attribute_definitions {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(sdk_build)?,
        );
    }
    for k in &def.key_schema {
        create = create.key_schema(key(k)?);
    }
    for index in &def.global_secondary_indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(
                        index.projection.projection_type.as_str(),
                    ))
                    .build(),
            );
        for k in &index.key_schema {
            gsi = gsi.key_schema(key(k)?);
        }
        create = create.global_secondary_indexes(gsi.build().map_err(sdk_build)?);
    }
    match create.send().await {
        Ok(_) => {}
        // Another local process created it between our describe and create: fine.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(StoreError::from_sdk("CreateTable", e)),
    }
    if let Some(ttl) = &def.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .map_err(sdk_build)?,
            )
            .send()
            .await
            .or_store("UpdateTimeToLive")?;
    }
    tracing::info!(table = name, "created the table from template.yaml");
    Ok(())
}

/// Replaces each `!Ref Parameter` in `value` with that parameter's `Default`, as a stack
/// created without overrides has it (the sync queue's `maxReceiveCount`). Other intrinsic
/// functions are left as they are.
fn resolve_parameter_refs(
    value: &mut serde_yaml_ng::Value,
    parameters: &BTreeMap<String, serde_yaml_ng::Value>,
) {
    use serde_yaml_ng::Value;
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let default = tagged
                .value
                .as_str()
                .and_then(|name| parameters.get(name))
                .and_then(|p| p.get("Default"))
                .cloned();
            if let Some(default) = default {
                *value = default;
            }
        }
        Value::Mapping(map) => {
            for (_, v) in map.iter_mut() {
                resolve_parameter_refs(v, parameters);
            }
        }
        Value::Sequence(items) => {
            for v in items {
                resolve_parameter_refs(v, parameters);
            }
        }
        _ => {}
    }
}

/// Creates the dead-letter queue and the sync queue (with its redrive policy) as the template
/// defines them, named after the last path segment of their configured URLs. Existing queues
/// are left alone. Returns the URLs SQS reports.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    dead_letter_url: &str,
    defs: &Definitions,
) -> Result<(String, String), StoreError> {
    let dlq_name = queue_name(dead_letter_url)?;
    let dlq_url = create_queue(client, dlq_name, &defs.dead_letter_queue, None).await?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .or_store("GetQueueAttributes")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| bad("the dead-letter queue has no ARN".into()))?;
    let url = create_queue(
        client,
        queue_name(queue_url)?,
        &defs.sync_queue,
        Some(&dlq_arn),
    )
    .await?;
    Ok((url, dlq_url))
}

/// The queue name in an SQS queue URL (`https://host/123456789012/name`).
pub fn queue_name(url: &str) -> Result<&str, StoreError> {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| bad(format!("{url:?} is not an SQS queue URL")))
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    def: &QueueDefinition,
    dead_letter_arn: Option<&str>,
) -> Result<String, StoreError> {
    let mut create = client.create_queue().queue_name(name);
    if let Some(v) = def.visibility_timeout {
        create = create.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
    }
    if let Some(v) = def.message_retention_period {
        create = create.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
    }
    if let (Some(redrive), Some(arn)) = (&def.redrive_policy, dead_letter_arn) {
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": redrive.max_receive_count,
        });
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let out = create.send().await.or_store("CreateQueue")?;
    out.queue_url
        .ok_or_else(|| bad(format!("SQS returned no URL for {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redrive_policy_takes_its_count_from_the_parameter_default() {
        let defs = Definitions::from_template().unwrap();
        let redrive = defs.sync_queue.redrive_policy.expect("a redrive policy");
        assert_eq!(redrive.max_receive_count, 5);
        let raised = TEMPLATE.replacen(
            "    Default: 5\n    MinValue: 1",
            "    Default: 7\n    MinValue: 1",
            1,
        );
        assert_ne!(
            raised, TEMPLATE,
            "the parameter's default is where this test expects it"
        );
        let defs = Definitions::parse(&raised).unwrap();
        assert_eq!(defs.sync_queue.redrive_policy.unwrap().max_receive_count, 7);
    }

    #[test]
    fn queue_names_come_from_urls() {
        assert_eq!(
            queue_name("http://127.0.0.1:5000/123456789012/aourly-sync").unwrap(),
            "aourly-sync"
        );
        assert_eq!(
            queue_name("https://sqs.eu-north-1.amazonaws.com/1/q-dlq/").unwrap(),
            "q-dlq"
        );
        assert!(queue_name("").is_err());
    }
}
