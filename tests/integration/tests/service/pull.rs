//! The pull (issue 6) against the Visma sandbox and the local AWS emulator: what arrives, what
//! it costs, what Aourly reads back through the routes, and the schedule's fan-out.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Utc};
use integration_tests::internals::{self, TenantId};
use integration_tests::*;
use serde_json::{json, Value};
use visma_sandbox::{Sandbox, SandboxConfig, Seed};

/// Requests per (method, route template) in the sandbox log.
pub(crate) fn requests(sandbox: &Sandbox) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in sandbox.request_log() {
        *counts
            .entry(format!("{} {}", r.method, r.route))
            .or_insert(0) += 1;
    }
    counts
}

pub(crate) fn total(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().sum()
}

pub(crate) async fn get(app: &TestApp, t: &str, path: &str) -> Answer {
    app.get(format!("/tenants/{t}/visma{path}"))
        .as_owner(t)
        .send()
        .await
}

pub(crate) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(crate) fn manual_voucher(text: &str, amount: u32) -> Value {
    json!({
        "VoucherDate": today().to_string(),
        "VoucherText": text,
        "Rows": [
            {"AccountNumber": 5800, "DebitAmount": amount, "TransactionText": "Resa"},
            {"AccountNumber": 1930, "CreditAmount": amount}
        ]
    })
}

/// Tenant "acme" connected to the sandbox's first company, with its first pull done.
pub(crate) async fn connected_and_pulled(sandbox: &Sandbox) -> (TestApp, TenantId, uuid::Uuid) {
    let app = spawn_app_with_sandbox(sandbox, &[]).await;
    let t = tenant("acme");
    let company = first_company(sandbox);
    connect_tenant(&app, sandbox, &t, company).await;
    internals::pull::run(&app, &t).await.unwrap();
    (app, t, company)
}

/// The current calendar year's fiscal year id, from the pulled data.
pub(crate) async fn current_year_id(app: &TestApp, t: &str) -> String {
    let years = get(app, t, "/fiscal-years").await.body;
    years["fiscal_years"]
        .as_array()
        .unwrap()
        .iter()
        .find(|y| y["start_date"] == format!("{}-01-01", today().year()))
        .expect("the current year was pulled")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_large_chart_arrives_complete_and_an_unchanged_pull_costs_one_request_per_resource() {
    let sandbox = Sandbox::start(SandboxConfig {
        seed: Seed {
            extra_accounts: 2000,
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = tenant("large-co");
    connect_tenant(&app, &sandbox, &t, first_company(&sandbox)).await;

    sandbox.clear_request_log();
    let report = internals::pull::run(&app, &t).await.unwrap();
    let first = requests(&sandbox);
    eprintln!(
        "first pull of a 2,000-extra-account company: {} requests: {first:#?}",
        total(&first)
    );
    assert!(!report.skipped);
    assert!(report.mapping_proposed);
    // Two fiscal years (last year's is locked, read once), each with 2,072 accounts over
    // three pages of 1,000.
    assert_eq!(first["GET /v2/accounts/{fiscalyearId}"], 6);
    assert_eq!(report.changes.accounts.len(), 2);
    assert!(report.changes.fiscal_years);

    let expected = 2000 + visma_sandbox::seed::BAS_ACCOUNTS.len();
    let answer = get(&app, "large-co", "/accounts").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let accounts = answer.body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), expected, "every page arrived");
    let numbers: std::collections::HashSet<&str> = accounts
        .iter()
        .map(|a| a["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), expected, "no account twice");
    assert!(numbers.contains("1930") && numbers.contains("3740"));
    assert_eq!(
        accounts[0],
        json!({"number": "1000", "name": "Konto 1000", "vat_code": null, "active": true})
    );
    // Stored in several items, each far below DynamoDB's 400 KB limit.
    let items: Vec<Value> = app
        .table
        .query_prefix(&internals::keys::tenant_pk(&t), "ACCOUNTS#")
        .await
        .unwrap();
    assert_eq!(
        items.len(),
        2 * expected.div_ceil(internals::CHART_PAGE_SIZE)
    );
    for item in &items {
        assert!(item.to_string().len() < 100_000);
    }

    // Nothing changed in Visma: at most one request per resource type (accounts: one for the
    // one open fiscal year), and nothing announced. Eight types: the company's settings (its
    // plan and how it books), the five of the pulled data, and the terms of payment and the
    // customer index the push uses.
    sandbox.clear_request_log();
    let report = internals::pull::run(&app, &t).await.unwrap();
    let second = requests(&sandbox);
    eprintln!("unchanged pull: {} requests: {second:#?}", total(&second));
    for (route, n) in &second {
        assert_eq!(*n, 1, "{route} was called {n} times");
    }
    assert_eq!(
        second.keys().cloned().collect::<Vec<_>>(),
        vec![
            "GET /v2/accounts/{fiscalyearId}",
            "GET /v2/articleaccountcodings",
            "GET /v2/companysettings",
            "GET /v2/customers",
            "GET /v2/fiscalyears",
            "GET /v2/termsofpayments",
            "GET /v2/vatcodes",
            "GET /v2/vouchers",
        ]
    );
    assert_eq!(report.changes, internals::PullChanges::default());
    assert!(internals::pull::events_to_send(&report).is_empty());

    let status = get(&app, "large-co", "").await.body;
    assert_eq!(status["last_sync_result"], "ok");
    assert!(status["last_sync_at"].is_string());
}

#[tokio::test]
async fn the_pull_keeps_the_sales_terms_and_an_index_of_visma_customers() {
    use internals::CustomerKey;
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = tenant("acme");
    let company = first_company(&sandbox);
    connect_tenant(&app, &sandbox, &t, company).await;
    let customer = |name: &str, number: &str, org: Option<&str>| {
        let mut c = json!({"Name": name, "CustomerNumber": number, "IsPrivatePerson": false,
                           "IsActive": true, "InvoiceCity": "Stockholm", "InvoicePostalCode": "11122"});
        if let Some(org) = org {
            c["CorporateIdentityNumber"] = json!(org);
        }
        c
    };
    let first = sandbox.add_customer(company, customer("Bygg AB", "100", Some("556677-8899")));
    let no_org = sandbox.add_customer(company, customer("Anna", "101", None));
    let pulled = app.pulled.clone();
    assert_eq!(
        pulled.pull_state(&t).await.unwrap().customers_watermark,
        None,
        "no index before the first pull"
    );

    internals::pull::run(&app, &t).await.unwrap();
    let state = pulled.pull_state(&t).await.unwrap();
    // The sandbox's normal (type 0) terms, with their days.
    assert!(!state.sales_terms.is_empty());
    assert!(state.sales_terms.iter().any(|terms| terms.days == 30));
    let watermark = state.customers_watermark.expect("the index is complete");
    let indexed = |key, value: &'static str| {
        let pulled = pulled.clone();
        let t = t.clone();
        async move { pulled.indexed_customer(&t, key, value).await.unwrap() }
    };
    assert_eq!(
        indexed(CustomerKey::Number, "100").await.as_deref(),
        first["Id"].as_str()
    );
    assert_eq!(
        indexed(CustomerKey::OrgNumber, "556677-8899")
            .await
            .as_deref(),
        first["Id"].as_str()
    );
    assert_eq!(
        indexed(CustomerKey::Number, "101").await.as_deref(),
        no_org["Id"].as_str()
    );
    assert_eq!(indexed(CustomerKey::Number, "102").await, None);
    let items: Vec<Value> = app
        .table
        .query_prefix(&internals::keys::tenant_pk(&t), "VISMA_CUSTOMER#")
        .await
        .unwrap();
    // Three entries (two numbers, one org number) and each customer's current keys.
    assert_eq!(items.len(), 5, "{items:#?}");
    assert_eq!(
        pulled
            .indexed_customer_keys(&t, first["Id"].as_str().unwrap())
            .await
            .unwrap(),
        Some(internals::IndexedCustomer {
            visma_id: first["Id"].as_str().unwrap().to_owned(),
            number: Some("100".into()),
            org_number: Some("556677-8899".into()),
        })
    );

    // A customer added later arrives with the next pull, which asks only for changed ones.
    let later = sandbox.add_customer(company, customer("Ny AB", "102", Some("551234-5678")));
    sandbox.clear_request_log();
    let report = internals::pull::run(&app, &t).await.unwrap();
    assert_eq!(
        report.changes,
        internals::PullChanges::default(),
        "customers are not announced"
    );
    let read = sandbox
        .request_log()
        .into_iter()
        .find(|r| r.route == "/v2/customers")
        .expect("customers were read");
    assert!(
        read.query
            .as_deref()
            .unwrap_or_default()
            .contains("ChangedUtc"),
        "{:?}",
        read.query
    );
    assert_eq!(
        indexed(CustomerKey::Number, "102").await.as_deref(),
        later["Id"].as_str()
    );
    assert_eq!(
        indexed(CustomerKey::OrgNumber, "551234-5678")
            .await
            .as_deref(),
        later["Id"].as_str()
    );
    let state = pulled.pull_state(&t).await.unwrap();
    assert!(state.customers_watermark.unwrap() > watermark);

    // Numbers changed in Visma: the next pull indexes the new ones, and the old entries, still
    // stored, no longer match (their customer's current keys say otherwise).
    let id = |c: &Value| c["Id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    sandbox.update_customer(
        company,
        id(&first),
        json!({"CorporateIdentityNumber": "556677-0000"}),
    );
    sandbox.update_customer(company, id(&no_org), json!({"CustomerNumber": "201"}));
    internals::pull::run(&app, &t).await.unwrap();
    assert_eq!(indexed(CustomerKey::OrgNumber, "556677-8899").await, None);
    assert_eq!(
        indexed(CustomerKey::OrgNumber, "556677-0000")
            .await
            .as_deref(),
        first["Id"].as_str()
    );
    assert_eq!(
        indexed(CustomerKey::Number, "100").await.as_deref(),
        first["Id"].as_str(),
        "an unchanged key still matches"
    );
    assert_eq!(indexed(CustomerKey::Number, "101").await, None);
    assert_eq!(
        indexed(CustomerKey::Number, "201").await.as_deref(),
        no_org["Id"].as_str()
    );
}

#[tokio::test]
async fn a_customer_index_in_an_older_layout_is_rebuilt_by_the_next_pull() {
    use internals::CustomerKey;
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = tenant("acme");
    let company = first_company(&sandbox);
    connect_tenant(&app, &sandbox, &t, company).await;
    let known = sandbox.add_customer(
        company,
        json!({"Name": "Bygg AB", "CustomerNumber": "100", "IsPrivatePerson": false,
               "IsActive": true, "InvoiceCity": "Stockholm", "InvoicePostalCode": "11122",
               "CorporateIdentityNumber": "556677-8899"}),
    );
    let pulled = app.pulled.clone();
    internals::pull::run(&app, &t).await.unwrap();
    let mut state = pulled.pull_state(&t).await.unwrap();
    assert!(state.customer_index_ready());

    // As a deployment before current keys left it: entries only, an older version.
    let keys_sk = internals::keys::visma_customer_keys_sk(known["Id"].as_str().unwrap());
    app.table
        .delete(&internals::keys::tenant_pk(&t), &keys_sk)
        .await
        .unwrap();
    state.customer_index_version = 0;
    pulled.put_pull_state(&t, &state).await.unwrap();
    assert!(!pulled.pull_state(&t).await.unwrap().customer_index_ready());
    assert_eq!(
        pulled
            .indexed_customer(&t, CustomerKey::Number, "100")
            .await
            .unwrap(),
        None,
        "an entry without current keys is not believed"
    );

    // The next pull reads every customer again (no change filter) and the index is ready.
    sandbox.clear_request_log();
    internals::pull::run(&app, &t).await.unwrap();
    let read = sandbox
        .request_log()
        .into_iter()
        .find(|r| r.route == "/v2/customers")
        .expect("customers were read");
    assert!(
        !read
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("ChangedUtc"),
        "{:?}",
        read.query
    );
    assert!(pulled.pull_state(&t).await.unwrap().customer_index_ready());
    assert_eq!(
        pulled
            .indexed_customer(&t, CustomerKey::Number, "100")
            .await
            .unwrap()
            .as_deref(),
        known["Id"].as_str()
    );
}

#[tokio::test]
async fn an_account_added_in_visma_appears_after_a_manual_sync() {
    let sandbox = sandbox().await;
    let (app, _, company) = connected_and_pulled(&sandbox).await;
    let fy = current_year_id(&app, "acme").await;
    let before = get(&app, "acme", "/accounts").await.body;
    assert_eq!(before["fiscal_year_id"], fy.as_str());
    assert!(!before["accounts"].to_string().contains("\"3010\""));
    let synced_before = get(&app, "acme", "").await.body["last_sync_at"].clone();

    sandbox.add_account(company, fy.parse().unwrap(), "3010", "Konsultintäkter");
    let answer = app
        .post("/tenants/acme/visma/sync")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert!(answer.body["sync_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    // The queued pull job, run by the worker's handler.
    let polled = internals::poll_once(&app, 1).await.unwrap();
    assert_eq!((polled.received, polled.done), (1, 1));

    let after = get(&app, "acme", &format!("/accounts?fiscal_year={fy}"))
        .await
        .body;
    let added: Vec<&Value> = after["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["number"] == "3010")
        .collect();
    assert_eq!(
        added,
        vec![
            &json!({"number": "3010", "name": "Konsultintäkter", "vat_code": null, "active": true})
        ]
    );
    let synced_after = get(&app, "acme", "").await.body["last_sync_at"].clone();
    assert_ne!(synced_before, synced_after);
}

#[tokio::test]
async fn a_new_fiscal_year_is_picked_up_with_its_accounts_and_locked_years_show_locked() {
    let sandbox = sandbox().await;
    let (app, t, company) = connected_and_pulled(&sandbox).await;
    let years = get(&app, "acme", "/fiscal-years").await.body;
    let this_year = today().year();
    assert_eq!(
        years["fiscal_years"]
            .as_array()
            .unwrap()
            .iter()
            .map(|y| (
                y["start_date"].as_str().unwrap().to_owned(),
                y["locked"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (format!("{}-01-01", this_year - 1), json!(true)),
            (format!("{this_year}-01-01"), json!(false)),
        ]
    );
    // The locked year's chart was read once, on first sight, and can be shown.
    let locked_id = years["fiscal_years"][0]["id"].as_str().unwrap().to_owned();
    let locked_chart = get(&app, "acme", &format!("/accounts?fiscal_year={locked_id}")).await;
    assert_eq!(locked_chart.status, 200);

    let next = NaiveDate::from_ymd_opt(this_year + 1, 1, 1).unwrap();
    let new_id = sandbox.add_fiscal_year(
        company,
        next,
        NaiveDate::from_ymd_opt(this_year + 1, 12, 31).unwrap(),
    );
    let current = current_year_id(&app, "acme").await;
    sandbox.lock_fiscal_year(company, current.parse().unwrap());
    sandbox.clear_request_log();
    let report = internals::pull::run(&app, &t).await.unwrap();
    assert!(report.changes.fiscal_years);
    assert_eq!(report.changes.accounts, vec![new_id.to_string()]);
    assert_eq!(
        internals::pull::events_to_send(&report),
        vec!["visma.accounts.updated", "visma.fiscal_years.updated"]
    );
    // The new year's chart in full; the current year (now locked) no more.
    assert_eq!(sandbox.count("GET", "/v2/accounts/{fiscalyearId}"), 1);

    let years = get(&app, "acme", "/fiscal-years").await.body;
    let list = years["fiscal_years"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[1]["id"], current.as_str());
    assert_eq!(list[1]["locked"], true);
    assert_eq!(list[2]["id"], new_id.to_string());
    assert_eq!(list[2]["start_date"], next.to_string());
    assert_eq!(list[2]["locked"], false);
    let chart = get(&app, "acme", &format!("/accounts?fiscal_year={new_id}")).await;
    assert_eq!(chart.status, 200, "{}", chart.text);
    assert_eq!(
        chart.body["accounts"].as_array().unwrap().len(),
        visma_sandbox::seed::BAS_ACCOUNTS.len()
    );

    let unknown = get(&app, "acme", "/accounts?fiscal_year=nope").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "unknown_fiscal_year");
}

#[tokio::test]
async fn one_schedule_tick_queues_a_pull_per_connected_tenant_and_every_tenant_is_pulled() {
    let sandbox = Arc::new(sandbox().await);
    sandbox.set_rate_limit(1_000_000, std::time::Duration::from_secs(60));
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let company = first_company(&sandbox);
    let tenants: Vec<TenantId> = (0..200).map(|i| tenant(&format!("t{i:03}"))).collect();
    let mut tasks = Vec::new();
    for chunk in tenants.chunks(20) {
        let (app, sandbox, chunk) = (app.clone(), sandbox.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for t in &chunk {
                connect_tenant(&app, &sandbox, t, company).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let report = internals::functions::handle_tick(&app, internals::functions::schedule_event())
        .await
        .unwrap();
    assert_eq!(report.tenants_queued, 200);

    // Four workers drain the queue, as concurrent Lambda invocations would.
    let mut workers = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        workers.push(tokio::spawn(async move {
            let mut done = 0;
            let mut idle = 0;
            while idle < 3 {
                let r = internals::poll_once(&app, 1).await.unwrap();
                assert!(r.returned.is_empty(), "a pull failed");
                done += r.done;
                idle = if r.received == 0 { idle + 1 } else { 0 };
            }
            done
        }));
    }
    let mut done = 0;
    for w in workers {
        done += w.await.unwrap();
    }
    assert_eq!(done, 200);
    for t in &tenants {
        let c = app.connections.get(t).await.unwrap().unwrap();
        assert!(c.last_sync_at.is_some(), "{t} was not pulled");
        assert_eq!(c.last_sync_result, Some(internals::SyncResult::Ok), "{t}");
    }
}

#[tokio::test]
async fn pull_routes_check_the_caller() {
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    for path in [
        "/accounts",
        "/fiscal-years",
        "/vouchers",
        "/account-mapping",
    ] {
        let answer = app.get(format!("/tenants/acme/visma{path}")).send().await;
        assert_eq!(answer.status, 401, "{path}");
        let service = app
            .get(format!("/tenants/acme/visma{path}"))
            .as_role("acme", "performer")
            .send()
            .await;
        assert_eq!(service.status, 403, "{path}");
        let other = app
            .get(format!("/tenants/acme/visma{path}"))
            .as_owner("other")
            .send()
            .await;
        assert_eq!(other.status, 403, "{path}");
    }
    // The service role reads.
    let years = app
        .get("/tenants/acme/visma/fiscal-years")
        .as_service("acme")
        .send()
        .await;
    assert_eq!(years.status, 200);
    assert_eq!(years.body, json!({"fiscal_years": []}));
    for role in ["performer", "service", "coordinator"] {
        for (method, path, body) in [
            ("POST", "/sync", None),
            ("PUT", "/account-mapping", Some(json!({"sales": []}))),
        ] {
            let answer = app
                .request(method, format!("/tenants/acme/visma{path}"))
                .bearer(&jwt("acme", role))
                .json_opt(body)
                .send()
                .await;
            assert_eq!(answer.status, 403, "{role} {method} {path}");
        }
    }
    for (method, path) in [("POST", "/sync"), ("PUT", "/account-mapping")] {
        let answer = app
            .request(method, format!("/tenants/acme/visma{path}"))
            .send()
            .await;
        assert_eq!(answer.status, 401, "{method} {path}");
    }
    // Sync needs a connection.
    let answer = app
        .post("/tenants/acme/visma/sync")
        .as_owner("acme")
        .send()
        .await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["code"], "not_connected");
    assert!(app.queue.receive(10, 0).await.unwrap().is_empty());
}
