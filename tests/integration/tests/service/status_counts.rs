//! The status page's counts and failed/blocked lists, read from the status index (GSI2) and
//! kept in step with every write of an item's status, including items from before the index.

use integration_tests::internals::{
    self, EventMarker, ItemStatus, ItemWrite, RecordKind, TenantId,
};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::{json, Value};

use super::sync_items::{connected, ids, seed, BASE};

/// The status page's counts, as `GET` of the base path answers them.
async fn counts(app: &TestApp) -> Value {
    let status = app.get(BASE).as_owner("acme").send().await;
    assert_eq!(status.status, 200, "{}", status.text);
    status.body["counts"].clone()
}

fn counted(pending: u64, synced: u64, failed: u64, blocked: u64) -> Value {
    json!({"pending": pending, "synced": synced, "failed": failed, "blocked": blocked})
}

/// The counts come from GSI2 (the items by tenant and status, keys only), so every write that
/// sets a status must move the item there: create, set_status, finish, and a replacing event.
#[tokio::test]
async fn the_status_counts_follow_every_write_of_an_items_status() {
    let (_sb, app, tenant) = connected().await;
    let items = app.items();
    for i in 0..3 {
        seed(
            &app,
            RecordKind::Invoice,
            &format!("inv_{i}"),
            ItemStatus::Pending,
        )
        .await;
    }
    seed(&app, RecordKind::Invoice, "inv_f1", ItemStatus::Failed).await;
    seed(&app, RecordKind::Invoice, "inv_f2", ItemStatus::Failed).await;
    seed(&app, RecordKind::Voucher, "vch_1", ItemStatus::Blocked).await;
    assert_eq!(counts(&app).await, counted(3, 0, 2, 1));

    // A push: claim, then finish as synced.
    let now = chrono::Utc::now();
    let internals::Claim::Claimed { item, .. } = items
        .claim(
            &tenant,
            RecordKind::Invoice,
            "inv_0",
            "w1",
            now,
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap()
    else {
        panic!("not claimed")
    };
    let finish = internals::Finish {
        status: ItemStatus::Synced,
        visma_id: Some("ci-1".into()),
        visma_number: Some("1".into()),
        last_error: None,
    };
    items.finish(&item, &finish, now).await.unwrap();
    assert_eq!(counts(&app).await, counted(2, 1, 2, 1));

    // The owner retries a failed item (set_status back to pending).
    let retry = app
        .post(format!("{BASE}/sync-items/invoice/inv_f1/retry"))
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    assert_eq!(counts(&app).await, counted(3, 1, 1, 1));

    // A newer event replaces the synced item's payload and makes it pending again.
    let synced = items
        .get(&tenant, RecordKind::Invoice, "inv_0")
        .await
        .unwrap()
        .unwrap();
    let event = parsed_event_with_id(RecordKind::Invoice, "inv_0", "evt_inv_0_again");
    let replaced = synced
        .replaced_by(&event, ItemStatus::Pending, None, now)
        .unwrap();
    let marker = EventMarker::new(&event, "stored", false, now, chrono::Duration::seconds(60));
    items
        .record_event(
            &marker,
            &ItemWrite::Replace {
                item: Box::new(replaced),
                expected_version: synced.version,
            },
        )
        .await
        .unwrap();
    assert_eq!(counts(&app).await, counted(4, 0, 1, 1));

    // The failed list reads what GSI2 holds for `failed`: the retried item has left it.
    let owner = jwt("acme", "owner");
    let failed = app
        .get(format!("{BASE}/sync-items?status=failed"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(ids(&failed.body), ["inv_f2"]);
}

#[tokio::test]
async fn a_status_list_longer_than_a_page_pages_through_the_index() {
    let app = spawn_app(&[]).await;
    for i in 0..130 {
        let status = if i % 2 == 0 {
            ItemStatus::Blocked
        } else {
            ItemStatus::Synced
        };
        seed(&app, RecordKind::Customer, &format!("cus_{i:03}"), status).await;
    }
    let owner = jwt("acme", "owner");
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{BASE}/sync-items?status=blocked&cursor={c}"),
            None => format!("{BASE}/sync-items?status=blocked"),
        };
        let page = app.get(&path).bearer(&owner).send().await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "blocked"));
        listed.extend(ids(&page.body));
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 5, "the cursor ends");
    }
    let expected: Vec<String> = (0..130)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("cus_{i:03}"))
        .collect();
    assert_eq!(listed, expected, "every blocked item once, in key order");
    assert_eq!(pages, 2, "65 blocked items: a page of 50, then 15");
}

/// Sets (or, with `None`, removes) an item's GSI2 key as an earlier version left it.
async fn set_index_key(app: &TestApp, tenant: &TenantId, id: &str, key: Option<&str>) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let update = app
        .table
        .client()
        .update_item()
        .table_name(app.table.name())
        .key("PK", AttributeValue::S(internals::keys::tenant_pk(tenant)))
        .key(
            "SK",
            AttributeValue::S(internals::keys::item_sk(RecordKind::Invoice, id)),
        );
    let update = match key {
        Some(key) => update
            .update_expression("SET GSI2PK = :k")
            .expression_attribute_values(":k", AttributeValue::S(key.into())),
        None => update.update_expression("REMOVE GSI2PK"),
    };
    update.send().await.unwrap();
}

/// What GSI2 counts for each status, read directly (the status route would index first).
async fn index_counts(app: &TestApp, tenant: &TenantId) -> Value {
    let items = app.items();
    let mut n = Vec::new();
    for status in [
        ItemStatus::Pending,
        ItemStatus::Synced,
        ItemStatus::Failed,
        ItemStatus::Blocked,
    ] {
        n.push(items.count(tenant, status).await.unwrap());
    }
    counted(n[0], n[1], n[2], n[3])
}

/// Items written before GSI2 existed have no `GSI2PK`, and one written by the previous version
/// during a rollout may have a stale one. The first look at the tenant (here the status page;
/// the pull, the lists by status and the retries do the same) indexes it, once.
#[tokio::test]
async fn the_first_look_at_a_tenant_indexes_items_from_before_the_status_index() {
    let (_sb, app, tenant) = connected().await;
    seed(&app, RecordKind::Invoice, "inv_old1", ItemStatus::Synced).await;
    seed(&app, RecordKind::Invoice, "inv_old2", ItemStatus::Failed).await;
    seed(&app, RecordKind::Invoice, "inv_stale", ItemStatus::Failed).await;
    seed(&app, RecordKind::Invoice, "inv_new", ItemStatus::Pending).await;
    set_index_key(&app, &tenant, "inv_old1", None).await;
    set_index_key(&app, &tenant, "inv_old2", None).await;
    let stale = internals::keys::item_status_pk(&tenant, "pending");
    set_index_key(&app, &tenant, "inv_stale", Some(&stale)).await;
    assert_eq!(index_counts(&app, &tenant).await, counted(2, 0, 0, 0));

    // No pull ran (an expired or disconnected tenant is never pulled): the status page indexes.
    assert_eq!(counts(&app).await, counted(1, 1, 2, 0));
    assert_eq!(index_counts(&app, &tenant).await, counted(1, 1, 2, 0));
    let state = app.pulled.clone().pull_state(&tenant).await.unwrap();
    assert!(state.items_status_indexed, "remembered at once");
    let again = app.items().index_statuses(&tenant).await.unwrap();
    assert_eq!(again, 0, "nothing left to index");

    // A pull afterwards keeps the mark (it saves the whole pull state).
    internals::pull::run(&app, &tenant).await.expect("pull");
    let state = app.pulled.clone().pull_state(&tenant).await.unwrap();
    assert!(state.items_status_indexed);
}

#[tokio::test]
async fn the_pull_indexes_items_written_before_the_status_index() {
    let (_sb, app, tenant) = connected().await;
    seed(&app, RecordKind::Invoice, "inv_old1", ItemStatus::Synced).await;
    seed(&app, RecordKind::Invoice, "inv_old2", ItemStatus::Failed).await;
    seed(&app, RecordKind::Invoice, "inv_new", ItemStatus::Pending).await;
    set_index_key(&app, &tenant, "inv_old1", None).await;
    set_index_key(&app, &tenant, "inv_old2", None).await;
    assert_eq!(index_counts(&app, &tenant).await, counted(1, 0, 0, 0));

    internals::pull::run(&app, &tenant).await.expect("pull");
    assert_eq!(index_counts(&app, &tenant).await, counted(1, 1, 1, 0));
    let state = app.pulled.clone().pull_state(&tenant).await.unwrap();
    assert!(state.items_status_indexed);
}
