mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use visma_sandbox::{DropRule, Faults};

#[tokio::test]
async fn rate_limit_per_route_with_retry_after_and_recovery() {
    let sb = start().await;
    let api = Api::new(&sb, sb.companies()[0].id, ALL_SCOPES);
    sb.set_rate_limit(5, Duration::from_secs(2));
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(api.get("/v2/customers").await.0, StatusCode::OK);
    }
    let resp = api
        .http
        .get(format!("{}/v2/customers", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ErrorCode"], 4010);
    let msg = body["DeveloperErrorMessage"].as_str().unwrap();
    assert!(
        msg.starts_with("API calls quota exceeded! maximum admitted 5 per"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Try again in {retry} seconds.")),
        "{msg}"
    );
    // other routes have their own budget
    assert_eq!(api.get("/v2/fiscalyears").await.0, StatusCode::OK);
    assert_eq!(sb.count("GET", "/v2/customers"), 6);
    assert_eq!(
        sb.request_log().iter().filter(|l| l.status == 429).count(),
        1
    );
    // lifts once the window has passed
    let wait =
        Duration::from_secs(2).saturating_sub(started.elapsed()) + Duration::from_millis(100);
    tokio::time::sleep(wait).await;
    assert_eq!(api.get("/v2/customers").await.0, StatusCode::OK);
}

#[tokio::test]
async fn default_rate_limit_message_says_per_minute() {
    let sb = start().await;
    let api = Api::new(&sb, sb.companies()[0].id, ALL_SCOPES);
    sb.set_rate_limit(1, Duration::from_secs(60));
    assert_eq!(api.get("/v2/units").await.0, StatusCode::OK);
    let (s, v) = api.get("/v2/units").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let msg = v["DeveloperErrorMessage"].as_str().unwrap();
    assert!(
        msg.contains("maximum admitted 1 per Minute. Try again in"),
        "{msg}"
    );
}

#[tokio::test]
async fn server_error_injection() {
    let sb = start().await;
    let company = sb.companies()[0].id;
    let api = Api::new(&sb, company, ALL_SCOPES);
    sb.set_faults(Faults {
        server_error_rate_percent: 100,
        ..Faults::default()
    });
    for _ in 0..10 {
        let terms = json!({"Name": "X", "InvoiceCity": "Y", "InvoicePostalCode": "1", "TermsOfPaymentId": uuid::Uuid::nil(), "IsPrivatePerson": false, "IsActive": true});
        let (s, v) = api.post("/v2/customers", &terms).await;
        assert_eq!(
            (s, v["ErrorCode"].as_i64()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some(5000))
        );
    }
    // identity is not affected
    let pair = sb.issue_tokens(CLIENT_ID, company, ALL_SCOPES);
    let r = http()
        .post(format!("{}/connect/token", sb.url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    sb.set_faults(Faults::default());
    assert_eq!(api.get("/v2/customers").await.0, StatusCode::OK);

    // deterministic: the next 2 POSTs fail, the third works
    sb.set_faults(Faults {
        server_error_on: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 2,
        }],
        ..Faults::default()
    });
    let terms = api.terms_id(30).await;
    let body = json!({"Name": "X", "InvoiceCity": "Y", "InvoicePostalCode": "1", "TermsOfPaymentId": terms, "IsPrivatePerson": false, "IsActive": true});
    assert_eq!(
        api.post("/v2/customers", &body).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        api.post("/v2/customers", &body).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(
        sb.customers(company).is_empty(),
        "5xx happen before any work"
    );
    assert_eq!(
        api.post("/v2/customers", &body).await.0,
        StatusCode::CREATED
    );
    assert_eq!(sb.customers(company).len(), 1);
}

#[tokio::test]
async fn gateway_timeout_then_commit_answers_504_and_does_the_work_later() {
    let sb = start().await;
    let company = sb.companies()[0].id;
    let api = Api::new(&sb, company, ALL_SCOPES);
    sb.set_faults(Faults {
        gateway_timeout_then_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    let terms = api.terms_id(30).await;
    let body = json!({"Name": "X", "InvoiceCity": "Y", "InvoicePostalCode": "1", "TermsOfPaymentId": terms, "IsPrivatePerson": false, "IsActive": true});
    assert_eq!(
        api.post("/v2/customers", &body).await.0,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert!(sb.customers(company).is_empty(), "not done yet");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(sb.customers(company).len(), 1, "done a moment later");
    assert_eq!(
        api.post("/v2/customers", &body).await.0,
        StatusCode::CREATED,
        "used up after `times`"
    );
}

#[tokio::test]
async fn drop_after_commit_closes_connection_but_keeps_state() {
    let sb = start().await;
    let company = sb.companies()[0].id;
    let api = Api::new(&sb, company, ALL_SCOPES);
    let terms = api.terms_id(30).await;
    sb.set_faults(Faults {
        drop_after_commit: vec![DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Faults::default()
    });
    let body = json!({"Name": "Tappad AB", "CustomerNumber": "777", "InvoiceCity": "Y", "InvoicePostalCode": "1", "TermsOfPaymentId": terms, "IsPrivatePerson": false, "IsActive": true});
    let result = api
        .http
        .post(format!("{}/v2/customers", api.base))
        .bearer_auth(&api.token)
        .json(&body)
        .send()
        .await;
    let err = result.expect_err("the client must see a connection error");
    assert!(!err.is_status() && err.status().is_none(), "{err:?}");
    let customers = sb.customers(company);
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["Name"], "Tappad AB");
    let logged = sb
        .request_log()
        .into_iter()
        .rfind(|l| l.route == "/v2/customers" && l.method == "POST")
        .unwrap();
    assert!(logged.dropped);
    assert_eq!(logged.status, 201);
    // a retry is a duplicate now (no idempotency): the client must look it up first
    let (s, v) = api.post("/v2/customers", &body).await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(4000))
    );
    let (_, found) = api
        .get("/v2/customers?$filter=CustomerNumber eq '777'")
        .await;
    assert_eq!(found["Meta"]["TotalNumberOfResults"], 1);
}

#[tokio::test]
async fn latency_is_added() {
    let sb = start().await;
    let api = Api::new(&sb, sb.companies()[0].id, ALL_SCOPES);
    sb.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let t = Instant::now();
    assert_eq!(api.get("/v2/units").await.0, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn request_log_records_routes_clients_and_companies() {
    let sb = start().await;
    let company = sb.companies()[0].id;
    let api = Api::new(&sb, company, ALL_SCOPES);
    let c = api.create_customer("Logg AB").await;
    let id = c["Id"].as_str().unwrap();
    sb.clear_request_log();
    for _ in 0..3 {
        assert_eq!(
            api.get(&format!("/v2/customers/{id}")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        api.get(&format!("/v2/customers/{}", uuid::Uuid::new_v4()))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    api.get("/v2/customers?$page=2").await;
    assert_eq!(sb.count("GET", "/v2/customers/{id}"), 4);
    assert_eq!(sb.count("get", "/v2/customers"), 1);
    let log = sb.request_log();
    assert_eq!(log.len(), 5);
    assert!(log
        .iter()
        .all(|l| l.client_id.as_deref() == Some(CLIENT_ID) && l.company_id == Some(company)));
    assert_eq!(log[0].path, format!("/v2/customers/{id}"));
    assert_eq!(log[3].status, 404);
    assert_eq!(log[4].query.as_deref(), Some("$page=2"));
    assert!(log.iter().all(|l| !l.dropped));
}

#[tokio::test]
async fn admin_http_api() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let companies: Value = http
        .get(format!("{base}/_sandbox/companies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(companies.as_array().unwrap().len(), 2);
    assert_eq!(companies[0]["name"], "Exempel AB");
    let company = companies[1]["id"].as_str().unwrap();
    let tok: Value = http
        .post(format!("{base}/_sandbox/tokens"))
        .json(&json!({"company_id": company, "scopes": ["ea:api", "ea:sales"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tok["access_token"].as_str().unwrap();
    let settings: Value = http
        .get(format!("{base}/v2/companysettings"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["Name"], "Andra Bolaget AB");

    let r = http
        .put(format!("{base}/_sandbox/faults"))
        .json(&json!({"server_error_rate_percent": 100}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let s = http
        .get(format!("{base}/v2/units"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    http.put(format!("{base}/_sandbox/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    http.put(format!("{base}/_sandbox/rate-limit"))
        .json(&json!({"per_window": 1, "window_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        http.get(format!("{base}/v2/units"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(format!("{base}/v2/units"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    http.put(format!("{base}/_sandbox/rate-limit"))
        .json(&json!({"per_window": 600, "window_secs": 60}))
        .send()
        .await
        .unwrap();

    let log: Value = http
        .get(format!("{base}/_sandbox/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["route"] == "/v2/units" && l["status"] == 500));
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .all(|l| !l["path"].as_str().unwrap().starts_with("/_sandbox")));
    http.delete(format!("{base}/_sandbox/log"))
        .send()
        .await
        .unwrap();
    assert!(sb.request_log().is_empty());

    http.post(format!("{base}/_sandbox/expire-access-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        http.get(format!("{base}/v2/fiscalyears"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let tok2: Value = http
        .post(format!("{base}/_sandbox/tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    http.post(format!(
        "{base}/_sandbox/users/anna@example.se/password-changed"
    ))
    .send()
    .await
    .unwrap();
    assert_eq!(
        http.get(format!("{base}/v2/fiscalyears"))
            .bearer_auth(tok2["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    http.put(format!("{base}/_sandbox/auto-approve"))
        .json(&json!({"on": true}))
        .send()
        .await
        .unwrap();
    let r = http
        .get(format!("{base}/connect/authorize?client_id={CLIENT_ID}&redirect_uri=http://localhost/cb&response_type=code&scope=ea:api"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    http.post(format!("{base}/_sandbox/revoke-all"))
        .send()
        .await
        .unwrap();
}
