//! The whole Connect flow in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/run`) opens the authorize URL, the owner clicks
//! "Grant Access" on the Visma sandbox's consent page, and lands back on the return URL with
//! `visma=connected`; then the status shows the Visma company.

use integration_tests::internals;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_owner_connects_in_a_real_browser() {
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        // CI installs Chromium, so there a missing driver is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMEDRIVER} is missing on CI: .ci/run must install chromium and chromium-driver"
        );
        eprintln!("SKIPPED the_owner_connects_in_a_real_browser: {CHROMEDRIVER} not installed (apt-get install chromium chromium-driver)");
        return;
    }
    let sandbox = visma_sandbox::Sandbox::start(visma_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    sandbox.set_auto_approve(false, None);

    // The service, really listening, so the browser can follow Visma's redirect to it.
    let port = free_port();
    let service = format!("http://127.0.0.1:{port}");
    let addr = format!("127.0.0.1:{port}");
    let redirect = format!("{service}/oauth/visma/callback");
    let prefix = format!("{service}/");
    let sandbox_url = sandbox.url();
    let config = integration_tests::config(&[
        ("LOCAL_HTTP_ADDR", &addr),
        ("VISMA_IDENTITY_URL", &sandbox_url),
        ("VISMA_API_URL", &sandbox_url),
        ("VISMA_CLIENT_ID", "aourly-local"),
        ("VISMA_CLIENT_SECRET", "aourly-local-secret"),
        ("VISMA_REDIRECT_URI", &redirect),
        ("AOURLY_RETURN_URL_PREFIXES", &prefix),
    ])
    .resolve_secrets(None)
    .await
    .unwrap();
    let server = tokio::spawn(internals::serve(config));
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{service}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Aourly's backend starts Connect for the owner.
    let return_url = format!("{service}/health?page=integrations");
    let started: serde_json::Value = http
        .post(format!("{service}/tenants/acme/visma/connect"))
        .bearer_auth(integration_tests::jwt("acme", "owner"))
        .json(&json!({"return_url": return_url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize_url = started["authorize_url"]
        .as_str()
        .expect("an authorize URL")
        .to_owned();

    // Both rustls back-ends are in the dependency tree; fantoccini needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let driver_port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let capabilities: serde_json::Map<String, serde_json::Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"]
        }
    }))
    .unwrap();
    let mut browser = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
        {
            Ok(client) => {
                browser = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let browser = browser.expect("connect to chromedriver");

    browser.goto(&authorize_url).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(
        page.contains("ea:accounting"),
        "the consent page lists the permissions"
    );
    assert!(
        page.contains("Exempel AB"),
        "the consent page offers the companies"
    );
    browser
        .find(Locator::XPath("//button[normalize-space()='Grant Access']"))
        .await
        .expect("a Grant Access button")
        .click()
        .await
        .unwrap();
    let mut landed = String::new();
    for _ in 0..50 {
        landed = browser.current_url().await.unwrap().to_string();
        if landed.contains("visma=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await.unwrap();
    assert_eq!(landed, format!("{return_url}&visma=connected"));

    let status: serde_json::Value = http
        .get(format!("{service}/tenants/acme/visma"))
        .bearer_auth(integration_tests::jwt("acme", "owner"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.abort();
    assert_eq!(status["status"], "connected");
    assert_eq!(status["visma_company"]["name"], "Exempel AB");
}
