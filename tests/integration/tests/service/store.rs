//! The store's first slice against the local AWS emulator: items, conditional writes, queries,
//! the queue and its dead-letter queue, all created from template.yaml.

use integration_tests::*;

use integration_tests::internals::resources::Definitions;
use integration_tests::internals::{keys, StoreError};
use integration_tests::internals::{RecordKind, SyncJob, TenantId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK", skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    text: String,
}

fn note(pk: &str, sk: &str, text: &str) -> Note {
    Note {
        pk: pk.into(),
        sk: sk.into(),
        gsi1pk: None,
        gsi1sk: None,
        text: text.into(),
    }
}

#[tokio::test]
async fn items_are_written_claimed_once_read_and_queried() {
    // GIVEN a fresh table made from template.yaml
    let app = spawn_app(&[]).await;
    let table = &app.table;

    // WHEN an item is written and read back
    table.put(&note("T#1", "ITEM#a", "first")).await.unwrap();
    let read: Option<Note> = table.get("T#1", "ITEM#a").await.unwrap();
    // THEN it is the same item
    assert_eq!(read, Some(note("T#1", "ITEM#a", "first")));

    // WHEN the same key is claimed twice
    table
        .put_new(&note("T#1", "EVENT#e1", "claim"))
        .await
        .unwrap();
    let second = table.put_new(&note("T#1", "EVENT#e1", "again")).await;
    // THEN the second claim is refused and the first value stays
    assert!(
        matches!(second, Err(StoreError::ConditionFailed)),
        "{second:?}"
    );
    let kept: Note = table.get("T#1", "EVENT#e1").await.unwrap().unwrap();
    assert_eq!(kept.text, "claim");

    // WHEN the partition is queried by prefix
    table.put(&note("T#1", "ITEM#b", "second")).await.unwrap();
    table
        .put(&note("T#2", "ITEM#c", "other tenant"))
        .await
        .unwrap();
    let items: Vec<Note> = table.query_prefix("T#1", "ITEM#").await.unwrap();
    // THEN only that tenant's items with the prefix come back, in key order
    let texts: Vec<&str> = items.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);

    // AND a missing item reads as None, and deleting works
    assert_eq!(table.get::<Note>("T#1", "ITEM#zzz").await.unwrap(), None);
    table.delete("T#1", "ITEM#a").await.unwrap();
    assert_eq!(table.get::<Note>("T#1", "ITEM#a").await.unwrap(), None);
}

#[tokio::test]
async fn many_items_are_written_in_batches() {
    // GIVEN more items than one BatchWriteItem call takes (25), one of them already stored
    let app = spawn_app(&[]).await;
    let table = &app.table;
    table.put(&note("T#1", "ITEM#007", "old")).await.unwrap();
    let items: Vec<Note> = (0..60)
        .map(|i| note("T#1", &format!("ITEM#{i:03}"), &format!("n{i}")))
        .collect();

    // WHEN they are written together
    table.put_all(&items).await.unwrap();

    // THEN every one is stored, replacing the old value
    let read: Vec<Note> = table.query_prefix("T#1", "ITEM#").await.unwrap();
    assert_eq!(read, items);
    // AND nothing to write is no call at all
    table.put_all::<Note>(&[]).await.unwrap();
}

#[tokio::test]
async fn the_sparse_index_pages_through_connected_tenants_only() {
    let app = spawn_app(&[]).await;
    for i in 0..7 {
        let tenant = TenantId::parse(&format!("tenant-{i}")).unwrap();
        let mut item = note(
            &keys::tenant_pk(&tenant),
            keys::connection_sk(),
            "connected",
        );
        // Only odd tenants are connected: the others have no GSI1 keys and stay out of the index.
        if i % 2 == 1 {
            item.gsi1pk = Some(keys::CONNECTED_PARTITION.into());
            item.gsi1sk = Some(keys::connected_sk(&tenant));
        }
        app.table.put(&item).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut start = None;
    let mut pages = 0;
    loop {
        let (page, next): (Vec<Note>, _) = app
            .table
            .query_index_page(keys::CONNECTED_PARTITION, 2, start)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.into_iter().filter_map(|n| n.gsi1sk));
        match next {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["TENANT#tenant-1", "TENANT#tenant-3", "TENANT#tenant-5"]
    );
    assert!(
        pages >= 2,
        "a page size of 2 must take several pages, took {pages}"
    );
}

#[tokio::test]
async fn concurrent_reservations_get_distinct_evenly_spaced_send_slots() {
    use internals::Reservation::{Full, Slot};
    let app = spawn_app(&[]).await;
    let schedule =
        internals::Store::new(app.table.client().clone(), &app.config.table_name, None).rates;
    let (now, spacing, max_wait) = (1_000_000_000u64, 250_000u64, 60 * 250_000u64);
    let invoices = "POST /v2/customerinvoices";
    let at = |t: u64| move || t;

    // GIVEN an idle route, WHEN twelve workers reserve at once, each guessing either way
    let slots = futures::future::join_all((0..12).map(|i| {
        let schedule = schedule.clone();
        async move {
            schedule
                .reserve("client-a", invoices, at(now), spacing, max_wait, i % 2 == 0)
                .await
                .unwrap()
        }
    }))
    .await;

    // THEN they hold the twelve slots from now on, one spacing apart, none twice
    let mut sorted: Vec<u64> = slots
        .iter()
        .map(|r| match r {
            Slot(at) => *at,
            Full { .. } => panic!("nothing is full yet: {slots:?}"),
        })
        .collect();
    sorted.sort_unstable();
    let expected: Vec<u64> = (0..12).map(|k| now + k * spacing).collect();
    assert_eq!(sorted, expected, "{slots:?}");

    // A reservation while the queue still reaches past now joins its end; a reservation after
    // the queue has drained starts at its own now; other routes and clients are separate.
    let tail = schedule
        .reserve(
            "client-a",
            invoices,
            at(now + spacing),
            spacing,
            max_wait,
            false,
        )
        .await
        .unwrap();
    assert_eq!(tail, Slot(now + 12 * spacing));
    let later = now + 100 * spacing;
    let idle = schedule
        .reserve("client-a", invoices, at(later), spacing, max_wait, true)
        .await
        .unwrap();
    assert_eq!(idle, Slot(later));
    let other_route = schedule
        .reserve(
            "client-a",
            "POST /v2/customers",
            at(now),
            spacing,
            max_wait,
            true,
        )
        .await
        .unwrap();
    let other_client = schedule
        .reserve("client-b", invoices, at(now), spacing, max_wait, true)
        .await
        .unwrap();
    assert_eq!((other_route, other_client), (Slot(now), Slot(now)));

    // A queue that reaches beyond the longest wait reserves nothing and says where it ends,
    // whichever update is tried first.
    let short_wait = 3 * spacing;
    for guess in [true, false] {
        let full = schedule
            .reserve("client-a", invoices, at(now), spacing, short_wait, guess)
            .await
            .unwrap();
        assert_eq!(
            full,
            Full {
                next_us: later + spacing
            }
        );
    }
    let after = schedule
        .reserve("client-a", invoices, at(later), spacing, max_wait, true)
        .await
        .unwrap();
    assert_eq!(
        after,
        Slot(later + spacing),
        "the refusals reserved nothing"
    );
}

#[tokio::test]
async fn jobs_are_sent_received_deleted_and_dead_lettered_after_max_receives() {
    let app = spawn_app(&[]).await;
    let queue = &app.queue;
    // The queue is made from the template; this is the receive count it declares.
    let max_receives = template::max_receive_count();

    // A job goes round trip and is deleted.
    let job = SyncJob::Push {
        tenant: TenantId::parse("acme").unwrap(),
        kind: RecordKind::Invoice,
        id: "inv_1".into(),
    };
    queue.send(&job, 0).await.unwrap();
    let got = queue.receive(10, 1).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(serde_json::from_str::<SyncJob>(&got[0].body).unwrap(), job);
    assert_eq!(got[0].receive_count, 1);
    queue.delete(&got[0].receipt_handle).await.unwrap();
    assert!(queue.receive(10, 0).await.unwrap().is_empty());

    // A message that keeps failing is received max_receives times, then moves to the DLQ.
    queue
        .send(
            &SyncJob::Pull {
                tenant: TenantId::parse("acme").unwrap(),
            },
            0,
        )
        .await
        .unwrap();
    let mut receives = 0;
    for _ in 0..(max_receives + 3) {
        let got = queue.receive(1, 1).await.unwrap();
        let Some(message) = got.first() else { break };
        receives += 1;
        assert_eq!(message.receive_count, receives);
        // "Fail" it: make it visible again at once instead of waiting out the visibility timeout.
        queue
            .change_visibility(&message.receipt_handle, 0)
            .await
            .unwrap();
    }
    assert_eq!(receives, max_receives);
    let dead = queue.receive_dead_letters(10, 1).await.unwrap();
    assert_eq!(
        dead.len(),
        1,
        "the failed job must be in the dead-letter queue"
    );
    assert!(dead[0].body.contains("\"job\":\"pull\""));
}

#[test]
fn template_declares_the_keys_the_code_uses() {
    let defs = Definitions::from_template().unwrap();
    defs.table.check_matches_code().unwrap();
    assert_eq!(defs.sync_queue.visibility_timeout, Some(360));
    assert!(defs.dead_letter_queue.redrive_policy.is_none());
}

#[test]
fn a_template_that_drifts_from_the_code_is_caught() {
    let template = internals::resources::TEMPLATE;
    for (from, to) in [
        ("AttributeName: GSI1PK", "AttributeName: GSI1PARTITION"),
        ("IndexName: GSI1", "IndexName: ByStatus"),
        ("AttributeName: expires_at", "AttributeName: ttl"),
        ("KeyType: RANGE", "KeyType: HASH"),
    ] {
        assert!(
            template.contains(from),
            "the template no longer has {from:?}"
        );
        let drifted = template.replacen(from, to, 1);
        let result = Definitions::parse(&drifted).and_then(|d| d.table.check_matches_code());
        assert!(
            result.is_err(),
            "changing {from:?} to {to:?} went unnoticed"
        );
    }
}

/// The sync queue's receive limit is one template parameter: the queue's redrive policy uses
/// it, and the sync worker (the one function that reads it) gets it as
/// `SYNC_MAX_RECEIVE_COUNT` instead of parsing the template.
#[test]
fn the_receive_limit_is_one_parameter_for_the_queue_and_the_worker() {
    let parsed = template::parsed();
    let parameter = &parsed["Parameters"]["SyncMaxReceiveCount"];
    assert_eq!(parameter["Type"].as_str(), Some("Number"), "{parameter:?}");
    assert_eq!(template::max_receive_count(), 5, "the default stays 5");
    let redrive = &parsed["Resources"]["SyncQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(
        serde_yaml_ng::to_string(&redrive["maxReceiveCount"])
            .unwrap()
            .trim(),
        "!Ref SyncMaxReceiveCount"
    );
    let given = template::function_environment("SYNC_MAX_RECEIVE_COUNT");
    assert_eq!(
        given["SyncWorkerFunction"].as_deref(),
        Some("!Ref SyncMaxReceiveCount")
    );
}
