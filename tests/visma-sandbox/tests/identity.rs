mod common;

use base64::Engine;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest;

const REDIRECT: &str = "http://localhost:3000/oauth/callback";

fn authorize_url(base: &str, extra: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{base}/connect/authorize")).unwrap();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", "ea:api offline_access ea:sales ea:accounting")
            .append_pair("state", "st-123");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

fn extract(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field present") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

fn location_params(resp: &reqwest::Response) -> Vec<(String, String)> {
    let loc = resp.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(p: &[(String, String)], k: &str) -> Option<String> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

async fn token_basic(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let r = http
        .post(format!("{base}/connect/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

/// Walks the consent page and returns the code.
async fn consent_code(
    base: &str,
    http: &reqwest::Client,
    extra: &[(&str, &str)],
    company: Option<String>,
) -> String {
    let page = http.get(authorize_url(base, extra)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let rid = extract(&html, "request_id");
    let mut form = vec![
        ("request_id".to_string(), rid),
        ("decision".to_string(), "grant".to_string()),
    ];
    if let Some(c) = company {
        form.push(("company_id".to_string(), c));
    }
    let r = http
        .post(format!("{base}/connect/authorize/decision"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let p = location_params(&r);
    assert_eq!(param(&p, "state").as_deref(), Some("st-123"));
    param(&p, "code").expect("code")
}

#[tokio::test]
async fn full_code_flow_with_consent_page() {
    let sb = start().await;
    let base = sb.url();
    let http = http();
    let companies = sb.companies();
    let acr = "service:44643EB1-3F76-4C1C-A672-402AE8085934 forceselectcompany:true";
    let page = http
        .get(authorize_url(&base, &[("acr_values", acr)]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(CLIENT_ID));
    for scope in ["ea:api", "offline_access", "ea:sales", "ea:accounting"] {
        assert!(
            html.contains(&format!("<li data-scope=\"{scope}\">")),
            "scope {scope} listed"
        );
    }
    assert_eq!(html.matches("<li ").count(), 4);
    assert!(html.contains(">Grant Access</button>"));
    assert!(html.contains(">Deny</button>"));
    assert!(html.contains("method=\"post\" action=\"/connect/authorize/decision\""));
    for c in &companies {
        assert!(html.contains(&format!(
            "type=\"radio\" name=\"company_id\" value=\"{}\"",
            c.id
        )));
        assert!(html.contains(&c.name));
    }
    let rid = extract(&html, "request_id");
    let second = companies[1].id.to_string();
    let r = http
        .post(format!("{base}/connect/authorize/decision"))
        .form(&[
            ("request_id", rid.as_str()),
            ("company_id", second.as_str()),
            ("decision", "grant"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let p = location_params(&r);
    assert_eq!(param(&p, "state").as_deref(), Some("st-123"));
    let code = param(&p, "code").unwrap();

    let (s, tok) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"].as_u64(), Some(3600));
    assert_eq!(tok["scope"], "ea:api offline_access ea:sales ea:accounting");
    assert!(tok["refresh_token"].as_str().unwrap().len() > 20);
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
    assert_eq!(settings["CorporateIdentityNumber"], "559900-1122");

    // the code is single use
    let (s, err) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    // the request id of the consent page is single use as well
    let again = http
        .post(format!("{base}/connect/authorize/decision"))
        .form(&[("request_id", rid.as_str()), ("decision", "grant")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.count("POST", "/connect/token"), 2);
}

#[tokio::test]
async fn default_company_without_forceselectcompany() {
    let sb = start().await;
    let html = http()
        .get(authorize_url(&sb.url(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("type=\"radio\""));
    assert!(html.contains("Exempel AB"));
    assert!(html.contains("Grant Access"));
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let sb = start().await;
    let http = http();
    let html = http
        .get(authorize_url(&sb.url(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rid = extract(&html, "request_id");
    let r = http
        .post(format!("{}/connect/authorize/decision", sb.url()))
        .form(&[("request_id", rid.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&p, "state").as_deref(), Some("st-123"));
    assert!(param(&p, "code").is_none());
}

#[tokio::test]
async fn authorize_rejects_bad_client_and_scope() {
    let sb = start().await;
    let http = http();
    let r = http
        .get(format!("{}/connect/authorize?client_id=nope&redirect_uri={REDIRECT}&response_type=code&scope=ea:api", sb.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .get(authorize_url(&sb.url(), &[]).replace("scope=ea%3Aapi", "scope=ea%3Abogus"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        param(&location_params(&r), "error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn refresh_rotation_and_body_client_auth() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let code = consent_code(&base, &http, &[], None).await;
    // client credentials in the body this time
    let r = http
        .post(format!("{base}/connect/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let first: Value = r.json().await.unwrap();
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();

    let (s, second) = token_basic(
        &http,
        &base,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_ne!(first["access_token"], second["access_token"]);

    // old refresh token is dead at once
    let (s, err) = token_basic(
        &http,
        &base,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");

    // the new one works (once)
    let (s, third) = token_basic(
        &http,
        &base,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let api_status = http
        .get(format!("{base}/v2/customers"))
        .bearer_auth(third["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(api_status, StatusCode::OK);
}

#[tokio::test]
async fn token_endpoint_rejects_json_and_bad_clients() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let pair = sb.issue_tokens(CLIENT_ID, sb.companies()[0].id, ALL_SCOPES);
    let r = http
        .post(format!("{base}/connect/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": pair.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");

    let r = http
        .post(format!("{base}/connect/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");

    // the refresh token survived both failed attempts
    let (s, _) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &pair.refresh_token),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let (s, v) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "garbage"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
}

#[tokio::test]
async fn pkce_s256_is_verified() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let verifier = "a-very-long-code-verifier-0123456789-abcdefghijklmnop";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let extra = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = consent_code(&base, &http, &extra, None).await;
    let (s, v) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = consent_code(&base, &http, &extra, None).await;
    let (s, _) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn auto_approve_redirects_immediately() {
    let sb = start().await;
    let second = sb.companies()[1].id;
    sb.set_auto_approve(true, Some(second));
    let http = http();
    let r = http
        .get(authorize_url(&sb.url(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let code = param(&location_params(&r), "code").unwrap();
    let (s, tok) = token_basic(
        &http,
        &sb.url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let token_log = sb
        .request_log()
        .into_iter()
        .rfind(|l| l.route == "/connect/token")
        .unwrap();
    assert_eq!(token_log.company_id, Some(second));
    assert_eq!(token_log.client_id.as_deref(), Some(CLIENT_ID));
    assert!(tok["access_token"].is_string());
}

async fn api_status(http: &reqwest::Client, base: &str, token: &str) -> (StatusCode, Value) {
    let r = http
        .get(format!("{base}/v2/customers"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

#[tokio::test]
async fn revoke_all_kills_access_and_refresh_tokens() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let pair = sb.issue_tokens(CLIENT_ID, sb.companies()[0].id, ALL_SCOPES);
    assert_eq!(
        api_status(&http, &base, &pair.access_token).await.0,
        StatusCode::OK
    );
    sb.revoke_all_tokens();
    let (s, body) = api_status(&http, &base, &pair.access_token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["ErrorCode"], 4005);
    assert_eq!(
        body["DeveloperErrorMessage"],
        "AuthorizationException - Authorization has been denied for this request."
    );
    assert!(uuid::Uuid::parse_str(body["ErrorId"].as_str().unwrap()).is_ok());
    let (s, v) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &pair.refresh_token),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
    // missing and garbage bearer
    let r = http
        .get(format!("{base}/v2/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_status(&http, &base, "garbage").await.1["ErrorCode"],
        4005
    );
}

#[tokio::test]
async fn password_change_kills_only_that_users_tokens() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let anna = sb.issue_tokens(CLIENT_ID, sb.companies()[0].id, ALL_SCOPES);
    sb.set_auto_approve(true, None);
    let r = http
        .get(authorize_url(&base, &[("login_hint", "bob@example.se")]))
        .send()
        .await
        .unwrap();
    let code = param(&location_params(&r), "code").unwrap();
    let (_, bob) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    sb.password_changed("anna@example.se");
    assert_eq!(
        api_status(&http, &base, &anna.access_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &anna.refresh_token),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        api_status(&http, &base, bob["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_access_token_then_refresh() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let pair = sb.issue_tokens(CLIENT_ID, sb.companies()[0].id, ALL_SCOPES);
    sb.expire_access_tokens();
    let (s, body) = api_status(&http, &base, &pair.access_token).await;
    assert_eq!(
        (s, body["ErrorCode"].as_i64()),
        (StatusCode::UNAUTHORIZED, Some(4005))
    );
    let (s, tok) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &pair.refresh_token),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api_status(&http, &base, tok["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revocation_endpoint_revokes_refresh_token() {
    let sb = start().await;
    let http = http();
    let base = sb.url();
    let pair = sb.issue_tokens(CLIENT_ID, sb.companies()[0].id, ALL_SCOPES);
    let r = http
        .post(format!("{base}/connect/revocation"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", pair.refresh_token.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = token_basic(
        &http,
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &pair.refresh_token),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // unknown token: still 200 (RFC 7009)
    let r = http
        .post(format!("{base}/connect/revocation"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_scope_gives_403_4006() {
    let sb = start().await;
    let company = sb.companies()[0].id;
    let sales = Api::new(&sb, company, &["ea:api", "ea:sales"]);
    assert_eq!(sales.get("/v2/customers").await.0, StatusCode::OK);
    assert_eq!(sales.get("/v2/fiscalyears").await.0, StatusCode::OK);
    let (s, v) = sales.get("/v2/vouchers").await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::FORBIDDEN, Some(4006))
    );
    let (s, v) = sales.get("/v2/accounts").await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::FORBIDDEN, Some(4006))
    );

    let ro = Api::new(
        &sb,
        company,
        &["ea:api", "ea:sales_readonly", "ea:accounting_readonly"],
    );
    assert_eq!(ro.get("/v2/customers").await.0, StatusCode::OK);
    assert_eq!(ro.get("/v2/vouchers").await.0, StatusCode::OK);
    let (s, v) = ro.post("/v2/customers", &serde_json::json!({})).await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::FORBIDDEN, Some(4006))
    );

    let no_api = Api::new(&sb, company, &["ea:sales"]);
    let (s, v) = no_api.get("/v2/customers").await;
    assert_eq!(
        (s, v["ErrorCode"].as_i64()),
        (StatusCode::FORBIDDEN, Some(4006))
    );
}
