//! The sync items behind the Integrations page (integration guide "Management API"): listing with filters and cursor
//! paging, the retry route, retrying every failed and blocked item, and the worker's claim.

use integration_tests::internals::{
    self, ConnectionStatus, EventMarker, ItemError, ItemStatus, ItemWrite, RecordKind, SyncItem,
    SyncJob, TenantId,
};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::{json, Value};

pub(crate) const BASE: &str = "/tenants/acme/visma";

/// Stores an item directly (as an accepted webhook would), then gives it `status`.
pub(crate) async fn seed(
    app: &TestApp,
    kind: RecordKind,
    id: &str,
    status: ItemStatus,
) -> SyncItem {
    let items = app.items();
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
            internals::ItemCode::VismaRejected,
            "Visma refused it",
        )),
        ItemStatus::Blocked => Some(ItemError::new(
            internals::ItemCode::MappingIncomplete,
            "no entry for 12 %",
        )),
        _ => None,
    };
    items
        .set_status(&item, status, error.as_ref(), now)
        .await
        .unwrap()
}

pub(crate) fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn connected() -> (visma_sandbox::Sandbox, TestApp, TenantId) {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sb, &tenant, first_company(&sb)).await;
    (sb, app, tenant)
}

#[tokio::test]
async fn listing_filters_by_status_and_kind_and_pages_with_a_cursor() {
    let app = spawn_app(&[]).await;
    for i in 0..55 {
        let status = if i % 11 == 0 {
            ItemStatus::Failed
        } else {
            ItemStatus::Synced
        };
        seed(&app, RecordKind::Invoice, &format!("inv_{i:03}"), status).await;
    }
    for i in 0..4 {
        seed(
            &app,
            RecordKind::Customer,
            &format!("cus_{i}"),
            ItemStatus::Pending,
        )
        .await;
    }
    seed(&app, RecordKind::Voucher, "vch_1", ItemStatus::Blocked).await;
    // Other item kinds in the partition are not listed.
    let owner = jwt("acme", "owner");

    // All items: 60, in pages of 50.
    let first = app
        .get(format!("{BASE}/sync-items"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(ids(&first.body).len(), 50);
    let cursor = first.body["next_cursor"].as_str().expect("a next cursor");
    let second = app
        .get(format!("{BASE}/sync-items?cursor={cursor}"))
        .bearer(&owner)
        .send()
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
    let failed = app
        .get(format!("{BASE}/sync-items?status=failed"))
        .as_service("acme")
        .send()
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
    let inv = app
        .get(format!("{BASE}/sync-items?kind=invoice"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(ids(&inv.body).len(), 50);
    let cursor = inv.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(format!("{BASE}/sync-items?kind=invoice&cursor={cursor}"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(
        ids(&rest.body),
        ["inv_050", "inv_051", "inv_052", "inv_053", "inv_054"]
    );
    // Both filters.
    let blocked = app
        .get(format!("{BASE}/sync-items?kind=voucher&status=blocked"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(ids(&blocked.body), ["vch_1"]);
    let none = app
        .get(format!("{BASE}/sync-items?kind=customer&status=failed"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(none.body, json!({"items": [], "next_cursor": null}));

    // Bad parameters name their field.
    for (query, field) in [
        ("status=done", "status"),
        ("kind=order", "kind"),
        ("cursor=%21%21", "cursor"),
        (&format!("kind=customer&cursor={cursor}") as &str, "cursor"),
    ] {
        let bad = app
            .get(format!("{BASE}/sync-items?{query}"))
            .bearer(&owner)
            .send()
            .await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.text);
        assert_eq!(bad.body["errors"][0]["field"], field, "{query}");
    }
    // Reads need owner or service.
    let performer = app
        .get(format!("{BASE}/sync-items"))
        .as_role("acme", "performer")
        .send()
        .await;
    assert_eq!(performer.status, 403);
    let anonymous = app.get(format!("{BASE}/sync-items")).send().await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn the_retry_route_sets_a_failed_item_pending_and_queues_it() {
    let (_sb, app, tenant) = connected().await;
    let failed = seed(&app, RecordKind::Invoice, "inv_1", ItemStatus::Failed).await;
    seed(&app, RecordKind::Invoice, "inv_2", ItemStatus::Synced).await;
    let owner = jwt("acme", "owner");
    let url = |kind: &str, id: &str| format!("{BASE}/sync-items/{kind}/{id}/retry");

    let unknown = app
        .post(url("invoice", "inv_404"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.body["code"], "not_found");
    let bad_kind = app.post(url("order", "inv_1")).bearer(&owner).send().await;
    assert_eq!(bad_kind.status, 400);
    assert_eq!(bad_kind.body["errors"][0]["field"], "kind");
    for role in ["performer", "service", "coordinator"] {
        let denied = app
            .post(url("invoice", "inv_1"))
            .bearer(&jwt("acme", role))
            .send()
            .await;
        assert_eq!(denied.status, 403, "{role}");
    }
    let synced = app
        .post(url("invoice", "inv_2"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(synced.status, 409, "{}", synced.text);
    assert_eq!(synced.body["code"], "not_retryable");
    assert!(app.drain_jobs().await.is_empty());

    let retried = app
        .post(url("invoice", "inv_1"))
        .bearer(&owner)
        .send()
        .await;

    assert_eq!(retried.status, 202, "{}", retried.text);
    assert_eq!(
        retried.body,
        json!({"kind": "invoice", "id": "inv_1", "status": "pending"})
    );
    let item = app
        .items()
        .get(&tenant, RecordKind::Invoice, "inv_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ItemStatus::Pending);
    assert_eq!(item.attempts, failed.attempts);
    assert_eq!(item.version, failed.version + 1);
    assert_eq!(
        app.drain_jobs().await,
        [SyncJob::Push {
            tenant: tenant.clone(),
            kind: RecordKind::Invoice,
            id: "inv_1".into()
        }]
    );

    // An expired connection: retrying would only block again.
    seed(&app, RecordKind::Invoice, "inv_3", ItemStatus::Blocked).await;
    app.connections
        .leave_connected(
            &tenant,
            ConnectionStatus::Expired,
            None,
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();
    let expired = app
        .post(url("invoice", "inv_3"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(expired.status, 409, "{}", expired.text);
    assert_eq!(expired.body["code"], "not_connected");
    assert!(app.drain_jobs().await.is_empty());
}

#[tokio::test]
async fn retry_failed_and_blocked_queues_one_job_per_waiting_item() {
    let (_sb, app, tenant) = connected().await;
    seed(&app, RecordKind::Invoice, "inv_f1", ItemStatus::Failed).await;
    seed(&app, RecordKind::Invoice, "inv_f2", ItemStatus::Failed).await;
    seed(&app, RecordKind::Customer, "cus_b", ItemStatus::Blocked).await;
    seed(&app, RecordKind::Invoice, "inv_s", ItemStatus::Synced).await;
    seed(&app, RecordKind::Voucher, "vch_p", ItemStatus::Pending).await;

    let queued = internals::resume::retry_failed_and_blocked(&app, &tenant)
        .await
        .unwrap();

    assert_eq!(queued, 3);
    let items = app.items();
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
    let mut jobs: Vec<String> = app
        .drain_jobs()
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
        internals::resume::retry_failed_and_blocked(&app, &tenant)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_claim_is_taken_once_and_a_superseded_push_keeps_its_visma_link() {
    let app = spawn_app(&[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let items = app.items();
    seed(&app, RecordKind::Customer, "cus_1", ItemStatus::Pending).await;
    let now = chrono::Utc::now();
    let lease = chrono::Duration::minutes(5);

    let internals::Claim::Claimed { item, interrupted } = items
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
        internals::Claim::Busy
    ));
    let later = now + lease + chrono::Duration::seconds(1);
    let internals::Claim::Claimed {
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
            &internals::Finish {
                status: ItemStatus::Synced,
                visma_id: Some("vc-9".into()),
                visma_number: Some("9".into()),
                last_error: None,
            },
            later,
        )
        .await
        .unwrap();

    assert_eq!(finished, internals::Finished::Superseded);
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
        internals::Claim::Claimed {
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
    let app = spawn_app(&[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let items = app.items();
    let stored = seed(
        &app,
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
        matches!(refused, Err(internals::RecordError::ItemChanged)),
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
        matches!(refused, Err(internals::RecordError::ItemChanged)),
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
    let (_sb, app, tenant) = connected().await;
    let items = app.items();
    let long_ago =
        chrono::Utc::now() - internals::resume::STALE_PENDING - chrono::Duration::minutes(1);
    for (id, at) in [("inv_lost", long_ago), ("inv_recent", chrono::Utc::now())] {
        let event = parsed_event(RecordKind::Invoice, id);
        let item = SyncItem::new(&event, ItemStatus::Pending, None, at).unwrap();
        let marker = EventMarker::new(&event, "stored", true, at, chrono::Duration::seconds(60));
        items
            .record_event(&marker, &ItemWrite::Create(Box::new(item)))
            .await
            .unwrap();
    }
    assert!(app.drain_jobs().await.is_empty(), "no job was ever sent");

    app.queue
        .send(
            &SyncJob::Pull {
                tenant: tenant.clone(),
            },
            0,
        )
        .await
        .unwrap();
    let report = internals::poll_once(&app, 0).await.unwrap();
    assert_eq!((report.received, report.done), (1, 1));

    assert_eq!(
        app.drain_jobs().await,
        [SyncJob::Push {
            tenant: tenant.clone(),
            kind: RecordKind::Invoice,
            id: "inv_lost".into()
        }]
    );
}
