//! The IAM test's flows (see `iam.rs`): each function's handler driven through what it does,
//! then checked against its grants in template.yaml.

use integration_tests::internals::functions::{
    api_router, handle_tick, oauth_callback_router, schedule_event, webhook_router,
};
use integration_tests::internals::{self, ConnectionStatus, ItemStatus, RecordKind, TenantId};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::json;
use visma_sandbox::{DropRule, Faults};

use super::connection::{authorize_at_visma, start_connect};
use super::iam::{
    assert_least_privilege, world, API, OAUTH_CALLBACK, SCHEDULED_PULL, SYNC_WORKER, WEBHOOK,
};

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
    let error = internals::ItemError::new(internals::ItemCode::VismaRejected, "Visma refused it");
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
    let error =
        internals::ItemError::new(internals::ItemCode::MappingIncomplete, "no entry for 12 %");
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
    let pulled = setup.pulled.clone();
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
