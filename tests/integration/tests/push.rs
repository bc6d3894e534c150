//! The push pipeline end to end: webhook → table + queue → sync worker → Visma sandbox, each
//! record at most once whatever fails on the way (CONTRACT §6 pushing rules).

use app::Deps;
use domain::{RecordKind, TenantId};
use integration_tests::{
    call, connect_tenant, deps_with_sandbox, drain_queue, first_company, jwt, post_webhook, sandbox,
};
use serde_json::{json, Value};
use store::ItemStatus;
use visma_sandbox::{DropRule, Faults, Sandbox};

fn customer(id: &str, number: &str) -> Value {
    json!({"id": id, "number": number, "name": format!("Kund {number} AB"), "is_private_person": false,
           "org_number": format!("55{number}-0000"), "vat_number": null, "email": "faktura@exempel.se",
           "address": {"line1": "Storgatan 1", "line2": null, "postal_code": "11122", "city": "Stockholm", "country_code": "SE"},
           "currency": "SEK", "payment_terms_days": 30})
}

fn invoice(id: &str, number: &str, customer: Value) -> Value {
    json!({"id": id, "number": number, "customer": customer,
           "issue_date": today(), "due_date": today(),
           "currency": "SEK", "your_reference": "Anna Andersson", "our_reference": null,
           "lines": [{"description": "Konsulttimmar", "quantity": "12.5", "unit": "h",
                      "unit_price": "950.00", "vat_rate": "25", "discount_percent": "0"}],
           "totals": {"net": "11875.00", "vat": "2968.75", "gross": "14843.75"}})
}

/// The invoice most tests push: `inv_1`, number 1042, 14,843.75 SEK, for customer `cus_1`
/// (number 10042).
fn invoice_1042() -> Value {
    invoice("inv_1", "1042", customer("cus_1", "10042"))
}

/// `invoice.credited` for the whole of invoice 1042's amount, crediting `credits`.
fn credit_note(id: &str, number: &str, credits: &str) -> Value {
    let mut credit = invoice(id, number, customer("cus_1", "10042"));
    credit["lines"][0]["quantity"] = json!("-12.5");
    credit["totals"] = json!({"net": "-11875.00", "vat": "-2968.75", "gross": "-14843.75"});
    event(
        &format!("evt_{id}"),
        "invoice.credited",
        json!({"invoice": credit, "credits_invoice_id": credits}),
    )
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn event(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "tenant": "acme", "created_at": chrono::Utc::now().to_rfc3339(), "data": data})
}

fn invoice_event(event_id: &str, invoice: Value) -> Value {
    event(event_id, "invoice.created", json!({"invoice": invoice}))
}

/// A connected tenant "acme" with its first pull done (chart, codings, proposed mapping).
async fn ready(sb: &Sandbox) -> (Deps, TenantId) {
    ready_with(sb, &[]).await
}

async fn ready_with(sb: &Sandbox, overrides: &[(&str, &str)]) -> (Deps, TenantId) {
    let deps = deps_with_sandbox(sb, overrides).await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&deps, sb, &tenant, first_company(sb)).await;
    app::pull::run(&deps, &tenant).await.expect("first pull");
    let mapping = app::mapping::current(&deps, &tenant)
        .await
        .unwrap()
        .expect("a proposed mapping");
    assert!(
        mapping.complete,
        "the sandbox company has codings for every rate"
    );
    sb.clear_request_log();
    (deps, tenant)
}

async fn item(deps: &Deps, tenant: &TenantId, kind: RecordKind, id: &str) -> store::SyncItem {
    deps.items
        .clone()
        .get(tenant, kind, id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no item {id}"))
}

/// `inv_1` (invoice 1042) is synced, and Visma has it once.
async fn assert_1042_synced_once(deps: &Deps, sb: &Sandbox, tenant: &TenantId) {
    let synced = item(deps, tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(invoices_with_reference(sb, "Aourly 1042"), 1);
}

/// Visma's authorization of `tenant` has expired (as a refused refresh token records it).
async fn expire_connection(deps: &Deps, tenant: &TenantId) {
    deps.connections
        .leave_connected(
            tenant,
            domain::connection::ConnectionStatus::Expired,
            Some("test"),
            chrono::Utc::now(),
            true,
        )
        .await
        .unwrap();
}

/// Runs a pull job through the worker, as the schedule or a reconnect queues it.
async fn run_pull_job(deps: &Deps, tenant: &TenantId) {
    deps.queue
        .send(
            &domain::SyncJob::Pull {
                tenant: tenant.clone(),
            },
            0,
        )
        .await
        .unwrap();
    drain_queue(deps, 10).await;
}

/// Queues a push job for an item (as a retry, a re-queue or a redelivery would).
async fn queue_push(deps: &Deps, tenant: &TenantId, kind: RecordKind, id: &str) {
    deps.queue
        .send(
            &domain::SyncJob::Push {
                tenant: tenant.clone(),
                kind,
                id: id.into(),
            },
            0,
        )
        .await
        .unwrap();
}

/// A tenant that is ready (`ready`) with outbound events on (to an endpoint that refuses
/// them), and an empty queue: the first pull's events are not the tests' subject.
async fn ready_with_events(sb: &Sandbox) -> (Deps, TenantId) {
    let (deps, tenant) = ready_with(
        sb,
        &[
            ("AOURLY_EVENTS_URL", "http://127.0.0.1:9/events"),
            ("AOURLY_EVENTS_SECRET", "test-events-secret"),
        ],
    )
    .await;
    while let Some(m) = deps_first_message(&deps).await {
        deps.queue.delete(&m.receipt_handle).await.unwrap();
    }
    (deps, tenant)
}

/// Receives the queue's one message `times` times without handling it (workers that died),
/// so that the next receive is its `times + 1`-th.
async fn use_up_receives(deps: &Deps, times: usize) {
    for _ in 0..times {
        let messages = deps.queue.receive(10, 0).await.unwrap();
        assert_eq!(messages.len(), 1);
        deps.queue
            .change_visibility(&messages[0].receipt_handle, 0)
            .await
            .unwrap();
    }
}

/// Ends the creation lease of Aourly customer `id` now, as if its holder had died.
async fn lapse_creation_lease(deps: &Deps, id: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    integration_tests::dynamodb()
        .await
        .update_item()
        .table_name(&deps.config.table_name)
        .key("PK", AttributeValue::S("TENANT#acme".into()))
        .key("SK", AttributeValue::S(format!("CREATING#customer#{id}")))
        .update_expression("SET #until = :past")
        .expression_attribute_names("#until", "until")
        .expression_attribute_values(":past", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
}

/// Makes the messages a poll returned visible again at once (skipping their backoff).
async fn redeliver_now(deps: &Deps, report: &local::PollReport) {
    for handle in &report.returned {
        deps.queue.change_visibility(handle, 0).await.unwrap();
    }
}

fn invoices_with_reference(sb: &Sandbox, reference: &str) -> usize {
    sb.customer_invoices(sb.companies()[0].id)
        .iter()
        .filter(|i| i["BuyersOrderReference"] == reference)
        .count()
}

/// Lets a claim left behind by a "crashed" or uncertain attempt run out now.
async fn expire_claim(deps: &Deps, tenant: &TenantId, kind: RecordKind, id: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    integration_tests::dynamodb()
        .await
        .update_item()
        .table_name(&deps.config.table_name)
        .key("PK", AttributeValue::S(store::keys::tenant_pk(tenant)))
        .key("SK", AttributeValue::S(store::keys::item_sk(kind, id)))
        .update_expression("SET in_flight_since = :old")
        .expression_attribute_values(":old", AttributeValue::S("2000-01-01T00:00:00Z".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_invoice_reaches_visma_once_with_its_customer() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let answer = post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    drain_queue(&deps, 10).await;

    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let booked = sb.customer_invoices(first_company(&sb));
    assert_eq!(booked.len(), 1);
    let visma = &booked[0];
    assert_eq!(synced.visma_id.as_deref(), visma["Id"].as_str());
    assert_eq!(
        synced.visma_number,
        Some(visma["InvoiceNumber"].to_string())
    );
    assert_eq!(
        visma["BuyersOrderReference"], "Aourly 1042",
        "Aourly's number is kept for the accountant"
    );
    assert_eq!(visma["YourReference"], "Anna Andersson");
    assert_eq!(visma["TotalAmount"].to_string(), "14843.75");
    let customers = sb.customers(first_company(&sb));
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["CustomerNumber"], "10042");
    // New customer after a pull: create it, create the invoice. The customer index and the
    // terms of payment the pull keeps answer the rest without asking Visma.
    assert_eq!(
        visma_requests(&sb),
        ["POST /v2/customers", "POST /v2/customerinvoices"]
    );

    // The same invoice again (a new event id) and a manual retry change nothing.
    sb.clear_request_log();
    post_webhook(&deps, &invoice_event("evt_2", invoice_1042())).await;
    drain_queue(&deps, 10).await;
    let retry = call(
        &deps,
        "POST",
        "/tenants/acme/visma/sync-items/invoice/inv_1/retry",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(retry.status, 409);
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 0);
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    // A known customer: the next invoice costs exactly one Visma request.
    sb.clear_request_log();
    post_webhook(
        &deps,
        &invoice_event(
            "evt_3",
            invoice("inv_2", "1043", customer("cus_1", "10042")),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"]);
}

/// A customer as Visma's UI would create it (the fields Visma requires).
fn visma_customer(name: &str, number: Option<&str>, org_number: &str) -> Value {
    let mut c = json!({"Name": name, "IsPrivatePerson": false, "IsActive": true,
                       "CorporateIdentityNumber": org_number,
                       "InvoiceCity": "Stockholm", "InvoicePostalCode": "11122"});
    if let Some(n) = number {
        c["CustomerNumber"] = json!(n);
    }
    c
}

/// The Visma API requests in the sandbox log, as `METHOD route`, in order.
fn visma_requests(sb: &Sandbox) -> Vec<String> {
    sb.request_log()
        .iter()
        .filter(|r| r.route.starts_with("/v2/"))
        .map(|r| format!("{} {}", r.method, r.route))
        .collect()
}

fn invoice_customer_id(sb: &Sandbox, reference: &str) -> Value {
    sb.customer_invoices(first_company(sb))
        .into_iter()
        .find(|i| i["BuyersOrderReference"] == reference)
        .unwrap_or_else(|| panic!("no invoice {reference}"))["CustomerId"]
        .clone()
}

#[tokio::test]
async fn customers_already_in_visma_are_matched_from_the_pulled_index_without_asking_visma() {
    let sb = sandbox().await;
    let company = first_company(&sb);
    // Made in Visma before the pull: one with Aourly's org number and a number Visma chose, one
    // with Aourly's customer number and another org number.
    let by_org = sb.add_customer(company, visma_customer("Kund AB", None, "5510042-0000"));
    let by_number = sb.add_customer(
        company,
        visma_customer("Kund 10043 AB", Some("10043"), "559999-9999"),
    );
    assert_ne!(by_org["CustomerNumber"], "10042");
    let (deps, tenant) = ready(&sb).await;

    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"]);
    assert_eq!(invoice_customer_id(&sb, "Aourly 1042"), by_org["Id"]);

    sb.clear_request_log();
    post_webhook(
        &deps,
        &invoice_event(
            "evt_2",
            invoice("inv_2", "1043", customer("cus_2", "10043")),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"]);
    assert_eq!(invoice_customer_id(&sb, "Aourly 1043"), by_number["Id"]);
    assert_eq!(sb.customers(company).len(), 2, "no customer created");
}

#[tokio::test]
async fn a_customer_made_in_visma_since_the_pull_with_the_same_number_is_linked_not_duplicated() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let company = first_company(&sb);
    let by_hand = sb.add_customer(
        company,
        visma_customer("Kund 10042 AB", Some("10042"), "551111-1111"),
    );
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    // Not in the index: the create is refused (number taken), the lookup finds it.
    assert_eq!(
        visma_requests(&sb),
        [
            "POST /v2/customers",
            "GET /v2/customers",
            "POST /v2/customerinvoices"
        ]
    );
    assert_eq!(sb.customers(company).len(), 1, "no duplicate");
    assert_eq!(invoice_customer_id(&sb, "Aourly 1042"), by_hand["Id"]);
}

#[tokio::test]
async fn a_customer_without_a_number_missing_from_the_index_is_looked_up_in_visma() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let company = first_company(&sb);
    // In Visma since the pull (say, created by a push whose answer was lost): not indexed, and
    // without a customer number Visma would not refuse a second copy.
    let existing = sb.add_customer(company, visma_customer("Kund AB", None, "5510042-0000"));
    let mut no_number = customer("cus_1", "10042");
    no_number["number"] = Value::Null;
    post_webhook(
        &deps,
        &event("evt_1", "customer.created", json!({"customer": no_number})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let linked = item(&deps, &tenant, RecordKind::Customer, "cus_1").await;
    assert_eq!(linked.status, ItemStatus::Synced, "{:?}", linked.last_error);
    assert_eq!(linked.visma_id.as_deref(), existing["Id"].as_str());
    assert_eq!(visma_requests(&sb), ["GET /v2/customers"]);
    assert_eq!(sb.customers(company).len(), 1, "no duplicate");
}

#[tokio::test]
async fn a_tenant_never_pulled_matches_and_creates_customers_by_asking_visma() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let company = first_company(&sb);
    connect_tenant(&deps, &sb, &tenant, company).await;
    let existing = sb.add_customer(company, visma_customer("Kund AB", None, "5510042-0000"));

    // No pull yet, so no customer index: Visma is asked, and its customer is linked.
    post_webhook(
        &deps,
        &event(
            "evt_1",
            "customer.created",
            json!({"customer": customer("cus_1", "10042")}),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    let linked = item(&deps, &tenant, RecordKind::Customer, "cus_1").await;
    assert_eq!(linked.status, ItemStatus::Synced, "{:?}", linked.last_error);
    assert_eq!(linked.visma_id.as_deref(), existing["Id"].as_str());
    assert_eq!(visma_requests(&sb), ["GET /v2/customers"]);

    // A new one: looked up, then created with terms of payment read from Visma.
    sb.clear_request_log();
    post_webhook(
        &deps,
        &event(
            "evt_2",
            "customer.created",
            json!({"customer": customer("cus_2", "10043")}),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    let created = item(&deps, &tenant, RecordKind::Customer, "cus_2").await;
    assert_eq!(
        created.status,
        ItemStatus::Synced,
        "{:?}",
        created.last_error
    );
    assert_eq!(
        visma_requests(&sb),
        [
            "GET /v2/customers",
            "GET /v2/termsofpayments",
            "POST /v2/customers"
        ]
    );
    assert_eq!(sb.customers(company).len(), 2);
}

/// The Visma customer of Aourly customer `cus_a` (org number O) gets a corrected org number
/// through `customer.updated`; then Aourly customer `cus_b` with O (and `b_number`) comes. The
/// index entry O → A's customer is still stored, and must not be believed.
async fn a_corrected_org_number_is_not_matched_by_its_old_value(b_number: Option<&str>) {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let company = first_company(&sb);
    let old_org = "5510042-0000";
    let new_org = "5599999-0001";
    let a = customer("cus_a", "10042");
    assert_eq!(a["org_number"], old_org);
    post_webhook(
        &deps,
        &event("evt_1", "customer.created", json!({"customer": a})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let x = item(&deps, &tenant, RecordKind::Customer, "cus_a")
        .await
        .visma_id
        .expect("A is in Visma");

    // A's org number was a typo; the worker corrects A's Visma customer.
    let mut corrected = a.clone();
    corrected["org_number"] = json!(new_org);
    post_webhook(
        &deps,
        &event("evt_2", "customer.updated", json!({"customer": corrected})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let updated = item(&deps, &tenant, RecordKind::Customer, "cus_a").await;
    assert_eq!(
        updated.status,
        ItemStatus::Synced,
        "{:?}",
        updated.last_error
    );
    let in_visma = sb.customers(company);
    assert_eq!(in_visma.len(), 1);
    assert_eq!(in_visma[0]["Id"], x.as_str());
    assert_eq!(in_visma[0]["CorporateIdentityNumber"], new_org);

    // B has the org number A had: its invoice goes to a new Visma customer, not to A's.
    let mut b = customer("cus_b", "10043");
    b["number"] = json!(b_number);
    b["org_number"] = json!(old_org);
    sb.clear_request_log();
    post_webhook(&deps, &invoice_event("evt_3", invoice("inv_b", "2001", b))).await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_b").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let in_visma = sb.customers(company);
    assert_eq!(in_visma.len(), 2, "B got its own customer: {in_visma:#?}");
    let new = in_visma
        .iter()
        .find(|c| c["Id"] != x.as_str())
        .expect("a new customer");
    assert_eq!(new["CorporateIdentityNumber"], old_org);
    assert_eq!(invoice_customer_id(&sb, "Aourly 2001"), new["Id"]);
    assert_ne!(invoice_customer_id(&sb, "Aourly 2001"), json!(x));
    // Still no Visma request beyond what a new customer costs: with a customer number, create
    // it and the invoice; without one, Visma is asked first (as for any org number the index
    // does not vouch for).
    let expected: &[&str] = if b_number.is_some() {
        &["POST /v2/customers", "POST /v2/customerinvoices"]
    } else {
        &[
            "GET /v2/customers",
            "POST /v2/customers",
            "POST /v2/customerinvoices",
        ]
    };
    assert_eq!(visma_requests(&sb), expected);

    // The corrected org number does find A's customer, from the index (no Visma request).
    let mut c = customer("cus_c", "10044");
    c["number"] = Value::Null;
    c["org_number"] = json!(new_org);
    sb.clear_request_log();
    post_webhook(
        &deps,
        &event("evt_4", "customer.created", json!({"customer": c})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let linked = item(&deps, &tenant, RecordKind::Customer, "cus_c").await;
    assert_eq!(linked.status, ItemStatus::Synced, "{:?}", linked.last_error);
    assert_eq!(linked.visma_id.as_deref(), Some(x.as_str()));
    assert!(visma_requests(&sb).is_empty(), "{:?}", visma_requests(&sb));
}

#[tokio::test]
async fn after_customer_updated_corrects_an_org_number_another_customer_with_the_old_one_is_not_matched_to_it(
) {
    a_corrected_org_number_is_not_matched_by_its_old_value(Some("10043")).await;
}

#[tokio::test]
async fn after_customer_updated_corrects_an_org_number_a_customer_without_a_number_is_not_matched_to_it(
) {
    a_corrected_org_number_is_not_matched_by_its_old_value(None).await;
}

#[tokio::test]
async fn numbers_changed_in_visma_and_pulled_no_longer_match_their_old_values() {
    let sb = sandbox().await;
    let company = first_company(&sb);
    let by_org = sb.add_customer(
        company,
        visma_customer("Kund AB", Some("500"), "5510042-0000"),
    );
    let by_number = sb.add_customer(
        company,
        visma_customer("Annan AB", Some("10043"), "5560000-0000"),
    );
    let (deps, tenant) = ready(&sb).await;
    let id = |c: &Value| c["Id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();

    // The accountant corrects one customer's org number and renumbers the other, in Visma; the
    // next pull reads both.
    sb.update_customer(
        company,
        id(&by_org),
        json!({"CorporateIdentityNumber": "5599999-0001"}),
    );
    sb.update_customer(company, id(&by_number), json!({"CustomerNumber": "20043"}));
    app::pull::run(&deps, &tenant).await.unwrap();

    // Aourly customers with the old org number and the old customer number: new customers.
    for (event_id, inv, number, cus) in [
        ("evt_1", "inv_1", "1042", customer("cus_1", "10042")),
        ("evt_2", "inv_2", "1043", customer("cus_2", "10043")),
    ] {
        sb.clear_request_log();
        post_webhook(&deps, &invoice_event(event_id, invoice(inv, number, cus))).await;
        drain_queue(&deps, 10).await;
        let synced = item(&deps, &tenant, RecordKind::Invoice, inv).await;
        assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
        assert_eq!(
            visma_requests(&sb),
            ["POST /v2/customers", "POST /v2/customerinvoices"]
        );
        let booked_to = invoice_customer_id(&sb, &format!("Aourly {number}"));
        assert_ne!(booked_to, by_org["Id"], "{inv}");
        assert_ne!(booked_to, by_number["Id"], "{inv}");
    }
    let in_visma = sb.customers(company);
    assert_eq!(in_visma.len(), 4, "{in_visma:#?}");
    assert!(in_visma
        .iter()
        .any(|c| c["CustomerNumber"] == "10043" && c["CorporateIdentityNumber"] == "5510043-0000"));

    // Their new numbers still match them from the index.
    let mut by_new_org = customer("cus_3", "10044");
    by_new_org["org_number"] = json!("5599999-0001");
    let mut by_new_number = customer("cus_4", "20043");
    by_new_number["org_number"] = json!("5570000-0000");
    for (event_id, inv, number, cus, expected) in [
        ("evt_3", "inv_3", "1044", by_new_org, &by_org),
        ("evt_4", "inv_4", "1045", by_new_number, &by_number),
    ] {
        sb.clear_request_log();
        post_webhook(&deps, &invoice_event(event_id, invoice(inv, number, cus))).await;
        drain_queue(&deps, 10).await;
        assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"], "{inv}");
        assert_eq!(
            invoice_customer_id(&sb, &format!("Aourly {number}")),
            expected["Id"],
            "{inv}"
        );
    }
    assert_eq!(sb.customers(company).len(), 4, "no customer created");
}

#[tokio::test]
async fn the_same_event_delivered_three_times_at_once_is_one_invoice() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let body = invoice_event("evt_1", invoice_1042());
    let (a, b, c) = tokio::join!(
        post_webhook(&deps, &body),
        post_webhook(&deps, &body),
        post_webhook(&deps, &body)
    );
    let mut statuses = vec![
        a.body["status"].clone(),
        b.body["status"].clone(),
        c.body["status"].clone(),
    ];
    statuses.sort_by_key(|s| s.to_string());
    assert_eq!(
        statuses,
        [json!("duplicate"), json!("duplicate"), json!("queued")]
    );
    // And three workers racing on the same record (a duplicate SQS delivery).
    let (x, y, z) = tokio::join!(
        app::push::run(&deps, &tenant, RecordKind::Invoice, "inv_1"),
        app::push::run(&deps, &tenant, RecordKind::Invoice, "inv_1"),
        app::push::run(&deps, &tenant, RecordKind::Invoice, "inv_1"),
    );
    let synced = [&x, &y, &z]
        .iter()
        .filter(|r| matches!(r, Ok(app::push::PushOutcome::Synced { .. })))
        .count();
    assert_eq!(synced, 1, "{x:?} {y:?} {z:?}");
    drain_queue(&deps, 10).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
}

#[tokio::test]
async fn a_dropped_connection_after_visma_committed_still_gives_one_invoice() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    // First attempt: Visma booked it, the answer never came. The claim is kept.
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    let pending = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(pending.status, ItemStatus::Pending);
    assert!(
        pending.in_flight_owner.is_some(),
        "an uncertain outcome keeps the claim"
    );

    // The lease runs out; the retry looks the invoice up instead of booking it again.
    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    redeliver_now(&deps, &report).await;
    drain_queue(&deps, 5).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        synced.visma_id.as_deref(),
        sb.customer_invoices(first_company(&sb))[0]["Id"].as_str()
    );
}

#[tokio::test]
async fn a_crash_between_the_visma_call_and_the_table_write_gives_no_duplicate() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    // A worker claims the item and books the invoice in Visma, then dies before writing back:
    // run it to completion, then put the item back as the crash would have left it.
    let items = deps.items.clone();
    let store::Claim::Claimed { .. } = items
        .claim(
            &tenant,
            RecordKind::Invoice,
            "inv_1",
            "crashed-worker",
            chrono::Utc::now(),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap()
    else {
        panic!("claim");
    };
    // What the crashed worker sent (same body shape as the pipeline's).
    let crashed = deps.clone();
    let customer_id = {
        let tokens = app::tokens::TenantTokens::new(&crashed, tenant.clone());
        let api = crashed.visma.connect(&tokens);
        let terms = api
            .terms_of_payment()
            .list_all(&visma::ListQuery::new())
            .await
            .unwrap()
            .items[0]
            .id;
        let mut c = visma::models::Customer::new("Kund 10042 AB", terms);
        c.customer_number = Some("10042".into());
        c.invoice_city = Some("Stockholm".into());
        c.invoice_postal_code = Some("11122".into());
        c.is_active = true;
        api.customers().create(&c).await.unwrap().id.unwrap()
    };
    let mapping = app::mapping::current(&deps, &tenant)
        .await
        .unwrap()
        .unwrap();
    let article = mapping
        .entry_for_rate(domain::VatRate::TwentyFive)
        .unwrap()
        .article_id
        .clone()
        .unwrap();
    {
        let tokens = app::tokens::TenantTokens::new(&crashed, tenant.clone());
        let api = crashed.visma.connect(&tokens);
        let mut inv = visma::models::CustomerInvoice::new(
            customer_id,
            vec![visma::models::CustomerInvoiceRow {
                article_id: Some(visma::models::ArticleId::new(
                    uuid::Uuid::parse_str(&article).unwrap(),
                )),
                quantity: Some("12.5".parse().unwrap()),
                unit_price: Some("950.00".parse().unwrap()),
                ..Default::default()
            }],
        );
        inv.buyers_order_reference = Some("Aourly 1042".into());
        api.customer_invoices().create(&inv).await.unwrap();
    }
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    // The claim expires; the queued job runs again.
    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(
        invoices_with_reference(&sb, "Aourly 1042"),
        1,
        "no duplicate"
    );
}

#[tokio::test]
async fn flaky_visma_and_a_tight_rate_limit_still_sync_fifty_invoices_once_each() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        server_error_rate_percent: 30,
        ..Faults::default()
    });
    sb.set_rate_limit(10, std::time::Duration::from_secs(2));
    for n in 0..50 {
        let answer = post_webhook(
            &deps,
            &invoice_event(
                &format!("evt_{n}"),
                invoice(
                    &format!("inv_{n}"),
                    &format!("{}", 2000 + n),
                    customer(&format!("cus_{}", n % 5), &format!("{}", 20000 + n % 5)),
                ),
            ),
        )
        .await;
        assert_eq!(answer.status, 202);
    }
    // Run the worker until every item is synced (uncertain outcomes never happen with plain
    // 5xx: Visma answered, so nothing is left claimed).
    for _ in 0..200 {
        let report = local::poll_once(&deps, 0).await.unwrap();
        for handle in &report.returned {
            deps.queue.change_visibility(handle, 0).await.unwrap();
        }
        if report.received == 0 {
            break;
        }
    }
    let items = deps.items.clone();
    let all = items
        .all_with_status(&tenant, &[ItemStatus::Synced])
        .await
        .unwrap();
    let invoices = all.iter().filter(|i| i.kind == RecordKind::Invoice).count();
    let stuck: Vec<String> = items
        .all_with_status(
            &tenant,
            &[ItemStatus::Pending, ItemStatus::Failed, ItemStatus::Blocked],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            format!(
                "{} {:?} {:?} attempts {}",
                i.id, i.status, i.last_error, i.attempts
            )
        })
        .collect();
    assert_eq!(invoices, 50, "every invoice synced; stuck: {stuck:#?}");
    let booked = sb.customer_invoices(first_company(&sb));
    assert_eq!(booked.len(), 50, "none twice");
    let mut refs: Vec<String> = booked
        .iter()
        .map(|i| i["BuyersOrderReference"].as_str().unwrap().to_owned())
        .collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 50);
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        5,
        "customers matched, not duplicated"
    );
    let log = sb.request_log();
    let api_calls = log.iter().filter(|r| r.route.starts_with("/v2/")).count();
    let errors = log.iter().filter(|r| r.status >= 500).count();
    let limited = log.iter().filter(|r| r.status == 429).count();
    println!("50 invoices with 30 % 5xx and 10 req/2 s per route: {api_calls} Visma requests ({:.2} per invoice), {errors} 5xx, {limited} 429", api_calls as f64 / 50.0);
}

#[tokio::test]
async fn a_poison_message_dead_letters_then_a_retry_syncs_it() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1000,
        }],
        ..Faults::default()
    });
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    drain_queue(&deps, 20).await;
    let failed = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(failed.status, ItemStatus::Failed);
    assert_eq!(
        failed.last_error.as_ref().unwrap().code,
        "retries_exhausted"
    );
    let dead = deps.queue.receive_dead_letters(10, 1).await.unwrap();
    assert_eq!(dead.len(), 1, "the job waits in the dead-letter queue");

    // The cause is fixed; the owner retries from the Integrations page.
    sb.set_faults(Faults::default());
    let retry = call(
        &deps,
        "POST",
        "/tenants/acme/visma/sync-items/invoice/inv_1/retry",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    drain_queue(&deps, 10).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
    // The stale dead letter, replayed, does nothing.
    let replay: domain::SyncJob = serde_json::from_str(&dead[0].body).unwrap();
    deps.queue.send(&replay, 0).await.unwrap();
    drain_queue(&deps, 5).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
}

#[tokio::test]
async fn blocked_on_the_mapping_resumes_when_the_mapping_is_fixed() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    // The owner's saved mapping lacks 12 %.
    let current = call(
        &deps,
        "GET",
        "/tenants/acme/visma/account-mapping",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await
    .body;
    let full = current.clone();
    let mut without_12 = current.clone();
    without_12["sales"] = json!(current["sales"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["vat_rate"] != "12")
        .cloned()
        .collect::<Vec<_>>());
    let saved = call(
        &deps,
        "PUT",
        "/tenants/acme/visma/account-mapping",
        Some(&jwt("acme", "owner")),
        Some(without_12),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.text);

    let mut inv = invoice_1042();
    inv["lines"][0]["vat_rate"] = json!("12");
    inv["totals"] = json!({"net": "11875.00", "vat": "1425.00", "gross": "13300.00"});
    post_webhook(&deps, &invoice_event("evt_1", inv)).await;
    drain_queue(&deps, 10).await;
    let blocked = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(blocked.status, ItemStatus::Blocked);
    let error = blocked.last_error.unwrap();
    assert_eq!(error.code, "mapping_incomplete");
    assert!(
        error.detail.unwrap().contains("12 %"),
        "the blocked item names the rate"
    );
    assert!(
        sb.customer_invoices(first_company(&sb)).is_empty(),
        "nothing posted to a guessed account"
    );

    let fixed = call(
        &deps,
        "PUT",
        "/tenants/acme/visma/account-mapping",
        Some(&jwt("acme", "owner")),
        Some(full),
    )
    .await;
    assert_eq!(fixed.status, 200, "{}", fixed.text);
    drain_queue(&deps, 10).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
}

#[tokio::test]
async fn a_credit_note_names_the_credited_visma_invoice() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    drain_queue(&deps, 10).await;
    let original = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    post_webhook(&deps, &credit_note("inv_1c", "1043", "inv_1")).await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_1c").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let booked = sb.customer_invoices(first_company(&sb));
    let credit = booked
        .iter()
        .find(|i| i["BuyersOrderReference"] == "Aourly 1043")
        .unwrap();
    assert_eq!(credit["IsCreditInvoice"], true);
    assert_eq!(credit["TotalAmount"].to_string(), "-14843.75");
    let named = format!("Kreditering av faktura {}", original.visma_number.unwrap());
    assert_eq!(credit["OurReference"], named.as_str());
}

#[tokio::test]
async fn customers_are_created_matched_and_kept_in_step() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    post_webhook(
        &deps,
        &event(
            "evt_1",
            "customer.created",
            json!({"customer": customer("cus_1", "10042")}),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    let created = item(&deps, &tenant, RecordKind::Customer, "cus_1").await;
    assert_eq!(
        created.status,
        ItemStatus::Synced,
        "{:?}",
        created.last_error
    );
    let mut changed = customer("cus_1", "10042");
    changed["email"] = json!("ekonomi@exempel.se");
    post_webhook(
        &deps,
        &event("evt_2", "customer.updated", json!({"customer": changed})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let customers = sb.customers(first_company(&sb));
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["EmailAddress"], "ekonomi@exempel.se");
    assert_eq!(created.visma_id.as_deref(), customers[0]["Id"].as_str());

    // A customer that already exists in Visma (by org number) is matched, not duplicated.
    let mut private = customer("cus_2", "10043");
    private["number"] = Value::Null;
    private["org_number"] = customers[0]["CorporateIdentityNumber"].clone();
    post_webhook(
        &deps,
        &event("evt_3", "customer.created", json!({"customer": private})),
    )
    .await;
    drain_queue(&deps, 10).await;
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
    assert_eq!(
        item(&deps, &tenant, RecordKind::Customer, "cus_2")
            .await
            .visma_id,
        created.visma_id
    );

    // A private person is created as one.
    let mut person = customer("cus_3", "10044");
    person["is_private_person"] = json!(true);
    person["org_number"] = json!("19800101-1234");
    post_webhook(
        &deps,
        &event("evt_4", "customer.created", json!({"customer": person})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let all = sb.customers(first_company(&sb));
    let p = all.iter().find(|c| c["CustomerNumber"] == "10044").unwrap();
    assert_eq!(p["IsPrivatePerson"], true);
}

#[tokio::test]
async fn vouchers_are_pushed_checked_and_not_pulled_back() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let voucher = json!({"id": "vch_7", "date": today(), "text": "Utlägg tåg", "rows": [
        {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
        {"account": "2641", "debit": "48.00", "credit": "0", "text": "Moms 6%"},
        {"account": "1930", "debit": "0", "credit": "848.00", "text": null}]});
    post_webhook(
        &deps,
        &event("evt_1", "voucher.created", json!({"voucher": voucher})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Voucher, "vch_7").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    let vouchers = sb.vouchers(first_company(&sb));
    let ours: Vec<_> = vouchers
        .iter()
        .filter(|v| {
            v["VoucherText"]
                .as_str()
                .unwrap()
                .contains("[Aourly vch_7]")
        })
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(
        synced.visma_number.as_deref(),
        ours[0]["NumberAndNumberSeries"].as_str()
    );

    // A voucher on an account Visma does not have waits for the owner, naming the account.
    let bad = json!({"id": "vch_8", "date": today(), "text": "Fel konto", "rows": [
        {"account": "9999", "debit": "100.00", "credit": "0", "text": null},
        {"account": "1930", "debit": "0", "credit": "100.00", "text": null}]});
    post_webhook(
        &deps,
        &event("evt_2", "voucher.created", json!({"voucher": bad})),
    )
    .await;
    drain_queue(&deps, 10).await;
    let blocked = item(&deps, &tenant, RecordKind::Voucher, "vch_8").await;
    assert_eq!(blocked.status, ItemStatus::Blocked);
    assert_eq!(blocked.last_error.as_ref().unwrap().code, "account_missing");
    assert!(blocked
        .last_error
        .as_ref()
        .unwrap()
        .detail
        .as_ref()
        .unwrap()
        .contains("9999"));

    // A pull that changes nothing leaves it alone (it would only block again).
    run_pull_job(&deps, &tenant).await;
    let still = item(&deps, &tenant, RecordKind::Voucher, "vch_8").await;
    assert_eq!(still.status, ItemStatus::Blocked);
    assert_eq!(
        still.version, blocked.version,
        "not resumed by an unchanged pull"
    );

    // Our own voucher is not handed back to Aourly by the next pull.
    app::pull::run(&deps, &tenant).await.unwrap();
    let pulled = call(
        &deps,
        "GET",
        "/tenants/acme/visma/vouchers",
        Some(&jwt("acme", "service")),
        None,
    )
    .await;
    assert_eq!(pulled.status, 200, "{}", pulled.text);
    assert!(!pulled.text.contains("[Aourly vch_7]"), "{}", pulled.text);
}

#[tokio::test]
async fn an_expired_connection_blocks_and_reconnect_resumes() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    expire_connection(&deps, &tenant).await;
    let answer = post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    assert_eq!(answer.status, 202);
    assert_eq!(
        item(&deps, &tenant, RecordKind::Invoice, "inv_1")
            .await
            .status,
        ItemStatus::Blocked
    );

    // Reconnect (the whole callback flow) resumes it without another webhook.
    sb.set_auto_approve(true, Some(first_company(&sb)));
    let started = call(
        &deps,
        "POST",
        "/tenants/acme/visma/connect",
        Some(&jwt("acme", "owner")),
        Some(json!({"return_url": "http://localhost:5173/x"})),
    )
    .await;
    let authorize_url = started.body["authorize_url"].as_str().unwrap();
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize_url)
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let landed = call(
        &deps,
        "GET",
        &format!("{}?{}", back.path(), back.query().unwrap()),
        None,
        None,
    )
    .await;
    assert_eq!(landed.status, 302);
    drain_queue(&deps, 10).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
}

/// Right after a connect, the first pull's job and the first webhooks' jobs share the queue: an
/// invoice pushed before the pull proposed the mapping blocks `mapping_incomplete`, and the
/// pull that proposes it resumes the invoice (the owner has nothing to fix).
#[tokio::test]
async fn an_invoice_pushed_before_the_first_pull_is_resumed_by_that_pull() {
    let sb = sandbox().await;
    let deps = deps_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    connect_tenant(&deps, &sb, &tenant, first_company(&sb)).await;
    let answer = post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    assert_eq!(answer.status, 202);
    drain_queue(&deps, 10).await;
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(waiting.status, ItemStatus::Blocked);
    assert_eq!(waiting.last_error.unwrap().code, "mapping_incomplete");

    run_pull_job(&deps, &tenant).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// An item whose push found the tenant disconnected waits (`not_connected`) and goes when the
/// owner connects again.
#[tokio::test]
async fn an_item_blocked_by_a_disconnect_goes_after_the_reconnect() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let answer = post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    assert_eq!(answer.status, 202);
    let gone = call(
        &deps,
        "DELETE",
        "/tenants/acme/visma",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    drain_queue(&deps, 10).await;
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(waiting.status, ItemStatus::Blocked);
    assert_eq!(waiting.last_error.unwrap().code, "not_connected");

    connect_tenant(&deps, &sb, &tenant, first_company(&sb)).await;
    run_pull_job(&deps, &tenant).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
}

/// A voucher push whose answer was lost: Visma has the voucher, the push has not recorded its
/// id. A pull in that window recognises it by its tag and does not hand it to Aourly.
#[tokio::test]
async fn a_pushed_voucher_whose_answer_was_lost_is_not_pulled_back() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/vouchers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    let voucher = json!({"id": "vch_7", "date": today(), "text": "Utlägg tåg", "rows": [
        {"account": "5800", "debit": "800.00", "credit": "0", "text": "Resa"},
        {"account": "1930", "debit": "0", "credit": "800.00", "text": null}]});
    post_webhook(
        &deps,
        &event("evt_1", "voucher.created", json!({"voucher": voucher})),
    )
    .await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    let in_visma = |sb: &Sandbox| {
        sb.vouchers(first_company(sb))
            .iter()
            .filter(|v| {
                v["VoucherText"]
                    .as_str()
                    .unwrap()
                    .ends_with("[Aourly vch_7]")
            })
            .count()
    };
    assert_eq!(in_visma(&sb), 1, "Visma committed it");

    let pulled = app::pull::run(&deps, &tenant).await.unwrap();
    assert_eq!(pulled.changes.vouchers_for_aourly, 0);
    let listed = call(
        &deps,
        "GET",
        "/tenants/acme/visma/vouchers",
        Some(&jwt("acme", "service")),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(!listed.text.contains("[Aourly vch_7]"), "{}", listed.text);

    // The retry finds it instead of posting it again.
    expire_claim(&deps, &tenant, RecordKind::Voucher, "vch_7").await;
    redeliver_now(&deps, &report).await;
    drain_queue(&deps, 5).await;
    assert_eq!(in_visma(&sb), 1);
    assert_eq!(
        item(&deps, &tenant, RecordKind::Voucher, "vch_7")
            .await
            .status,
        ItemStatus::Synced
    );
}

/// A private person: no customer number, no personal identity number.
fn person(id: &str, name: &str) -> Value {
    let mut person = customer(id, "0");
    person["number"] = Value::Null;
    person["org_number"] = Value::Null;
    person["is_private_person"] = json!(true);
    person["name"] = json!(name);
    person
}

/// A create of a customer without a number whose answer was lost is found by the retry by
/// its name, as Visma keeps it (the first 50 characters), not created again.
#[tokio::test]
async fn a_lost_create_of_a_customer_with_a_long_name_and_no_number_is_found_by_the_retry() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    let name = "Långt Namn ".repeat(6);
    post_webhook(
        &deps,
        &invoice_event(
            "evt_1",
            invoice("inv_p", "2001", person("cus_p", name.trim())),
        ),
    )
    .await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        1,
        "Visma committed it"
    );

    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_p").await;
    redeliver_now(&deps, &report).await;
    drain_queue(&deps, 5).await;
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_p").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
    assert_eq!(sb.count("POST", "/v2/customers"), 1);
}

/// The creation lease is the pushing item's: when its own create fails quickly (a 500) the
/// retry within the same invocation passes its lease, instead of waiting a minute for it.
#[tokio::test]
async fn a_customer_create_retried_at_once_is_not_held_up_by_its_own_lease() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    post_webhook(
        &deps,
        &invoice_event(
            "evt_1",
            invoice("inv_p", "2001", person("cus_p", "Anna Andersson")),
        ),
    )
    .await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.done, report.returned.len()), (1, 0), "{report:?}");
    let synced = item(&deps, &tenant, RecordKind::Invoice, "inv_p").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// A push that created a customer without a number but never learned it (a lost answer)
/// holds its lease past its end; another item's first push for that customer takes the lapsed
/// lease over, and looks the customer up by name before creating it.
#[tokio::test]
async fn a_lapsed_creation_lease_is_taken_over_with_a_look_up() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let anna = person("cus_p", "Anna Andersson");
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    post_webhook(
        &deps,
        &event(
            "evt_c",
            "customer.created",
            json!({"customer": anna.clone()}),
        ),
    )
    .await;
    let lost = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!(lost.returned.len(), 1, "the answer was lost: {lost:?}");
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        1,
        "Visma created it"
    );
    // The lease lapses (its holder is still waiting out its claim).
    lapse_creation_lease(&deps, "cus_p").await;

    post_webhook(
        &deps,
        &invoice_event("evt_i", invoice("inv_p", "2001", anna)),
    )
    .await;
    local::poll_once(&deps, 0).await.unwrap();
    let invoice_item = item(&deps, &tenant, RecordKind::Invoice, "inv_p").await;
    assert_eq!(
        invoice_item.status,
        ItemStatus::Synced,
        "{:?}",
        invoice_item.last_error
    );
    assert_eq!(
        sb.customers(first_company(&sb)).len(),
        1,
        "found, not created again"
    );

    // The customer's own retry finds the link.
    expire_claim(&deps, &tenant, RecordKind::Customer, "cus_p").await;
    redeliver_now(&deps, &lost).await;
    drain_queue(&deps, 10).await;
    let customer_item = item(&deps, &tenant, RecordKind::Customer, "cus_p").await;
    assert_eq!(
        customer_item.status,
        ItemStatus::Synced,
        "{:?}",
        customer_item.last_error
    );
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// A live creation lease of another attempt (another item, or this item's earlier worker
/// whose claim has lapsed while it is still creating) holds this push back; once it lapses
/// the push looks the customer up, then creates it.
#[tokio::test]
async fn another_attempt_s_live_creation_lease_holds_a_push_back() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let lease = integration_tests::table(&deps)
        .await
        .take_lease(
            "TENANT#acme",
            "CREATING#customer#cus_p",
            // An earlier worker's claim of this same item (whose claim has since lapsed).
            "customer#cus_p",
            chrono::Utc::now(),
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
    assert_eq!(lease, store::Lease::Taken { after_other: false });
    post_webhook(
        &deps,
        &event(
            "evt_c",
            "customer.created",
            json!({"customer": person("cus_p", "Anna Andersson")}),
        ),
    )
    .await;
    let held = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!(held.returned.len(), 1, "{held:?}");
    assert!(sb.customers(first_company(&sb)).is_empty());
    let waiting = item(&deps, &tenant, RecordKind::Customer, "cus_p").await;
    assert_eq!(waiting.status, ItemStatus::Pending);
    assert!(waiting
        .last_error
        .unwrap()
        .detail
        .unwrap()
        .contains("creating this customer"));

    // The earlier worker died: its lease lapses.
    lapse_creation_lease(&deps, "cus_p").await;
    redeliver_now(&deps, &held).await;
    drain_queue(&deps, 10).await;
    let synced = item(&deps, &tenant, RecordKind::Customer, "cus_p").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
}

/// A customer without a number has no guard in Visma (a duplicate number is refused; a
/// missing one is not): its `customer.created` and its first invoice, pushed side by side in
/// one batch, still make one Visma customer (three rounds: the race is not certain each time).
#[tokio::test]
async fn a_customer_without_a_number_pushed_twice_at_once_is_created_once() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    for round in 1..=3 {
        let person = person(&format!("cus_p{round}"), &format!("Anna Andersson {round}"));
        post_webhook(
            &deps,
            &event(
                &format!("evt_c{round}"),
                "customer.created",
                json!({"customer": person.clone()}),
            ),
        )
        .await;
        post_webhook(
            &deps,
            &invoice_event(
                &format!("evt_i{round}"),
                invoice(&format!("inv_p{round}"), &format!("20{round}"), person),
            ),
        )
        .await;
        drain_queue(&deps, 20).await;
        for (kind, id) in [
            (RecordKind::Customer, format!("cus_p{round}")),
            (RecordKind::Invoice, format!("inv_p{round}")),
        ] {
            let done = item(&deps, &tenant, kind, &id).await;
            assert_eq!(
                done.status,
                ItemStatus::Synced,
                "{id}: {:?}",
                done.last_error
            );
        }
        assert_eq!(
            sb.customers(first_company(&sb)).len(),
            round,
            "round {round}: one Visma customer per Aourly customer"
        );
    }
}

/// Refuses the first AWS request whose body contains `needle` (an SQS or DynamoDB fault),
/// passes everything else.
#[derive(Debug, Clone)]
struct RefuseFirst {
    needle: &'static str,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RefuseFirst {
    fn of(needle: &'static str) -> Self {
        Self {
            needle,
            refused: Default::default(),
        }
    }

    /// `deps` whose table client refuses that first request (the sync items' writes).
    async fn on_table(&self, deps: &Deps) -> Deps {
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&integration_tests::aws().await)
                .interceptor(self.clone())
                .build(),
        );
        let mut faulty = deps.clone();
        faulty.items = store::Store::new(ddb, &deps.config.table_name, None).items;
        faulty
    }

    /// `deps` whose queue client refuses that first send.
    async fn on(&self, deps: &Deps) -> Deps {
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&integration_tests::aws().await)
                .interceptor(self.clone())
                .build(),
        );
        let mut faulty = deps.clone();
        faulty.queue = store::Queue::new(sqs, deps.queue.url(), deps.queue.dead_letter_url());
        faulty
    }
}

impl aws_sdk_sqs::config::Intercept for RefuseFirst {
    fn name(&self) -> &'static str {
        "refuse-first"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_sqs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        let body = context
            .request()
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        if body.contains(self.needle) {
            use std::sync::atomic::Ordering;
            if self.refused.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err("injected: SQS refused the send".into());
            }
        }
        Ok(())
    }
}

/// The outcome's event is queued before the outcome is stored: when queuing it fails, the job
/// comes back and the event is still sent (once the outcome is stored, a redelivered job
/// skips the item and would never send it).
#[tokio::test]
async fn an_outcome_whose_event_could_not_be_queued_is_still_reported() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("visma.invoice.synced");
    let deps = fault.on(&plain).await;

    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!(report.returned.len(), 1, "the push comes back: {report:?}");
    assert_eq!(fault.refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Pending,
        "not stored before its event"
    );
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    // The claim's lease ends; the retry finds the invoice in Visma and reports it.
    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    redeliver_now(&deps, &report).await;
    let mut synced_events = 0;
    for _ in 0..10 {
        let messages = deps.queue.receive(10, 0).await.unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let job: domain::SyncJob = serde_json::from_str(&message.body).unwrap();
            match job {
                domain::SyncJob::Emit { event } => {
                    if event.kind == domain::outbound::OutboundType::InvoiceSynced {
                        synced_events += 1;
                    }
                    deps.queue.delete(&message.receipt_handle).await.unwrap();
                }
                _ => deps
                    .queue
                    .change_visibility(&message.receipt_handle, 0)
                    .await
                    .unwrap(),
            }
        }
        local::poll_once(&deps, 0).await.unwrap();
    }
    assert_eq!(
        item(&deps, &tenant, RecordKind::Invoice, "inv_1")
            .await
            .status,
        ItemStatus::Synced
    );
    assert_eq!(synced_events, 1, "visma.invoice.synced queued once");
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
}

/// A job on its last receive that finds another worker pushing the record (a second job for
/// the same item: a Retry click, a re-queue) leaves the outcome to that worker: it does not
/// mark the item `failed` a moment before it may be synced.
#[tokio::test]
async fn a_last_receive_that_finds_another_worker_pushing_does_not_mark_it_failed() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let items = deps.items.clone();
    let held = items
        .claim(
            &tenant,
            RecordKind::Invoice,
            "inv_1",
            "another-worker",
            chrono::Utc::now(),
            app::push::CLAIM_LEASE,
        )
        .await
        .unwrap();
    assert!(matches!(held, store::Claim::Claimed { .. }));
    // Four receives that did nothing (workers that died), then the worker's: the fifth, the
    // queue's last.
    use_up_receives(&deps, 4).await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Pending,
        "{:?}",
        waiting.last_error
    );

    // The holder's own job carries on (here: its lease ends and its job is delivered again).
    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    queue_push(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    drain_queue(&deps, 10).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
}

/// A credit note whose invoice is still queued when the queue gives up on it waits blocked
/// (`original_invoice_missing`), not failed, and the pull after the invoice is synced resumes
/// it; so does one that arrived before its invoice.
#[tokio::test]
async fn a_credit_note_waits_for_its_invoice_and_follows_it() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;

    // The invoice is accepted; its job sits far back in a long backlog (taken out here).
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let backlog = deps.queue.receive(10, 0).await.unwrap();
    assert_eq!(backlog.len(), 1);
    deps.queue.delete(&backlog[0].receipt_handle).await.unwrap();
    // Its credit note's job runs out of receives while the invoice is still pending.
    post_webhook(&deps, &credit_note("inv_1c", "1043", "inv_1")).await;
    use_up_receives(&deps, 4).await;
    local::poll_once(&deps, 0).await.unwrap();
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1c").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Blocked,
        "{:?}",
        waiting.last_error
    );
    assert_eq!(waiting.last_error.unwrap().code, "original_invoice_missing");

    // A credit note for an invoice Aourly has not sent yet waits the same way.
    post_webhook(&deps, &credit_note("inv_2c", "1045", "inv_2")).await;
    drain_queue(&deps, 10).await;
    let early = item(&deps, &tenant, RecordKind::Invoice, "inv_2c").await;
    assert_eq!(early.status, ItemStatus::Blocked);
    assert_eq!(early.last_error.unwrap().code, "original_invoice_missing");

    // A pull while the invoices are not synced leaves both waiting.
    run_pull_job(&deps, &tenant).await;
    for id in ["inv_1c", "inv_2c"] {
        let still = item(&deps, &tenant, RecordKind::Invoice, id).await;
        assert_eq!(still.status, ItemStatus::Blocked, "{id}");
    }

    // The invoices reach Visma; the next pull sends the credit notes after them.
    queue_push(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    post_webhook(
        &deps,
        &invoice_event(
            "evt_2",
            invoice("inv_2", "1044", customer("cus_1", "10042")),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    run_pull_job(&deps, &tenant).await;
    let booked = sb.customer_invoices(first_company(&sb));
    for (credit_id, credit_number, original_id) in
        [("inv_1c", "1043", "inv_1"), ("inv_2c", "1045", "inv_2")]
    {
        let synced = item(&deps, &tenant, RecordKind::Invoice, credit_id).await;
        assert_eq!(
            synced.status,
            ItemStatus::Synced,
            "{credit_id}: {:?}",
            synced.last_error
        );
        let original = item(&deps, &tenant, RecordKind::Invoice, original_id).await;
        let credit = booked
            .iter()
            .find(|i| i["BuyersOrderReference"] == format!("Aourly {credit_number}"))
            .unwrap();
        let named = format!("Kreditering av faktura {}", original.visma_number.unwrap());
        assert_eq!(credit["OurReference"], named.as_str());
        assert_eq!(
            invoices_with_reference(&sb, &format!("Aourly {credit_number}")),
            1
        );
    }
}

/// A gateway in front of Visma answers 504 while the create behind it still goes through, a
/// second later: the push treats the outcome as unknown (claim kept, no quick retry) and the
/// retry after the lease finds the invoice instead of booking it again.
#[tokio::test]
async fn a_gateway_timeout_on_a_create_that_went_through_gives_one_invoice() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    sb.set_faults(Faults {
        gateway_timeout_then_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!((report.received, report.returned.len()), (1, 1));
    let pending = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert!(
        pending.in_flight_owner.is_some(),
        "an unknown outcome keeps the claim"
    );
    // Visma books it a moment after the gateway gave up.
    let deadline = std::time::Instant::now()
        + visma_sandbox::server::GATEWAY_COMMIT_DELAY
        + std::time::Duration::from_secs(10);
    while invoices_with_reference(&sb, "Aourly 1042") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Visma never booked it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);

    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    redeliver_now(&deps, &report).await;
    drain_queue(&deps, 5).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
}

/// The outcome's event went out but storing the outcome failed: the retry reports the
/// invoice again, under the same event id, so Aourly can tell it is the same fact.
#[tokio::test]
async fn an_invoice_reported_twice_carries_one_event_id() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("REMOVE in_flight_owner");
    let deps = fault.on_table(&plain).await;
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let report = local::poll_once(&deps, 0).await.unwrap();
    assert_eq!(report.returned.len(), 1, "{report:?}");
    assert_eq!(fault.refused.load(std::sync::atomic::Ordering::SeqCst), 1);

    expire_claim(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    redeliver_now(&deps, &report).await;
    let mut synced_ids = Vec::new();
    for _ in 0..10 {
        let messages = deps.queue.receive(10, 0).await.unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            match serde_json::from_str(&message.body).unwrap() {
                domain::SyncJob::Emit { event } => {
                    if event.kind == domain::outbound::OutboundType::InvoiceSynced {
                        synced_ids.push(event.id);
                    }
                    deps.queue.delete(&message.receipt_handle).await.unwrap();
                }
                _ => deps
                    .queue
                    .change_visibility(&message.receipt_handle, 0)
                    .await
                    .unwrap(),
            }
        }
        local::poll_once(&deps, 0).await.unwrap();
    }
    assert_1042_synced_once(&deps, &sb, &tenant).await;
    assert_eq!(
        synced_ids.len(),
        2,
        "reported by both attempts: {synced_ids:?}"
    );
    assert_eq!(synced_ids[0], synced_ids[1]);
}

async fn deps_first_message(deps: &Deps) -> Option<store::ReceivedMessage> {
    deps.queue.receive(1, 0).await.unwrap().into_iter().next()
}

/// On the queue's last receive, an outcome already reported to Aourly but not stored (the
/// store write failed) leaves the item pending for the re-queue: it is not marked failed, and
/// Aourly hears no `visma.item.failed` after its `visma.invoice.synced`.
#[tokio::test]
async fn a_reported_outcome_is_not_contradicted_on_the_last_receive() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("REMOVE in_flight_owner");
    let deps = fault.on_table(&plain).await;
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    use_up_receives(&deps, 4).await;
    local::poll_once(&deps, 0).await.unwrap();
    assert_eq!(fault.refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    let pending = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        pending.status,
        ItemStatus::Pending,
        "{:?}",
        pending.last_error
    );
    let mut kinds = Vec::new();
    while let Some(m) = deps_first_message(&deps).await {
        if let domain::SyncJob::Emit { event } = serde_json::from_str(&m.body).unwrap() {
            kinds.push(event.kind);
        }
        deps.queue.delete(&m.receipt_handle).await.unwrap();
    }
    assert_eq!(kinds, vec![domain::outbound::OutboundType::InvoiceSynced]);
}

/// On the queue's last receive the item is marked failed, and `visma.item.failed` is queued
/// first: if that send fails the item stays pending (the hourly re-queue of stale pending
/// items, or the owner's Retry, takes it again) rather than failed without a word to Aourly.
#[tokio::test]
async fn a_failure_on_the_last_receive_is_not_stored_without_its_event() {
    let sb = sandbox().await;
    let (plain, tenant) = ready_with_events(&sb).await;
    let fault = RefuseFirst::of("visma.item.failed");
    let deps = fault.on(&plain).await;
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customerinvoices".into(),
            times: 1000,
        }],
        ..Faults::default()
    });
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    // Each poll: the pull's events are rescheduled, the push fails and comes back.
    drain_queue(&deps, 20).await;
    assert_eq!(fault.refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(
        waiting.status,
        ItemStatus::Pending,
        "{:?}",
        waiting.last_error
    );

    // Visma is back; the owner retries (or the hourly re-queue does).
    sb.set_faults(Faults::default());
    let retry = call(
        &deps,
        "POST",
        "/tenants/acme/visma/sync-items/invoice/inv_1/retry",
        Some(&jwt("acme", "owner")),
        None,
    )
    .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    drain_queue(&deps, 20).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;
}

/// A block on the connection stored long after the connection was made is Visma refusing
/// this kind of record (a user without invoicing rights, say), not a lost race with the
/// reconnect: the pulls leave it alone rather than push it, and block it, every 15 minutes.
#[tokio::test]
async fn a_block_on_the_connection_long_after_the_connect_is_not_resumed_by_pulls() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    let company = sb.companies()[0].clone();
    deps.connections
        .put_connected(
            &tenant,
            domain::connection::VismaCompany {
                name: company.name,
                corporate_identity_number: Some(company.corporate_identity_number),
                company_identifier: None,
            },
            "user-1",
            chrono::Utc::now() - chrono::Duration::minutes(10),
        )
        .await
        .unwrap();
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let items = deps.items.clone();
    let pending = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    items
        .set_status(
            &pending,
            ItemStatus::Blocked,
            Some(&store::ItemError::new(
                domain::ItemCode::ConnectionExpired,
                "Visma no longer accepts the connection; reconnect to resume",
            )),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let blocked = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    // Its job was consumed by whatever blocked it.
    for message in deps.queue.receive(10, 0).await.unwrap() {
        deps.queue.delete(&message.receipt_handle).await.unwrap();
    }
    // Beside it, an item blocked before the connect: that one the pull resumes.
    post_webhook(
        &deps,
        &invoice_event(
            "evt_2",
            invoice("inv_2", "1044", customer("cus_1", "10042")),
        ),
    )
    .await;
    for message in deps.queue.receive(10, 0).await.unwrap() {
        deps.queue.delete(&message.receipt_handle).await.unwrap();
    }
    let early = item(&deps, &tenant, RecordKind::Invoice, "inv_2").await;
    items
        .set_status(
            &early,
            ItemStatus::Blocked,
            Some(&store::ItemError::new(
                domain::ItemCode::ConnectionExpired,
                "The Visma connection has expired; reconnect to resume syncing",
            )),
            chrono::Utc::now() - chrono::Duration::minutes(20),
        )
        .await
        .unwrap();

    run_pull_job(&deps, &tenant).await;
    let after = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(after.status, ItemStatus::Blocked);
    assert_eq!(after.version, blocked.version, "not resumed");
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 0);
    let resumed = item(&deps, &tenant, RecordKind::Invoice, "inv_2").await;
    assert_eq!(
        resumed.status,
        ItemStatus::Synced,
        "{:?}",
        resumed.last_error
    );
}

/// Stored tokens the service cannot use (here: not decodable; in AWS, a KMS key disabled)
/// are a fault on our side: the record fails with `internal_error`, not as Visma refusing it.
#[tokio::test]
async fn unusable_stored_tokens_fail_a_push_as_our_fault_not_visma_s() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    integration_tests::dynamodb()
        .await
        .update_item()
        .table_name(&deps.config.table_name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("TENANT#acme".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("TOKENS".into()),
        )
        .update_expression("SET sealed = :junk")
        .expression_attribute_values(
            ":junk",
            aws_sdk_dynamodb::types::AttributeValue::S("not base64 at all!".into()),
        )
        .send()
        .await
        .unwrap();
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    drain_queue(&deps, 10).await;
    let failed = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(failed.status, ItemStatus::Failed);
    let error = failed.last_error.unwrap();
    assert_eq!(error.code, "internal_error");
    assert!(!error.detail.unwrap().contains("Visma refused"));
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 0);
}

/// The race a reconnect's resume can lose: a webhook reads the connection as expired just
/// before the owner reconnects and stores its item blocked just after the reconnect's resume
/// looked for such items. The pull the reconnect queues resumes it.
#[tokio::test]
async fn an_item_blocked_just_after_the_reconnect_resumed_is_resumed_by_its_pull() {
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    expire_connection(&deps, &tenant).await;
    let answer = post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    assert_eq!(answer.status, 202);

    // While the connection is expired a pull is skipped and resumes nothing.
    run_pull_job(&deps, &tenant).await;
    let waiting = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(waiting.status, ItemStatus::Blocked);
    assert_eq!(waiting.last_error.unwrap().code, "connection_expired");
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 0);

    // The reconnect as the callback records it, its resume having run before the item was
    // blocked (so it found nothing), then the pull it queues.
    connect_tenant(&deps, &sb, &tenant, first_company(&sb)).await;
    assert_eq!(
        item(&deps, &tenant, RecordKind::Invoice, "inv_1")
            .await
            .status,
        ItemStatus::Blocked
    );
    run_pull_job(&deps, &tenant).await;
    assert_1042_synced_once(&deps, &sb, &tenant).await;

    // The next pull finds nothing left to resume, and nothing is pushed twice.
    run_pull_job(&deps, &tenant).await;
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
}

#[tokio::test]
async fn concurrent_workers_share_the_rate_budget_instead_of_meeting_429s() {
    let sb = sandbox().await;
    let (deps, tenant) = ready_with(&sb, &[("VISMA_RATE_LIMIT", "10/2")]).await;
    sb.set_rate_limit(10, std::time::Duration::from_secs(2));
    // A known customer, so each invoice is one POST on the same route.
    post_webhook(
        &deps,
        &event(
            "evt_c",
            "customer.created",
            json!({"customer": customer("cus_1", "10042")}),
        ),
    )
    .await;
    drain_queue(&deps, 10).await;
    sb.clear_request_log();
    for n in 0..24 {
        post_webhook(
            &deps,
            &invoice_event(
                &format!("evt_{n}"),
                invoice(
                    &format!("inv_{n}"),
                    &format!("{}", 3000 + n),
                    customer("cus_1", "10042"),
                ),
            ),
        )
        .await;
    }
    let started = std::time::Instant::now();
    // Four workers, as four concurrent Lambdas would.
    let workers = (0..4).map(|_| {
        let deps = deps.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                let report = local::poll_once(&deps, 0).await.unwrap();
                if report.received == 0 {
                    break;
                }
                for handle in &report.returned {
                    deps.queue.change_visibility(handle, 0).await.unwrap();
                }
            }
        })
    });
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let synced = deps
        .items
        .clone()
        .all_with_status(&tenant, &[ItemStatus::Synced])
        .await
        .unwrap();
    assert_eq!(
        synced
            .iter()
            .filter(|i| i.kind == RecordKind::Invoice)
            .count(),
        24
    );
    let log = sb.request_log();
    let posts = log
        .iter()
        .filter(|r| r.route == "/v2/customerinvoices" && r.method == "POST")
        .count();
    let limited = log.iter().filter(|r| r.status == 429).count();
    println!(
        "24 invoices, 4 workers, 10 req/2 s: {posts} POSTs in {elapsed:?}, {limited} answered 429"
    );
    assert_eq!(
        limited, 0,
        "the shared pacer keeps every worker under the limit"
    );
    assert_eq!(posts, 24);
}

#[tokio::test]
async fn a_rate_budget_booked_beyond_the_longest_wait_sends_nothing_and_the_job_waits_its_turn() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let sb = sandbox().await;
    let (deps, tenant) = ready(&sb).await;
    // GIVEN other workers have booked the invoice route's schedule an hour ahead
    let now_us = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap();
    let booked_until = now_us + 3_600_000_000;
    let schedule_key = (
        format!("RATE#{}", deps.config.visma_client_id),
        "POST /v2/customerinvoices".to_owned(),
    );
    integration_tests::dynamodb()
        .await
        .put_item()
        .table_name(&deps.config.table_name)
        .item("PK", AttributeValue::S(schedule_key.0.clone()))
        .item("SK", AttributeValue::S(schedule_key.1.clone()))
        .item("next_us", AttributeValue::N(booked_until.to_string()))
        .send()
        .await
        .unwrap();

    // WHEN an invoice for a known customer is pushed
    post_webhook(&deps, &invoice_event("evt_1", invoice_1042())).await;
    let report = local::poll_once(&deps, 1).await.unwrap();

    // THEN nothing reaches Visma, the item stays pending with the reason, and the job is hidden
    // until the schedule has room (about an hour less the longest wait), not retried at once
    assert_eq!((report.received, report.returned.len()), (1, 1));
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 0);
    let pending = item(&deps, &tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(pending.status, ItemStatus::Pending);
    let reason = pending.last_error.expect("the reason is recorded");
    assert!(
        reason
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("rate-limited"),
        "{reason:?}"
    );
    assert_eq!(local::poll_once(&deps, 1).await.unwrap().received, 0);

    // AND once the schedule has drained (the booking removed as if the hour had passed) the
    // job runs again and the invoice is booked once
    integration_tests::dynamodb()
        .await
        .delete_item()
        .table_name(&deps.config.table_name)
        .key("PK", AttributeValue::S(schedule_key.0))
        .key("SK", AttributeValue::S(schedule_key.1))
        .send()
        .await
        .unwrap();
    redeliver_now(&deps, &report).await;
    drain_queue(&deps, 5).await;
    assert_eq!(sb.count("POST", "/v2/customerinvoices"), 1);
    assert_eq!(invoices_with_reference(&sb, "Aourly 1042"), 1);
    assert_eq!(
        item(&deps, &tenant, RecordKind::Invoice, "inv_1")
            .await
            .status,
        ItemStatus::Synced
    );
}
