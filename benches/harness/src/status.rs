//! Figure 6: what the Integrations page's two reads cost as a tenant's history grows: the
//! status (`GET /tenants/{t}/visma`, whose counts read GSI2's key-only entries of every sync
//! item) and the list of failed records (`GET …/sync-items?status=failed`, which reads only
//! the failed ones).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use domain::RecordKind;
use domain::{ItemCode, ItemError, ItemStatus};
use futures::StreamExt;
use tower::ServiceExt;

use crate::counting::{self, AwsCounter};
use crate::fixtures::{customer, invoice, invoice_event, ready};
use crate::report::{figure, note, section};

/// Failed items among the tenant's history, as the owner would see them on the page.
const FAILED: usize = 3;

/// DynamoDB's size of a stored item: attribute names plus values (strings and numbers as
/// text; the table holds no other types that matter here).
fn item_bytes(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                    _ => 0,
                }
        })
        .sum()
}

pub async fn run(items: usize) {
    section(&format!(
        "6. Status page reads: a tenant with {items} sync items ({FAILED} of them failed)"
    ));
    let sb = integration_tests::sandbox().await;
    let plain = crate::fixtures::deps_with_sandbox(&sb, &[]).await;
    let counter = AwsCounter::default();
    let deps = counting::counted(&plain, &counter).await;
    let tenant = ready(&deps, &sb, "acme", integration_tests::first_company(&sb)).await;

    // The history: invoices accepted through the webhook route (left pending: no worker runs,
    // and what the reads cost does not depend on the statuses).
    let router = local::http_router(&deps);
    let started = Instant::now();
    let refused = AtomicUsize::new(0);
    futures::stream::iter(0..items)
        .for_each_concurrent(8, |i| {
            let (router, refused) = (&router, &refused);
            async move {
                let event = invoice_event(
                    &format!("evt_s{i}"),
                    "acme",
                    invoice(
                        &format!("inv_s{i}"),
                        &(200_000 + i).to_string(),
                        customer(&format!("cus_{}", i % 50), &(50_000 + i % 50).to_string()),
                    ),
                );
                let response = router
                    .clone()
                    .oneshot(integration_tests::payloads::signed_webhook_request(&event))
                    .await
                    .expect("router answers");
                if response.status() != 202 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    assert_eq!(refused.load(Ordering::Relaxed), 0, "every webhook accepted");
    let sync_items = &plain.items;
    for i in 0..FAILED {
        let item = sync_items
            .get(
                &tenant,
                RecordKind::Invoice,
                &format!("inv_s{}", i * 997 % items),
            )
            .await
            .expect("read an item")
            .expect("the item exists");
        sync_items
            .set_status(
                &item,
                ItemStatus::Failed,
                Some(&ItemError::new(ItemCode::VismaRejected, "bench")),
                chrono::Utc::now(),
            )
            .await
            .expect("mark failed");
    }
    let sample = aws_sdk_dynamodb::Client::new(&integration_tests::aws().await)
        .get_item()
        .table_name(&plain.config.table_name)
        .key("PK", AttributeValue::S(store::keys::tenant_pk(&tenant)))
        .key(
            "SK",
            AttributeValue::S(store::keys::item_sk(RecordKind::Invoice, "inv_s1")),
        )
        .send()
        .await
        .expect("read a sample item")
        .item
        .expect("the sample item exists");
    let per_item = item_bytes(&sample);
    // What GSI2 holds of an item: the table's keys and its own.
    let per_entry = item_bytes(
        &sample
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "PK" | "SK" | "GSI2PK"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    );
    note(format!(
        "history: {items} invoices accepted in {:.1} s; a stored invoice item is about {per_item} bytes (its payload included), its GSI2 entry {per_entry} bytes",
        started.elapsed().as_secs_f64()
    ));

    let owner = integration_tests::jwt("acme", "owner");
    let client = crate::fixtures::test_app(&deps).await;
    let read = |path: &'static str| {
        let (client, owner, counter) = (&client, &owner, &counter);
        async move {
            counter.reset();
            let started = Instant::now();
            let answer = client.get(path).bearer(owner).send().await;
            let took = started.elapsed();
            assert_eq!(answer.status, 200, "{path}: {}", answer.text);
            (answer.body, counter.snapshot(), took)
        }
    };
    let (status, status_aws, status_took) = read("/tenants/acme/visma").await;
    assert_eq!(status["counts"]["failed"], FAILED, "{status}");
    let (failed, failed_aws, failed_took) =
        read("/tenants/acme/visma/sync-items?status=failed").await;
    assert_eq!(
        failed["items"].as_array().map_or(0, Vec::len),
        FAILED,
        "{failed}"
    );
    let read_by_counts = (items * per_entry) as f64 / 1_000_000.0;
    let whole_history = (items * per_item) as f64 / 1_000_000.0;
    figure(
        &format!("Status page: GET /tenants/{{t}}/visma, {items} items"),
        format!(
            "DynamoDB {} ({}); the counts read {items} GSI2 entries, ~{read_by_counts:.2} MB (the items themselves: ~{whole_history:.1} MB); {:.0} ms against the emulator",
            counting::total(&status_aws, "DynamoDB"),
            counting::breakdown(&status_aws, "DynamoDB"),
            status_took.as_secs_f64() * 1000.0
        ),
        "(reported)",
        None,
    );
    figure(
        &format!("Status page: GET …/sync-items?status=failed, {FAILED} failed among {items} items"),
        format!(
            "DynamoDB {} ({}); reads {FAILED} GSI2 entries and {FAILED} items; {:.0} ms against the emulator",
            counting::total(&failed_aws, "DynamoDB"),
            counting::breakdown(&failed_aws, "DynamoDB"),
            failed_took.as_secs_f64() * 1000.0
        ),
        "(reported)",
        None,
    );
}
