//! The sync items behind the Integrations page (CONTRACT §4): listing with filters and cursor
//! paging, the retry route, retrying every failed and blocked item, and the worker's claim.

use app::Deps;
use domain::connection::ConnectionStatus;
use domain::{RecordKind, SyncJob, TenantId, WebhookEvent};
use integration_tests::{call, jwt};
use serde_json::{json, Value};
use store::{EventMarker, ItemError, ItemStatus, ItemWrite, SyncItem};

const BASE: &str = "/tenants/acme/visma";

fn customer(id: &str) -> Value {
    json!({"id": id, "number": null, "name": "Exempel Bygg AB", "is_private_person": false,
           "org_number": "556677-8899", "vat_number": null, "email": null,
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

fn parsed_event(kind: RecordKind, id: &str) -> WebhookEvent {
    parsed_event_with_id(kind, id, &format!("evt_{id}"))
}

fn parsed_event_with_id(kind: RecordKind, id: &str, event_id: &str) -> WebhookEvent {
    let (kind, data) = match kind {
        RecordKind::Customer => ("customer.created", json!({"customer": customer(id)})),
        RecordKind::Invoice => (
            "invoice.created",
            json!({"invoice": {"id": id, "number": "1042", "customer": customer("cus_9"),
                "issue_date": "2026-11-20", "due_date": "2026-12-20", "currency": "SEK",
                "your_reference": null, "our_reference": null,
                "lines": [{"description": "Timmar", "quantity": "1", "unit": "h",
                           "unit_price": "100.00", "vat_rate": "25", "discount_percent": "0"}],
                "totals": {"net": "100.00", "vat": "25.00", "gross": "125.00"}}}),
        ),
        RecordKind::Voucher => (
            "voucher.created",
            json!({"voucher": {"id": id, "date": "2026-11-21", "text": "Utlägg", "rows": [
                {"account": "5800", "debit": "100.00", "credit": "0", "text": null},
                {"account": "1930", "debit": "0", "credit": "100.00", "text": null}]}}),
        ),
    };
    let body = json!({"id": event_id, "type": kind, "tenant": "acme",
                      "created_at": "2026-11-23T10:00:00Z", "data": data});
    domain::parse_event(&serde_json::to_vec(&body).unwrap()).unwrap()
}

/// Stores an item directly (as an accepted webhook would), then gives it `status`.
async fn seed(deps: &Deps, kind: RecordKind, id: &str, status: ItemStatus) -> SyncItem {
    let items = deps.items.clone();
    let event = parsed_event(kind, id);
    let now = chrono::Utc::now();
    let item = SyncItem::new(&event, ItemStatus::Pending, None, now).unwrap();
    let marker = EventMarker::new(&event, "stored", false, now, chrono::Duration::seconds(60));
    items
        .record_event(&marker, &ItemWrite::Create(Box::new(item.clone())))
        .await
        .unwrap();
    if status == ItemStatus::Pending {
        return item;
    }
    let error = match status {
        ItemStatus::Failed => Some(ItemError::new(
            domain::ItemCode::VismaRejected,
            "Visma refused it",
        )),
        ItemStatus::Blocked => Some(ItemError::new(
            domain::ItemCode::MappingIncomplete,
            "no entry for 12 %",
        )),
        _ => None,
    };
    items
        .set_status(&item, status, error.as_ref(), now)
        .await
        .unwrap()
}

async fn drain_jobs(deps: &Deps) -> Vec<SyncJob> {
    let mut jobs = Vec::new();
    for _ in 0..10 {
        let batch = deps.queue.receive(10, 0).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            jobs.push(serde_json::from_str(&m.body).unwrap());
            deps.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    jobs
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn connected() -> (visma_sandbox::Sandbox, Deps, TenantId) {
    let sb = integration_tests::sandbox().await;
    let deps = integration_tests::deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    integration_tests::connect_tenant(&deps, &sb, &tenant, integration_tests::first_company(&sb))
        .await;
    (sb, deps, tenant)
}

#[tokio::test]
async fn listing_filters_by_status_and_kind_and_pages_with_a_cursor() {
    let deps = integration_tests::deps(&[]).await;
    for i in 0..55 {
        let status = if i % 11 == 0 {
            ItemStatus::Failed
        } else {
            ItemStatus::Synced
        };
        seed(&deps, RecordKind::Invoice, &format!("inv_{i:03}"), status).await;
    }
    for i in 0..4 {
        seed(
            &deps,
            RecordKind::Customer,
            &format!("cus_{i}"),
            ItemStatus::Pending,
        )
        .await;
    }
    seed(&deps, RecordKind::Voucher, "vch_1", ItemStatus::Blocked).await;
    // Other item kinds in the partition are not listed.
    let owner = jwt("acme", "owner");

    // All items: 60, in pages of 50.
    let first = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(ids(&first.body).len(), 50);
    let cursor = first.body["next_cursor"].as_str().expect("a next cursor");
    let second = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?cursor={cursor}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let mut all = ids(&first.body);
    all.extend(ids(&second.body));
    assert_eq!(all.len(), 60);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 60, "no item is listed twice");

    // The contract shape.
    let failed = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?status=failed"),
        Some(&jwt("acme", "service")),
        None,
    )
    .await;
    assert_eq!(failed.status, 200, "{}", failed.text);
    assert_eq!(
        ids(&failed.body),
        ["inv_000", "inv_011", "inv_022", "inv_033", "inv_044"]
    );
    let one = &failed.body["items"][0];
    assert_eq!(one["kind"], "invoice");
    assert_eq!(one["status"], "failed");
    assert_eq!(one["attempts"], 0);
    assert_eq!(one["visma_id"], Value::Null);
    assert_eq!(one["visma_number"], Value::Null);
    assert_eq!(one["last_error"]["code"], "visma_rejected");
    assert!(one["updated_at"].as_str().unwrap().ends_with('Z'));
    assert!(one.get("payload").is_none(), "the payload is not listed");
    assert_eq!(failed.body["next_cursor"], Value::Null);

    // Kind filter, paged: 55 invoices.
    let inv = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?kind=invoice"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(ids(&inv.body).len(), 50);
    let cursor = inv.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?kind=invoice&cursor={cursor}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(
        ids(&rest.body),
        ["inv_050", "inv_051", "inv_052", "inv_053", "inv_054"]
    );
    // Both filters.
    let blocked = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?kind=voucher&status=blocked"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(ids(&blocked.body), ["vch_1"]);
    let none = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?kind=customer&status=failed"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(none.body, json!({"items": [], "next_cursor": null}));

    // Bad parameters name their field.
    for (query, field) in [
        ("status=done", "status"),
        ("kind=order", "kind"),
        ("cursor=%21%21", "cursor"),
        (&format!("kind=customer&cursor={cursor}") as &str, "cursor"),
    ] {
        let bad = call(
            &deps,
            "GET",
            &format!("{BASE}/sync-items?{query}"),
            Some(&owner),
            None,
        )
        .await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.text);
        assert_eq!(bad.body["errors"][0]["field"], field, "{query}");
    }
    // Reads need owner or service.
    let performer = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items"),
        Some(&jwt("acme", "performer")),
        None,
    )
    .await;
    assert_eq!(performer.status, 403);
    let anonymous = call(&deps, "GET", &format!("{BASE}/sync-items"), None, None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn the_retry_route_sets_a_failed_item_pending_and_queues_it() {
    let (_sb, deps, tenant) = connected().await;
    let failed = seed(&deps, RecordKind::Invoice, "inv_1", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Invoice, "inv_2", ItemStatus::Synced).await;
    let owner = jwt("acme", "owner");
    let url = |kind: &str, id: &str| format!("{BASE}/sync-items/{kind}/{id}/retry");

    let unknown = call(
        &deps,
        "POST",
        &url("invoice", "inv_404"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.body["code"], "not_found");
    let bad_kind = call(&deps, "POST", &url("order", "inv_1"), Some(&owner), None).await;
    assert_eq!(bad_kind.status, 400);
    assert_eq!(bad_kind.body["errors"][0]["field"], "kind");
    for role in ["performer", "service", "coordinator"] {
        let denied = call(
            &deps,
            "POST",
            &url("invoice", "inv_1"),
            Some(&jwt("acme", role)),
            None,
        )
        .await;
        assert_eq!(denied.status, 403, "{role}");
    }
    let synced = call(&deps, "POST", &url("invoice", "inv_2"), Some(&owner), None).await;
    assert_eq!(synced.status, 409, "{}", synced.text);
    assert_eq!(synced.body["code"], "not_retryable");
    assert!(drain_jobs(&deps).await.is_empty());

    let retried = call(&deps, "POST", &url("invoice", "inv_1"), Some(&owner), None).await;

    assert_eq!(retried.status, 202, "{}", retried.text);
    assert_eq!(
        retried.body,
        json!({"kind": "invoice", "id": "inv_1", "status": "pending"})
    );
    let item = deps
        .items
        .clone()
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Pending);
    assert_eq!(item.attempts, failed.attempts);
    assert_eq!(item.version, failed.version + 1);
    assert_eq!(
        drain_jobs(&deps).await,
        [SyncJob::Push {
            tenant: tenant.clone(),
            kind: RecordKind::Invoice,
            id: "inv_1".into()
        }]
    );

    // An expired connection: retrying would only block again.
    seed(&deps, RecordKind::Invoice, "inv_3", ItemStatus::Blocked).await;
    deps.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Expired,
            None,
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();
    let expired = call(&deps, "POST", &url("invoice", "inv_3"), Some(&owner), None).await;
    assert_eq!(expired.status, 409, "{}", expired.text);
    assert_eq!(expired.body["code"], "not_connected");
    assert!(drain_jobs(&deps).await.is_empty());
}

#[tokio::test]
async fn retry_failed_and_blocked_queues_one_job_per_waiting_item() {
    let (_sb, deps, tenant) = connected().await;
    seed(&deps, RecordKind::Invoice, "inv_f1", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Invoice, "inv_f2", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Customer, "cus_b", ItemStatus::Blocked).await;
    seed(&deps, RecordKind::Invoice, "inv_s", ItemStatus::Synced).await;
    seed(&deps, RecordKind::Voucher, "vch_p", ItemStatus::Pending).await;

    let queued = app::resume::retry_failed_and_blocked(&deps, &tenant)
        .await
        .unwrap();

    assert_eq!(queued, 3);
    let items = deps.items.clone();
    for (kind, id, status) in [
        (RecordKind::Invoice, "inv_f1", ItemStatus::Pending),
        (RecordKind::Invoice, "inv_f2", ItemStatus::Pending),
        (RecordKind::Customer, "cus_b", ItemStatus::Pending),
        (RecordKind::Invoice, "inv_s", ItemStatus::Synced),
        (RecordKind::Voucher, "vch_p", ItemStatus::Pending),
    ] {
        let item = items.get(&tenant, kind, id).await.unwrap().unwrap();
        assert_eq!(item.status, status, "{id}");
    }
    let mut jobs: Vec<String> = drain_jobs(&deps)
        .await
        .into_iter()
        .map(|j| match j {
            SyncJob::Push { id, .. } => id,
            other => panic!("{other:?}"),
        })
        .collect();
    jobs.sort();
    assert_eq!(jobs, ["cus_b", "inv_f1", "inv_f2"]);
    // Nothing waits any more: a second run queues nothing.
    assert_eq!(
        app::resume::retry_failed_and_blocked(&deps, &tenant)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_claim_is_taken_once_and_a_superseded_push_keeps_its_visma_link() {
    let deps = integration_tests::deps(&[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let items = deps.items.clone();
    seed(&deps, RecordKind::Customer, "cus_1", ItemStatus::Pending).await;
    let now = chrono::Utc::now();
    let lease = chrono::Duration::minutes(5);

    let store::Claim::Claimed { item, interrupted } = items
        .claim(&tenant, RecordKind::Customer, "cus_1", "w1", now, lease)
        .await
        .unwrap()
    else {
        panic!("not claimed")
    };
    assert!(!interrupted);
    assert_eq!(item.attempts, 1);
    assert_eq!(item.in_flight_owner.as_deref(), Some("w1"));
    // A second worker is refused while the lease runs, and takes over after it.
    assert!(matches!(
        items
            .claim(&tenant, RecordKind::Customer, "cus_1", "w2", now, lease)
            .await
            .unwrap(),
        store::Claim::Busy
    ));
    let later = now + lease + chrono::Duration::seconds(1);
    let store::Claim::Claimed {
        item: taken,
        interrupted,
    } = items
        .claim(&tenant, RecordKind::Customer, "cus_1", "w2", later, lease)
        .await
        .unwrap()
    else {
        panic!("not taken over")
    };
    assert!(interrupted, "the first attempt may have reached Visma");
    assert_eq!(taken.attempts, 2);

    // The item changes during w2's push (a newer payload, say): its version moves on.
    items
        .set_status(&taken, ItemStatus::Pending, None, later)
        .await
        .unwrap();

    let finished = items
        .finish(
            &taken,
            &store::Finish {
                status: ItemStatus::Synced,
                visma_id: Some("vc-9".into()),
                visma_number: Some("9".into()),
                last_error: None,
            },
            later,
        )
        .await
        .unwrap();

    assert_eq!(finished, store::Finished::Superseded);
    let after = items
        .get(&tenant, RecordKind::Customer, "cus_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, ItemStatus::Pending, "the newer state stands");
    assert_eq!(after.visma_id.as_deref(), Some("vc-9"), "the link is kept");
    assert_eq!(after.in_flight_owner, None, "the claim is released");
    // And the next claim is a clean one.
    assert!(matches!(
        items
            .claim(&tenant, RecordKind::Customer, "cus_1", "w3", later, lease)
            .await
            .unwrap(),
        store::Claim::Claimed {
            interrupted: false,
            ..
        }
    ));
}

/// An event whose item write is refused records nothing: the marker put that ran first in the
/// same transaction is rolled back (in AWS, and in the emulator's wrapper,
/// `scripts/moto_server_atomic.py`, which rolls back only the items a transaction touched).
#[tokio::test]
async fn a_refused_item_write_leaves_no_event_marker() {
    let deps = integration_tests::deps(&[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let items = deps.items.clone();
    let stored = seed(
        &deps,
        RecordKind::Invoice,
        "inv_rollback",
        ItemStatus::Pending,
    )
    .await;

    let later = parsed_event_with_id(RecordKind::Invoice, "inv_rollback", "evt_refused_replace");
    let now = chrono::Utc::now();
    let marker = EventMarker::new(&later, "stored", false, now, chrono::Duration::seconds(60));
    let replacement = SyncItem::new(&later, ItemStatus::Pending, None, now).unwrap();
    let refused = items
        .record_event(
            &marker,
            &ItemWrite::Replace {
                item: Box::new(replacement.clone()),
                expected_version: stored.version + 7,
            },
        )
        .await;
    assert!(
        matches!(refused, Err(store::RecordError::ItemChanged)),
        "{refused:?}"
    );
    assert!(items
        .event(&tenant, "evt_refused_replace")
        .await
        .unwrap()
        .is_none());

    let again = parsed_event_with_id(RecordKind::Invoice, "inv_rollback", "evt_refused_create");
    let marker = EventMarker::new(&again, "stored", false, now, chrono::Duration::seconds(60));
    let refused = items
        .record_event(&marker, &ItemWrite::Create(Box::new(replacement)))
        .await;
    assert!(
        matches!(refused, Err(store::RecordError::ItemChanged)),
        "{refused:?}"
    );
    assert!(items
        .event(&tenant, "evt_refused_create")
        .await
        .unwrap()
        .is_none());
    let unchanged = items
        .get(&tenant, RecordKind::Invoice, "inv_rollback")
        .await
        .unwrap()
        .expect("the stored item");
    assert_eq!(unchanged.version, stored.version);
}

/// A pending item whose job was lost (a delivery died before sending it and Aourly stopped
/// retrying) is queued again by the tenant's scheduled pull once it has been untouched for
/// `STALE_PENDING`; a recent pending item is left to its job.
#[tokio::test]
async fn the_scheduled_pull_requeues_pending_items_whose_job_was_lost() {
    let (_sb, deps, tenant) = connected().await;
    let items = deps.items.clone();
    let long_ago = chrono::Utc::now() - app::resume::STALE_PENDING - chrono::Duration::minutes(1);
    for (id, at) in [("inv_lost", long_ago), ("inv_recent", chrono::Utc::now())] {
        let event = parsed_event(RecordKind::Invoice, id);
        let item = SyncItem::new(&event, ItemStatus::Pending, None, at).unwrap();
        let marker = EventMarker::new(&event, "stored", true, at, chrono::Duration::seconds(60));
        items
            .record_event(&marker, &ItemWrite::Create(Box::new(item)))
            .await
            .unwrap();
    }
    assert!(drain_jobs(&deps).await.is_empty(), "no job was ever sent");

    deps.queue
        .send(
            &SyncJob::Pull {
                tenant: tenant.clone(),
            },
            0,
        )
        .await
        .unwrap();
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.received, report.done), (1, 1));

    assert_eq!(
        drain_jobs(&deps).await,
        [SyncJob::Push {
            tenant: tenant.clone(),
            kind: RecordKind::Invoice,
            id: "inv_lost".into()
        }]
    );
}

/// The status page's counts, as `GET` of the base path answers them.
async fn counts(deps: &Deps) -> Value {
    let status = call(deps, "GET", BASE, Some(&jwt("acme", "owner")), None).await;
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
    let (_sb, deps, tenant) = connected().await;
    let items = deps.items.clone();
    for i in 0..3 {
        seed(
            &deps,
            RecordKind::Invoice,
            &format!("inv_{i}"),
            ItemStatus::Pending,
        )
        .await;
    }
    seed(&deps, RecordKind::Invoice, "inv_f1", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Invoice, "inv_f2", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Voucher, "vch_1", ItemStatus::Blocked).await;
    assert_eq!(counts(&deps).await, counted(3, 0, 2, 1));

    // A push: claim, then finish as synced.
    let now = chrono::Utc::now();
    let store::Claim::Claimed { item, .. } = items
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
    let finish = store::Finish {
        status: ItemStatus::Synced,
        visma_id: Some("ci-1".into()),
        visma_number: Some("1".into()),
        last_error: None,
    };
    items.finish(&item, &finish, now).await.unwrap();
    assert_eq!(counts(&deps).await, counted(2, 1, 2, 1));

    // The owner retries a failed item (set_status back to pending).
    let retry = call(
        &deps,
        "POST",
        &format!("{BASE}/sync-items/invoice/inv_f1/retry"),
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    assert_eq!(counts(&deps).await, counted(3, 1, 1, 1));

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
    assert_eq!(counts(&deps).await, counted(4, 0, 1, 1));

    // The failed list reads what GSI2 holds for `failed`: the retried item has left it.
    let owner = jwt("acme", "owner");
    let failed = call(
        &deps,
        "GET",
        &format!("{BASE}/sync-items?status=failed"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(ids(&failed.body), ["inv_f2"]);
}

#[tokio::test]
async fn a_status_list_longer_than_a_page_pages_through_the_index() {
    let deps = integration_tests::deps(&[]).await;
    for i in 0..130 {
        let status = if i % 2 == 0 {
            ItemStatus::Blocked
        } else {
            ItemStatus::Synced
        };
        seed(&deps, RecordKind::Customer, &format!("cus_{i:03}"), status).await;
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
        let page = call(&deps, "GET", &path, Some(&owner), None).await;
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
async fn set_index_key(deps: &Deps, tenant: &TenantId, id: &str, key: Option<&str>) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let update = integration_tests::dynamodb()
        .await
        .update_item()
        .table_name(&deps.config.table_name)
        .key("PK", AttributeValue::S(store::keys::tenant_pk(tenant)))
        .key(
            "SK",
            AttributeValue::S(store::keys::item_sk(RecordKind::Invoice, id)),
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
async fn index_counts(deps: &Deps, tenant: &TenantId) -> Value {
    let items = deps.items.clone();
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
    let (_sb, deps, tenant) = connected().await;
    seed(&deps, RecordKind::Invoice, "inv_old1", ItemStatus::Synced).await;
    seed(&deps, RecordKind::Invoice, "inv_old2", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Invoice, "inv_stale", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Invoice, "inv_new", ItemStatus::Pending).await;
    set_index_key(&deps, &tenant, "inv_old1", None).await;
    set_index_key(&deps, &tenant, "inv_old2", None).await;
    let stale = store::keys::item_status_pk(&tenant, "pending");
    set_index_key(&deps, &tenant, "inv_stale", Some(&stale)).await;
    assert_eq!(index_counts(&deps, &tenant).await, counted(2, 0, 0, 0));

    // No pull ran (an expired or disconnected tenant is never pulled): the status page indexes.
    assert_eq!(counts(&deps).await, counted(1, 1, 2, 0));
    assert_eq!(index_counts(&deps, &tenant).await, counted(1, 1, 2, 0));
    let state = deps.pulled.clone().pull_state(&tenant).await.unwrap();
    assert!(state.items_status_indexed, "remembered at once");
    let again = deps.items.clone().index_statuses(&tenant).await.unwrap();
    assert_eq!(again, 0, "nothing left to index");

    // A pull afterwards keeps the mark (it saves the whole pull state).
    app::pull::run(&deps, &tenant).await.expect("pull");
    let state = deps.pulled.clone().pull_state(&tenant).await.unwrap();
    assert!(state.items_status_indexed);
}

#[tokio::test]
async fn the_pull_indexes_items_written_before_the_status_index() {
    let (_sb, deps, tenant) = connected().await;
    seed(&deps, RecordKind::Invoice, "inv_old1", ItemStatus::Synced).await;
    seed(&deps, RecordKind::Invoice, "inv_old2", ItemStatus::Failed).await;
    seed(&deps, RecordKind::Invoice, "inv_new", ItemStatus::Pending).await;
    set_index_key(&deps, &tenant, "inv_old1", None).await;
    set_index_key(&deps, &tenant, "inv_old2", None).await;
    assert_eq!(index_counts(&deps, &tenant).await, counted(1, 0, 0, 0));

    app::pull::run(&deps, &tenant).await.expect("pull");
    assert_eq!(index_counts(&deps, &tenant).await, counted(1, 1, 1, 0));
    let state = deps.pulled.clone().pull_state(&tenant).await.unwrap();
    assert!(state.items_status_indexed);
}
