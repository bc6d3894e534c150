//! Figure 1: Visma, DynamoDB and SQS requests per pushed invoice.

use std::collections::BTreeMap;

use app::Deps;
use visma_sandbox::Sandbox;

use crate::counting::{self, AwsCounter};
use crate::fixtures::{self, customer, invoice, invoice_event};
use crate::report::{figure, note, section};

struct Cost {
    visma: BTreeMap<String, u64>,
    webhook: BTreeMap<String, u64>,
    worker: BTreeMap<String, u64>,
}

/// Posts `event` through the router, then runs the worker until the queue is empty, counting
/// what each half cost.
async fn push(deps: &Deps, sb: &Sandbox, counter: &AwsCounter, event: &serde_json::Value) -> Cost {
    sb.clear_request_log();
    counter.reset();
    let answer = crate::fixtures::test_app(deps)
        .await
        .post_webhook(event)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let webhook = counter.snapshot();
    counter.reset();
    drain(deps).await;
    Cost {
        visma: fixtures::visma_requests(sb),
        webhook,
        worker: without_final_empty_receive(counter.snapshot()),
    }
}

/// The drain ends with one receive that finds the queue empty; in AWS the event source
/// mapping's polling is not per invoice, so it is left out.
fn without_final_empty_receive(mut counts: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    if let Some(n) = counts.get_mut("SQS.ReceiveMessage") {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove("SQS.ReceiveMessage");
        }
    }
    counts
}

/// Runs the worker (the local runner's poll, as `make serve` does) until the queue is empty.
async fn drain(deps: &Deps) {
    for _ in 0..20 {
        let report = local::poll_once(deps, 0).await.expect("poll the queue");
        if report.received == 0 {
            return;
        }
        for handle in &report.returned {
            deps.queue
                .change_visibility(handle, 0)
                .await
                .expect("make a returned message visible");
        }
    }
    panic!("the queue did not empty");
}

fn print_cost(label: &str, cost: &Cost) {
    note(format!(
        "{label}: Visma {} ({}); webhook: DynamoDB {} ({}), SQS {} ({}); worker: DynamoDB {} ({}), SQS {} ({})",
        fixtures::sum(&cost.visma),
        fixtures::describe(&cost.visma),
        counting::total(&cost.webhook, "DynamoDB"),
        counting::breakdown(&cost.webhook, "DynamoDB"),
        counting::total(&cost.webhook, "SQS"),
        counting::breakdown(&cost.webhook, "SQS"),
        counting::total(&cost.worker, "DynamoDB"),
        counting::breakdown(&cost.worker, "DynamoDB"),
        counting::total(&cost.worker, "SQS"),
        counting::breakdown(&cost.worker, "SQS"),
    ));
}

fn ddb(cost: &Cost) -> u64 {
    counting::total(&cost.webhook, "DynamoDB") + counting::total(&cost.worker, "DynamoDB")
}

fn sqs(cost: &Cost) -> u64 {
    counting::total(&cost.webhook, "SQS") + counting::total(&cost.worker, "SQS")
}

pub async fn run() {
    section("1. Requests per pushed invoice (sandbox request log; SDK interceptor for AWS)");
    let sb = integration_tests::sandbox().await;
    let plain = crate::fixtures::deps_with_sandbox(&sb, &[]).await;
    let counter = AwsCounter::default();
    let deps = counting::counted(&plain, &counter).await;
    let t = "bench-calls";
    fixtures::ready(&deps, &sb, t, integration_tests::first_company(&sb)).await;

    let first_new = push(
        &deps,
        &sb,
        &counter,
        &invoice_event(
            "evt_1",
            t,
            invoice("inv_1", "1001", customer("cus_1", "20001")),
        ),
    )
    .await;
    print_cost("new customer, the tenant's first push", &first_new);
    let new = push(
        &deps,
        &sb,
        &counter,
        &invoice_event(
            "evt_2",
            t,
            invoice("inv_2", "1002", customer("cus_2", "20002")),
        ),
    )
    .await;
    print_cost("new customer, the tenant's second", &new);
    let known = push(
        &deps,
        &sb,
        &counter,
        &invoice_event(
            "evt_3",
            t,
            invoice("inv_3", "1003", customer("cus_1", "20001")),
        ),
    )
    .await;
    print_cost("known customer", &known);
    let same_id = push(
        &deps,
        &sb,
        &counter,
        &invoice_event(
            "evt_3",
            t,
            invoice("inv_3", "1003", customer("cus_1", "20001")),
        ),
    )
    .await;
    print_cost("duplicate delivery (same event id)", &same_id);
    let new_id = push(
        &deps,
        &sb,
        &counter,
        &invoice_event(
            "evt_4",
            t,
            invoice("inv_3", "1003", customer("cus_1", "20001")),
        ),
    )
    .await;
    print_cost("duplicate delivery (same invoice, new event id)", &new_id);
    // A duplicate SQS delivery of a job already done.
    sb.clear_request_log();
    counter.reset();
    let tenant = domain::TenantId::parse(t).expect("tenant");
    let outcome = app::push::run(&deps, &tenant, domain::RecordKind::Invoice, "inv_3").await;
    assert!(
        matches!(outcome, Ok(app::push::PushOutcome::Skipped)),
        "{outcome:?}"
    );
    let sqs_dup = Cost {
        visma: fixtures::visma_requests(&sb),
        webhook: BTreeMap::new(),
        worker: counter.snapshot(),
    };
    print_cost("duplicate SQS delivery of a done job", &sqs_dup);

    let booked = sb
        .customer_invoices(integration_tests::first_company(&sb))
        .iter()
        .filter(|i| i["BuyersOrderReference"] == "Aourly 1003")
        .count();
    assert_eq!(booked, 1, "the duplicates must not book the invoice twice");

    let v = |c: &Cost| fixtures::sum(&c.visma);
    figure(
        "Visma calls per invoice, known customer",
        v(&known).to_string(),
        "1",
        Some(v(&known) == 1),
    );
    figure(
        "Visma calls per invoice, new customer",
        format!(
            "{} ({}); the tenant's first push {}",
            v(&new),
            fixtures::describe(&new.visma),
            v(&first_new)
        ),
        "≤ 2",
        Some(v(&new) <= 2 && v(&first_new) <= 2),
    );
    let dup = v(&same_id) + v(&new_id) + v(&sqs_dup);
    figure(
        "Visma calls on a duplicate delivery",
        format!(
            "{} (same event id {}, same invoice new event id {}, repeated SQS job {})",
            dup,
            v(&same_id),
            v(&new_id),
            v(&sqs_dup)
        ),
        "0",
        Some(dup == 0),
    );
    figure(
        "DynamoDB requests per invoice, known customer",
        format!(
            "{} (webhook {}: {}; worker {}: {}); SQS {}",
            ddb(&known),
            counting::total(&known.webhook, "DynamoDB"),
            counting::breakdown(&known.webhook, "DynamoDB"),
            counting::total(&known.worker, "DynamoDB"),
            counting::breakdown(&known.worker, "DynamoDB"),
            sqs(&known)
        ),
        "(reported)",
        None,
    );
    figure(
        "DynamoDB requests per invoice, new customer",
        format!("{}; SQS {}", ddb(&new), sqs(&new)),
        "(reported)",
        None,
    );
    figure(
        "DynamoDB requests on a duplicate delivery",
        format!(
            "same event id {}, new event id {}, repeated SQS job {}",
            ddb(&same_id),
            ddb(&new_id),
            ddb(&sqs_dup)
        ),
        "(reported)",
        None,
    );
}
