//! Figure 4: webhook accept time against the local emulator, and the floor of the DynamoDB
//! and SQS calls an accept must make, measured interleaved in the same run.

use std::time::{Duration, Instant};

use app::Deps;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use axum::Router;
use tower::ServiceExt;

use crate::counting::{self, AwsCounter};
use crate::fixtures::{customer, invoice, invoice_event};
use crate::report::{figure, note, percentile_ms, section};

const WARM_UP: usize = 20;

async fn accept(router: &Router, event: &serde_json::Value) -> Duration {
    // Signing is the sender's work: the clock starts when the request is handed over.
    let request = integration_tests::payloads::signed_webhook_request(event);
    let started = Instant::now();
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let elapsed = started.elapsed();
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&bytes));
    elapsed
}

/// The calls an accept cannot do without: read the connection, write the event marker and the
/// sync item in one transaction, send the job.
async fn floor(deps: &Deps, tenant: &domain::TenantId, i: usize, payload: &str) -> Duration {
    // One client for every sample, as the service keeps one: no connection set-up timed.
    static CLIENT: tokio::sync::OnceCell<aws_sdk_dynamodb::Client> =
        tokio::sync::OnceCell::const_new();
    let table = CLIENT
        .get_or_init(|| async { aws_sdk_dynamodb::Client::new(&integration_tests::aws().await) })
        .await;
    let name = deps.config.table_name.as_str();
    let pk = format!("BENCHFLOOR#{i}");
    let started = Instant::now();
    table
        .get_item()
        .table_name(name)
        .key("PK", AttributeValue::S(store::keys::tenant_pk(tenant)))
        .key(
            "SK",
            AttributeValue::S(store::keys::connection_sk().to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem");
    let put = |sk: &str, body: Option<&str>| {
        let mut p = Put::builder()
            .table_name(name)
            .item("PK", AttributeValue::S(pk.clone()))
            .item("SK", AttributeValue::S(sk.to_owned()))
            .item("status", AttributeValue::S("pending".into()))
            .item(
                "created_at",
                AttributeValue::S(chrono::Utc::now().to_rfc3339()),
            )
            .condition_expression("attribute_not_exists(PK)");
        if let Some(body) = body {
            p = p.item("payload", AttributeValue::S(body.to_owned()));
        }
        TransactWriteItem::builder()
            .put(p.build().expect("put"))
            .build()
    };
    table
        .transact_write_items()
        .transact_items(put("EVENT#x", None))
        .transact_items(put("ITEM#invoice#x", Some(payload)))
        .send()
        .await
        .expect("TransactWriteItems");
    deps.queue
        .client()
        .send_message()
        .queue_url(deps.queue.url())
        .message_body(r#"{"job":"push","tenant":"bench-webhook","kind":"invoice","id":"x"}"#)
        .send()
        .await
        .expect("SendMessage");
    started.elapsed()
}

pub async fn run(n: usize) {
    section(&format!(
        "4. Webhook accept time: {n} sequential accepts through the service's router, \
         interleaved with the same number of floor sequences"
    ));
    let sb = integration_tests::sandbox().await;
    let deps = crate::fixtures::deps_with_sandbox(&sb, &[]).await;
    let t = "bench-webhook";
    let tenant = domain::TenantId::parse(t).expect("tenant");
    integration_tests::connect_tenant(&deps, &sb, &tenant, integration_tests::first_company(&sb))
        .await;
    let router = local::http_router(&deps);
    let event = |i: usize| {
        invoice_event(
            &format!("evt_w{i}"),
            t,
            invoice(
                &format!("inv_w{i}"),
                &format!("{}", 50_000 + i),
                customer("cus_w", "30001"),
            ),
        )
    };
    let payload = event(0).to_string();

    // What one accept costs in requests (a separate counted run, so the timings below carry
    // no interceptor).
    let counter = AwsCounter::default();
    let counted = counting::counted(&deps, &counter).await;
    let counted_router = local::http_router(&counted);
    accept(&counted_router, &event(1_000_000)).await;
    let per_accept = counter.snapshot();
    note(format!(
        "one accept makes: DynamoDB {} ({}), SQS {} ({})",
        counting::total(&per_accept, "DynamoDB"),
        counting::breakdown(&per_accept, "DynamoDB"),
        counting::total(&per_accept, "SQS"),
        counting::breakdown(&per_accept, "SQS")
    ));

    let (mut hook, mut must) = (Vec::new(), Vec::new());
    for i in 0..WARM_UP + n {
        let a = accept(&router, &event(i)).await;
        let b = floor(&deps, &tenant, i, &payload).await;
        if i >= WARM_UP {
            hook.push(a);
            must.push(b);
        }
    }
    let (h50, h99) = (percentile_ms(&mut hook, 50), percentile_ms(&mut hook, 99));
    let (m50, m99) = (percentile_ms(&mut must, 50), percentile_ms(&mut must, 99));
    note(format!("webhook accept: p50 {h50:.2} ms, p99 {h99:.2} ms"));
    note(format!(
        "floor (GetItem connection + TransactWriteItems + SendMessage, direct SDK): p50 {m50:.2} ms, p99 {m99:.2} ms"
    ));
    let (r50, r99) = (h50 / m50, h99 / m99);
    figure(
        "Webhook accept p50 / floor p50",
        format!("{r50:.2}x ({h50:.2} ms vs {m50:.2} ms)"),
        "≤ 1.3x",
        Some(r50 <= 1.3),
    );
    figure(
        "Webhook accept p99 / floor p99",
        format!("{r99:.2}x ({h99:.2} ms vs {m99:.2} ms)"),
        "≤ 1.3x",
        Some(r99 <= 1.3),
    );
}
