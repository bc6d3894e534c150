mod common;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use common::{config, CLIENT_SECRET};
use secrecy::{ExposeSecret, SecretString};
use visma::{CsrfToken, ErrorClass, PkceCodeChallenge, VismaOAuth, ACR_VALUES};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn basic_header() -> String {
    let creds = format!("aourly-client:{CLIENT_SECRET}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(creds)
    )
}

fn token_json(access: &str, refresh: &str) -> serde_json::Value {
    serde_json::json!({
        "access_token": access,
        "expires_in": 3600,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "scope": "ea:api ea:accounting ea:sales offline_access"
    })
}

#[tokio::test]
async fn authorize_url_carries_every_parameter() {
    let server = MockServer::start().await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let state = CsrfToken::new("state-123".into());
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let url = oauth.authorize_url(&state, Some(challenge.clone()));

    assert_eq!(url.path(), "/connect/authorize");
    assert!(url.as_str().starts_with(&server.uri()));
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "aourly-client");
    assert_eq!(
        q["redirect_uri"],
        "https://app.example.com/oauth/visma/callback"
    );
    assert_eq!(q["scope"], "ea:api offline_access ea:sales ea:accounting");
    assert_eq!(q["state"], "state-123");
    assert_eq!(
        q["acr_values"],
        "service:44643EB1-3F76-4C1C-A672-402AE8085934 forceselectcompany:true"
    );
    assert_eq!(q["acr_values"], ACR_VALUES);
    assert_eq!(q["code_challenge"], challenge.as_str());
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q.contains_key("prompt"));
    // The raw query must not contain a literal space or an unencoded colon in acr_values.
    let raw = url.query().unwrap();
    let acr = raw
        .split('&')
        .find(|p| p.starts_with("acr_values="))
        .unwrap();
    assert_eq!(
        acr,
        "acr_values=service%3A44643EB1-3F76-4C1C-A672-402AE8085934+forceselectcompany%3Atrue"
    );
    // The secret never appears in the browser URL.
    assert!(!url.as_str().contains(CLIENT_SECRET));

    let without_pkce = oauth.authorize_url_with_prompt(&state, None, Some("login"));
    let q: HashMap<String, String> = without_pkce.query_pairs().into_owned().collect();
    assert!(!q.contains_key("code_challenge"));
    assert_eq!(q["prompt"], "login");
}

#[tokio::test]
async fn code_exchange_posts_form_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", "rt-1")))
        .expect(1)
        .mount(&server)
        .await;

    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let before = Utc::now();
    let tokens = oauth.exchange_code("the-code", None).await.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "at-1");
    assert_eq!(tokens.refresh_token.expose_secret(), "rt-1");
    assert!(tokens.expires_at >= before + chrono::Duration::seconds(3599));
    assert!(tokens.expires_at <= Utc::now() + chrono::Duration::seconds(3600));
    assert_eq!(
        tokens.scopes,
        vec!["ea:api", "ea:accounting", "ea:sales", "offline_access"]
    );
    assert!(!tokens.expires_within(Utc::now(), Duration::from_secs(300)));
    assert!(tokens.expires_within(Utc::now(), Duration::from_secs(3700)));

    let requests = server.received_requests().await.unwrap();
    let body = form(&requests[0].body);
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"], "the-code");
    assert_eq!(
        body["redirect_uri"],
        "https://app.example.com/oauth/visma/callback"
    );
    // Basic auth, not body credentials.
    assert!(!body.contains_key("client_secret"));
}

#[tokio::test]
async fn code_exchange_sends_pkce_verifier() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at", "rt")))
        .expect(1)
        .mount(&server)
        .await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let (_challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let secret = verifier.secret().clone();
    oauth.exchange_code("c", Some(verifier)).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(form(&requests[0].body)["code_verifier"], secret);
}

#[tokio::test]
async fn refresh_returns_rotated_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", "rt-2")))
        .expect(1)
        .mount(&server)
        .await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let tokens = oauth.refresh(&SecretString::from("rt-1")).await.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "at-2");
    assert_eq!(tokens.refresh_token.expose_secret(), "rt-2");

    let requests = server.received_requests().await.unwrap();
    let body = form(&requests[0].body);
    assert_eq!(body["grant_type"], "refresh_token");
    assert_eq!(body["refresh_token"], "rt-1");
    assert_eq!(
        requests[0].headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
}

#[tokio::test]
async fn invalid_grant_is_authorization_class() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})),
        )
        .mount(&server)
        .await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let err = oauth
        .refresh(&SecretString::from("used-refresh-token-zzz"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Authorization);
    assert!(!err.is_retryable());
    assert!(!err.is_uncertain());
    assert_eq!(err.status(), Some(400));
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("invalid_grant"), "{shown}");
    assert!(!shown.contains("used-refresh-token-zzz"));
    assert!(!shown.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn invalid_client_is_authorization_class() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            serde_json::json!({"error": "invalid_client", "error_description": "bad secret"}),
        ))
        .mount(&server)
        .await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let err = oauth.exchange_code("code", None).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Authorization);
    assert!(err.to_string().contains("bad secret"));
}

#[tokio::test]
async fn token_endpoint_5xx_is_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .mount(&server)
        .await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    let err = oauth.refresh(&SecretString::from("rt")).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.is_retryable());
    assert_eq!(err.status(), Some(503));
    // An answered 503 means the refresh was not processed.
    assert!(!err.is_uncertain());
}

#[tokio::test]
async fn token_endpoint_unreachable_is_transient_and_certain() {
    let server = MockServer::start().await;
    let mut cfg = config(&server);
    cfg.identity_url = common::unreachable_url();
    let oauth = VismaOAuth::new(&cfg).unwrap();
    let err = oauth.refresh(&SecretString::from("rt")).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        !err.is_uncertain(),
        "connect failure cannot have spent the token"
    );
}

#[tokio::test]
async fn token_endpoint_timeout_is_transient_and_uncertain() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at", "rt"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.request_timeout = Duration::from_millis(300);
    let oauth = VismaOAuth::new(&cfg).unwrap();
    let err = oauth.refresh(&SecretString::from("rt")).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        err.is_uncertain(),
        "the refresh token may have been rotated"
    );
}

#[tokio::test]
async fn revoke_posts_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/revocation"))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let oauth = VismaOAuth::new(&config(&server)).unwrap();
    oauth.revoke(&SecretString::from("rt-9")).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let body = form(&requests[0].body);
    assert_eq!(body["token"], "rt-9");
    assert_eq!(body["token_type_hint"], "refresh_token");
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let server = MockServer::start().await;
    let cfg = config(&server);
    let tokens = visma::TokenSet {
        access_token: SecretString::from("visible-access-token"),
        refresh_token: SecretString::from("visible-refresh-token"),
        expires_at: Utc::now(),
        scopes: vec!["ea:api".into()],
    };
    let shown = format!("{tokens:?} {cfg:?} {:?}", VismaOAuth::new(&cfg).unwrap());
    assert!(!shown.contains("visible-access-token"), "{shown}");
    assert!(!shown.contains("visible-refresh-token"), "{shown}");
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert!(shown.contains("ea:api"));
    assert!(shown.contains("aourly-client"));
}
