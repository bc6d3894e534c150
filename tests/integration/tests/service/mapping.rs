//! The account mapping (issue 6): proposed after the first pull with one Visma article per
//! rate, validated entry by entry on PUT, stored confirmed, and reflected in the status.

use integration_tests::*;

use integration_tests::internals::{TenantId, VatRate};
use serde_json::{json, Value};

async fn mapping(app: &TestApp) -> Answer {
    app.get("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .send()
        .await
}

async fn put(app: &TestApp, body: Value) -> Answer {
    app.put("/tenants/acme/visma/account-mapping")
        .as_owner("acme")
        .json(body)
        .send()
        .await
}

async fn status(app: &TestApp) -> Value {
    app.get("/tenants/acme/visma")
        .as_owner("acme")
        .send()
        .await
        .body
}

/// The sandbox company's codings: name → id.
async fn codings(sandbox: &visma_sandbox::Sandbox) -> Vec<(String, String)> {
    let company = first_company(sandbox);
    let tokens = sandbox.issue_tokens("aourly-local", company, &["ea:api", "ea:sales"]);
    let body: Value = reqwest::Client::new()
        .get(format!("{}/v2/articleaccountcodings", sandbox.url()))
        .bearer_auth(tokens.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["VatRate"].as_str().unwrap().to_owned(),
                c["Id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn coding_for(codings: &[(String, String)], rate: &str) -> String {
    codings
        .iter()
        .find(|(r, _)| r == &format!("{rate}%"))
        .unwrap()
        .1
        .clone()
}

#[tokio::test]
async fn a_fresh_tenant_gets_a_proposed_mapping_with_one_article_per_rate() {
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sandbox, &t, first_company(&sandbox)).await;
    // Before the first pull: nothing to propose from.
    let before = mapping(&app).await;
    assert_eq!(before.status, 200);
    assert_eq!(before.body["confirmed"], false);
    assert_eq!(before.body["complete"], false);
    assert_eq!(before.body["sales"], json!([]));
    assert_eq!(status(&app).await["mapping_complete"], false);

    internals::pull::run(&app, &t).await.unwrap();
    let codings = codings(&sandbox).await;
    let proposal = mapping(&app).await.body;
    let sales = proposal["sales"].as_array().unwrap();
    let summary: Vec<Value> = sales
        .iter()
        .map(|e| {
            json!([
                e["vat_rate"],
                e["article_coding_id"],
                e["revenue_account"],
                e["vat_account"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["25", coding_for(&codings, "25"), "3001", "2611"]),
            json!(["12", coding_for(&codings, "12"), "3002", "2621"]),
            json!(["6", coding_for(&codings, "6"), "3003", "2631"]),
            json!(["0", coding_for(&codings, "0"), "3004", null]),
        ]
    );
    assert_eq!(
        proposal["accounts"],
        json!({"bank": "1930", "receivables": "1510", "rounding": "3740"})
    );
    assert_eq!(proposal["confirmed"], false);
    assert_eq!(proposal["complete"], true);
    // One article per rate, made in Visma with the rate's coding.
    assert_eq!(sandbox.count("POST", "/v2/articles"), 4);
    let log = sandbox.request_log();
    assert!(log.iter().all(|r| r.status < 400), "{log:#?}");
    for e in sales {
        assert!(e["article_id"].as_str().is_some_and(|id| !id.is_empty()));
    }

    let s = status(&app).await;
    assert_eq!(s["mapping_complete"], true);
    assert_eq!(s["warnings"], json!(["mapping_unconfirmed"]));

    // A second tenant on the same Visma company reuses the articles instead of duplicating.
    let other = TenantId::parse("acme-2").unwrap();
    connect_tenant(&app, &sandbox, &other, first_company(&sandbox)).await;
    internals::pull::run(&app, &other).await.unwrap();
    assert_eq!(sandbox.count("POST", "/v2/articles"), 4);
    let reused = internals::mapping::current(&app, &other)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reused
            .entry_for_rate(VatRate::Twelve)
            .unwrap()
            .article_id
            .as_deref(),
        sales[1]["article_id"].as_str()
    );
}

#[tokio::test]
async fn a_put_with_bad_entries_is_rejected_entry_by_entry_and_stores_nothing() {
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sandbox, &t, first_company(&sandbox)).await;
    internals::pull::run(&app, &t).await.unwrap();
    let codings = codings(&sandbox).await;
    let before = mapping(&app).await.body;

    let answer = put(
        &app,
        json!({
            "sales": [
                {"vat_rate": "25", "article_coding_id": coding_for(&codings, "25"), "revenue_account": "3001", "vat_account": "2611"},
                {"vat_rate": "12", "article_coding_id": coding_for(&codings, "25"), "revenue_account": "3002", "vat_account": "2621"},
                {"vat_rate": "6", "article_coding_id": "00000000-0000-4000-8000-000000000000", "revenue_account": "3003", "vat_account": "2631"},
                {"vat_rate": "0", "article_coding_id": coding_for(&codings, "0"), "revenue_account": "3004", "vat_account": "9999"},
                {"vat_rate": "7", "article_coding_id": coding_for(&codings, "6"), "revenue_account": "3003", "vat_account": null}
            ],
            "accounts": {"bank": "1931", "receivables": "1510", "rounding": "3740"}
        }),
    )
    .await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_eq!(answer.body["code"], "invalid_mapping");
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    let fields: Vec<&str> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "sales[1].article_coding_id",
            "sales[2].article_coding_id",
            "sales[3].vat_account",
            "sales[4].vat_rate",
            "accounts.bank",
        ]
    );
    assert!(answer.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("25 %"));
    // Nothing stored: still the unconfirmed proposal.
    assert_eq!(mapping(&app).await.body, before);

    // A value of the wrong type is a bad entry too, named by its path.
    for (body, field, message) in [
        (json!({"sales": "all of them"}), "sales", "must be an array"),
        (
            json!({"sales": [{"vat_rate": "25", "revenue_account": 3001}]}),
            "sales[0].revenue_account",
            "must be a string",
        ),
        (
            json!({"accounts": {"bank": 1930}}),
            "accounts.bank",
            "must be a string",
        ),
    ] {
        let answer = put(&app, body.clone()).await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.text);
        assert_eq!(answer.body["code"], "invalid_mapping");
        assert_eq!(
            answer.body["errors"],
            json!([{"field": field, "message": message}]),
            "{body}"
        );
    }
    assert_eq!(mapping(&app).await.body, before);
}

#[tokio::test]
async fn a_good_put_is_stored_confirmed_and_used_for_pushes() {
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = TenantId::parse("acme").unwrap();
    connect_tenant(&app, &sandbox, &t, first_company(&sandbox)).await;
    internals::pull::run(&app, &t).await.unwrap();
    let proposal = mapping(&app).await.body;
    let articles_before = sandbox.count("POST", "/v2/articles");

    // The owner keeps 25 % and 0 % and leaves the rounding account out for now.
    let sales = proposal["sales"].as_array().unwrap();
    let body = json!({
        "sales": [sales[0].clone(), sales[3].clone()],
        "accounts": {"bank": "1930", "receivables": "1510", "rounding": null},
        "confirmed": false
    });
    let answer = put(&app, body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["confirmed"], true);
    assert_eq!(answer.body["complete"], false);
    assert_eq!(answer.body["sales"].as_array().unwrap().len(), 2);
    assert_eq!(
        answer.body["sales"][0]["article_id"],
        sales[0]["article_id"]
    );
    assert_eq!(mapping(&app).await.body, answer.body);
    // The articles were kept: no new ones.
    assert_eq!(sandbox.count("POST", "/v2/articles"), articles_before);
    let current = internals::mapping::current(&app, &t)
        .await
        .unwrap()
        .unwrap();
    assert!(current.entry_for_rate(VatRate::TwentyFive).is_some());
    assert!(current.entry_for_rate(VatRate::Twelve).is_none());
    let s = status(&app).await;
    assert_eq!(s["mapping_complete"], false);
    assert_eq!(s["warnings"], json!(["mapping_incomplete"]));

    // The whole proposal, saved: complete and confirmed, no mapping warnings.
    let answer = put(&app, proposal.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["confirmed"], true);
    assert_eq!(answer.body["complete"], true);
    assert_eq!(answer.body["sales"], proposal["sales"]);
    let s = status(&app).await;
    assert_eq!(s["mapping_complete"], true);
    assert_eq!(s["warnings"], json!([]));
    // A later pull keeps the owner's mapping.
    internals::pull::run(&app, &t).await.unwrap();
    assert_eq!(mapping(&app).await.body["confirmed"], true);
}
