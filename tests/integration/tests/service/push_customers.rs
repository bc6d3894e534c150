//! Customers pushed to Visma: created, updated, and matched to customers Visma already has
//! (from the pulled index or by asking Visma), never by a number or org number that has since
//! changed.

use integration_tests::internals::{ItemStatus, RecordKind, TenantId};
use integration_tests::payloads::*;
use integration_tests::*;
use serde_json::{json, Value};

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
    let (app, tenant) = ready(&sb).await;

    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
    assert_eq!(synced.status, ItemStatus::Synced, "{:?}", synced.last_error);
    assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"]);
    assert_eq!(invoice_customer_id(&sb, "Aourly 1042"), by_org["Id"]);

    sb.clear_request_log();
    app.post_webhook(&invoice_event(
        "evt_2",
        invoice("inv_2", "1043", customer("cus_2", "10043")),
    ))
    .await;
    app.drain_queue(10).await;
    assert_eq!(visma_requests(&sb), ["POST /v2/customerinvoices"]);
    assert_eq!(invoice_customer_id(&sb, "Aourly 1043"), by_number["Id"]);
    assert_eq!(sb.customers(company).len(), 2, "no customer created");
}

#[tokio::test]
async fn a_customer_made_in_visma_since_the_pull_with_the_same_number_is_linked_not_duplicated() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    let company = first_company(&sb);
    let by_hand = sb.add_customer(
        company,
        visma_customer("Kund 10042 AB", Some("10042"), "551111-1111"),
    );
    app.post_webhook(&invoice_event("evt_1", invoice_1042()))
        .await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_1").await;
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
    let (app, tenant) = ready(&sb).await;
    let company = first_company(&sb);
    // In Visma since the pull (say, created by a push whose answer was lost): not indexed, and
    // without a customer number Visma would not refuse a second copy.
    let existing = sb.add_customer(company, visma_customer("Kund AB", None, "5510042-0000"));
    let mut no_number = customer("cus_1", "10042");
    no_number["number"] = Value::Null;
    app.post_webhook(&event(
        "evt_1",
        "customer.created",
        json!({"customer": no_number}),
    ))
    .await;
    app.drain_queue(10).await;
    let linked = app.item(&tenant, RecordKind::Customer, "cus_1").await;
    assert_eq!(linked.status, ItemStatus::Synced, "{:?}", linked.last_error);
    assert_eq!(linked.visma_id.as_deref(), existing["Id"].as_str());
    assert_eq!(visma_requests(&sb), ["GET /v2/customers"]);
    assert_eq!(sb.customers(company).len(), 1, "no duplicate");
}

#[tokio::test]
async fn a_tenant_never_pulled_matches_and_creates_customers_by_asking_visma() {
    let sb = sandbox().await;
    let app = spawn_app_with_sandbox(&sb, &[]).await;
    let tenant = TenantId::parse("acme").unwrap();
    let company = first_company(&sb);
    connect_tenant(&app, &sb, &tenant, company).await;
    let existing = sb.add_customer(company, visma_customer("Kund AB", None, "5510042-0000"));

    // No pull yet, so no customer index: Visma is asked, and its customer is linked.
    app.post_webhook(&event(
        "evt_1",
        "customer.created",
        json!({"customer": customer("cus_1", "10042")}),
    ))
    .await;
    app.drain_queue(10).await;
    let linked = app.item(&tenant, RecordKind::Customer, "cus_1").await;
    assert_eq!(linked.status, ItemStatus::Synced, "{:?}", linked.last_error);
    assert_eq!(linked.visma_id.as_deref(), existing["Id"].as_str());
    assert_eq!(visma_requests(&sb), ["GET /v2/customers"]);

    // A new one: looked up, then created with terms of payment read from Visma.
    sb.clear_request_log();
    app.post_webhook(&event(
        "evt_2",
        "customer.created",
        json!({"customer": customer("cus_2", "10043")}),
    ))
    .await;
    app.drain_queue(10).await;
    let created = app.item(&tenant, RecordKind::Customer, "cus_2").await;
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
    let (app, tenant) = ready(&sb).await;
    let company = first_company(&sb);
    let old_org = "5510042-0000";
    let new_org = "5599999-0001";
    let a = customer("cus_a", "10042");
    assert_eq!(a["org_number"], old_org);
    app.post_webhook(&event("evt_1", "customer.created", json!({"customer": a})))
        .await;
    app.drain_queue(10).await;
    let x = app
        .item(&tenant, RecordKind::Customer, "cus_a")
        .await
        .visma_id
        .expect("A is in Visma");

    // A's org number was a typo; the worker corrects A's Visma customer.
    let mut corrected = a.clone();
    corrected["org_number"] = json!(new_org);
    app.post_webhook(&event(
        "evt_2",
        "customer.updated",
        json!({"customer": corrected}),
    ))
    .await;
    app.drain_queue(10).await;
    let updated = app.item(&tenant, RecordKind::Customer, "cus_a").await;
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
    app.post_webhook(&invoice_event("evt_3", invoice("inv_b", "2001", b)))
        .await;
    app.drain_queue(10).await;
    let synced = app.item(&tenant, RecordKind::Invoice, "inv_b").await;
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
    app.post_webhook(&event("evt_4", "customer.created", json!({"customer": c})))
        .await;
    app.drain_queue(10).await;
    let linked = app.item(&tenant, RecordKind::Customer, "cus_c").await;
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
    let (app, tenant) = ready(&sb).await;
    let id = |c: &Value| c["Id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();

    // The accountant corrects one customer's org number and renumbers the other, in Visma; the
    // next pull reads both.
    sb.update_customer(
        company,
        id(&by_org),
        json!({"CorporateIdentityNumber": "5599999-0001"}),
    );
    sb.update_customer(company, id(&by_number), json!({"CustomerNumber": "20043"}));
    internals::pull::run(&app, &tenant).await.unwrap();

    // Aourly customers with the old org number and the old customer number: new customers.
    for (event_id, inv, number, cus) in [
        ("evt_1", "inv_1", "1042", customer("cus_1", "10042")),
        ("evt_2", "inv_2", "1043", customer("cus_2", "10043")),
    ] {
        sb.clear_request_log();
        app.post_webhook(&invoice_event(event_id, invoice(inv, number, cus)))
            .await;
        app.drain_queue(10).await;
        let synced = app.item(&tenant, RecordKind::Invoice, inv).await;
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
        app.post_webhook(&invoice_event(event_id, invoice(inv, number, cus)))
            .await;
        app.drain_queue(10).await;
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
async fn customers_are_created_matched_and_kept_in_step() {
    let sb = sandbox().await;
    let (app, tenant) = ready(&sb).await;
    app.post_webhook(&event(
        "evt_1",
        "customer.created",
        json!({"customer": customer("cus_1", "10042")}),
    ))
    .await;
    app.drain_queue(10).await;
    let created = app.item(&tenant, RecordKind::Customer, "cus_1").await;
    assert_eq!(
        created.status,
        ItemStatus::Synced,
        "{:?}",
        created.last_error
    );
    let mut changed = customer("cus_1", "10042");
    changed["email"] = json!("ekonomi@exempel.se");
    app.post_webhook(&event(
        "evt_2",
        "customer.updated",
        json!({"customer": changed}),
    ))
    .await;
    app.drain_queue(10).await;
    let customers = sb.customers(first_company(&sb));
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["EmailAddress"], "ekonomi@exempel.se");
    assert_eq!(created.visma_id.as_deref(), customers[0]["Id"].as_str());

    // A customer that already exists in Visma (by org number) is matched, not duplicated.
    let mut private = customer("cus_2", "10043");
    private["number"] = Value::Null;
    private["org_number"] = customers[0]["CorporateIdentityNumber"].clone();
    app.post_webhook(&event(
        "evt_3",
        "customer.created",
        json!({"customer": private}),
    ))
    .await;
    app.drain_queue(10).await;
    assert_eq!(sb.customers(first_company(&sb)).len(), 1);
    assert_eq!(
        app.item(&tenant, RecordKind::Customer, "cus_2")
            .await
            .visma_id,
        created.visma_id
    );

    // A private person is created as one.
    let mut person = customer("cus_3", "10044");
    person["is_private_person"] = json!(true);
    person["org_number"] = json!("19800101-1234");
    app.post_webhook(&event(
        "evt_4",
        "customer.created",
        json!({"customer": person}),
    ))
    .await;
    app.drain_queue(10).await;
    let all = sb.customers(first_company(&sb));
    let p = all.iter().find(|c| c["CustomerNumber"] == "10044").unwrap();
    assert_eq!(p["IsPrivatePerson"], true);
}
