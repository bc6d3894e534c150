//! The Visma client (`shared/visma`) against the Visma sandbox: every call it has, paging over
//! many pages, each error class, refresh rotation and 429 handling. No AWS needed here.

use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;
use visma::models::{
    Article, CustomerInvoice, CustomerInvoiceDraft, CustomerInvoiceDraftRow, CustomerInvoiceRow,
    Voucher, VoucherRow,
};
use visma::{
    ApiClient, ConvertOptions, ErrorClass, ListQuery, StaticToken, VismaConfig, VismaOAuth,
    VoucherOptions,
};
use visma_sandbox::{Sandbox, SandboxConfig, Seed};

const SCOPES: [&str; 4] = ["ea:api", "offline_access", "ea:sales", "ea:accounting"];

fn config(sb: &Sandbox) -> VismaConfig {
    let url = url::Url::parse(&sb.url()).unwrap();
    VismaConfig {
        identity_url: url.clone(),
        api_url: url,
        client_id: "aourly-local".into(),
        client_secret: SecretString::from("aourly-local-secret".to_owned()),
        redirect_uri: url::Url::parse("http://127.0.0.1:3000/oauth/visma/callback").unwrap(),
        scopes: VismaConfig::default_scopes(),
        request_timeout: Duration::from_secs(10),
    }
}

fn token(sb: &Sandbox, scopes: &[&str]) -> StaticToken {
    let pair = sb.issue_tokens("aourly-local", sb.companies()[0].id, scopes);
    StaticToken::new(SecretString::from(pair.access_token))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[tokio::test]
async fn every_call_works_against_the_sandbox() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = ApiClient::new(&config(&sb)).unwrap();
    let tokens = token(&sb, &SCOPES);
    let api = client.connect(&tokens);

    let company = api.company_settings().get().await.unwrap();
    assert_eq!(company.name.as_deref(), Some("Exempel AB"));
    let years = api
        .fiscal_years()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;
    assert_eq!(years.len(), 2);
    let today = chrono::Utc::now().date_naive();
    let current = years
        .iter()
        .find(|y| y.contains(today))
        .expect("a current fiscal year");
    let accounts = api
        .accounts()
        .list_all_for_year(current.id, &ListQuery::new())
        .await
        .unwrap()
        .items;
    assert!(accounts.iter().any(|a| a.number == "1930"));
    let all_accounts = api
        .accounts()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;
    assert_eq!(
        all_accounts.len(),
        accounts.len() * 2,
        "two years of the same chart"
    );
    let codings = api
        .article_account_codings()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;
    let coding25 = codings
        .iter()
        .find(|c| c.vat_rate_percent == Some(dec("0.25")) || c.vat_rate.as_deref() == Some("25%"))
        .expect("a 25 % coding");
    let units = api.units().list_all(&ListQuery::new()).await.unwrap().items;
    let vat_codes = api
        .vat_codes()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;
    assert!(!vat_codes.is_empty());
    let terms = api
        .terms_of_payment()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;

    // Customers: create, get, list with a filter, update.
    let mut customer = visma::models::Customer::new("Exempel Bygg AB", terms[0].id);
    customer.customer_number = Some("10042".into());
    customer.invoice_city = Some("Stockholm".into());
    customer.invoice_postal_code = Some("11122".into());
    customer.is_active = true;
    let created = api.customers().create(&customer).await.unwrap();
    let id = created.id.unwrap();
    assert_eq!(
        api.customers().get(id).await.unwrap().name,
        "Exempel Bygg AB"
    );
    let found = api
        .customers()
        .list(&ListQuery::new().filter("CustomerNumber eq '10042'"))
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    let mut changed = created.clone();
    changed.email_address = Some("ekonomi@exempel.se".into());
    let updated = api.customers().update(id, &changed).await.unwrap();
    assert_eq!(updated.email_address.as_deref(), Some("ekonomi@exempel.se"));

    // Articles.
    let article = Article {
        id: None,
        number: "AOURLY-TEST".into(),
        name: "Konsulttimme".into(),
        name_english: None,
        coding_id: coding25.id,
        unit_id: units[0].id,
        is_active: true,
        net_price: None,
        gross_price: None,
        coding_name: None,
        unit_name: None,
        is_service_article: None,
        created_utc: None,
        changed_utc: None,
    };
    let article = api.articles().create(&article).await.unwrap();
    assert_eq!(
        api.articles()
            .get(article.id.unwrap())
            .await
            .unwrap()
            .number,
        "AOURLY-TEST"
    );
    assert_eq!(
        api.articles()
            .list_all(&ListQuery::new())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // A booked invoice, exactly as the contract's example.
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let mut invoice = CustomerInvoice::new(
        id,
        vec![CustomerInvoiceRow {
            article_id: article.id,
            text: Some("Konsulttimmar november".into()),
            quantity: Some(dec("12.5")),
            unit_price: Some(dec("950.00")),
            ..Default::default()
        }],
    );
    invoice.buyers_order_reference = Some("Aourly 1042".into());
    let booked = api.customer_invoices().create(&invoice).await.unwrap();
    assert_eq!(booked.total_amount, Some(dec("14843.75")));
    assert_eq!(booked.total_vat_amount, Some(dec("2968.75")));
    assert!(booked.invoice_number.is_some() && booked.voucher_id.is_some());
    assert_eq!(
        api.customer_invoices()
            .get(booked.id.unwrap())
            .await
            .unwrap()
            .invoice_number,
        booked.invoice_number
    );
    let since = api
        .customer_invoices()
        .list_all(&ListQuery::new().modified_since(before))
        .await
        .unwrap();
    assert_eq!(since.items.len(), 1);

    // A draft, converted.
    let draft = CustomerInvoiceDraft::new(
        id,
        vec![CustomerInvoiceDraftRow {
            is_text_row: false,
            reversed_construction_services_vat_free: false,
            article_id: article.id,
            text: Some("Resa".into()),
            quantity: Some(dec("1")),
            unit_price: Some(dec("100.00")),
            discount_percentage: None,
            line_number: None,
        }],
    );
    let draft = api.customer_invoice_drafts().create(&draft).await.unwrap();
    assert!(api
        .customer_invoice_drafts()
        .get(draft.id.unwrap())
        .await
        .is_ok());
    let converted = api
        .customer_invoice_drafts()
        .convert(
            draft.id.unwrap(),
            &Default::default(),
            ConvertOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(converted.total_amount, Some(dec("125.00")));

    // Vouchers: create, get, list all and per year.
    let voucher = Voucher::new(
        today,
        "Utlägg tåg",
        vec![
            VoucherRow {
                account_number: 5800,
                debit_amount: Some(dec("800.00")),
                credit_amount: Some(dec("0")),
                ..Default::default()
            },
            VoucherRow {
                account_number: 2641,
                debit_amount: Some(dec("48.00")),
                credit_amount: Some(dec("0")),
                ..Default::default()
            },
            VoucherRow {
                account_number: 1930,
                debit_amount: Some(dec("0")),
                credit_amount: Some(dec("848.00")),
                ..Default::default()
            },
        ],
    );
    let created = api
        .vouchers()
        .create(&voucher, VoucherOptions::default())
        .await
        .unwrap();
    let fetched = api
        .vouchers()
        .get(current.id, created.id.unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.voucher_text, "Utlägg tåg");
    let in_year = api
        .vouchers()
        .list_all_for_year(current.id, &ListQuery::new())
        .await
        .unwrap()
        .items;
    assert!(in_year.iter().any(|v| v.id == created.id));
    assert!(
        api.vouchers()
            .list_all(&ListQuery::new())
            .await
            .unwrap()
            .items
            .len()
            >= in_year.len()
    );
}

#[tokio::test]
async fn list_all_walks_every_page_at_the_largest_page_size() {
    let sb = Sandbox::start(SandboxConfig {
        seed: Seed {
            extra_accounts: 2500,
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let client = ApiClient::new(&config(&sb)).unwrap();
    let tokens = token(&sb, &SCOPES);
    let api = client.connect(&tokens);
    let years = api
        .fiscal_years()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;
    sb.clear_request_log();
    let all = api
        .accounts()
        .list_all_for_year(years[0].id, &ListQuery::new())
        .await
        .unwrap();
    let mut numbers: Vec<&str> = all.items.iter().map(|a| a.number.as_str()).collect();
    let total = numbers.len();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), total, "no account twice");
    assert!(total > 2500);
    let pages = sb.request_log();
    assert_eq!(pages.len(), total.div_ceil(1000), "pages of 1000");
    assert!(pages.iter().all(|r| {
        let q = r.query.clone().unwrap_or_default();
        q.contains("%24pagesize=1000") || q.contains("$pagesize=1000")
    }));
}

#[tokio::test]
async fn errors_are_classified() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = ApiClient::new(&config(&sb)).unwrap();
    let tokens = token(&sb, &SCOPES);
    let api = client.connect(&tokens);
    let terms = api
        .terms_of_payment()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;

    // 2000 validation: a customer without a city.
    let err = api
        .customers()
        .create(&visma::models::Customer::new("X", terms[0].id))
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.visma_code()),
        (ErrorClass::NeedsOwner, Some(2000))
    );
    // 4000 conflict: a duplicate customer number.
    let mut c = visma::models::Customer::new("Dup AB", terms[0].id);
    c.customer_number = Some("1".into());
    c.invoice_city = Some("Lund".into());
    c.invoice_postal_code = Some("22222".into());
    c.is_active = true;
    api.customers().create(&c).await.unwrap();
    let err = api.customers().create(&c).await.unwrap_err();
    assert_eq!(
        (err.class(), err.visma_code()),
        (ErrorClass::Conflict, Some(4000))
    );
    // 3002: an account missing in the fiscal year.
    let voucher = Voucher::new(
        chrono::Utc::now().date_naive(),
        "x",
        vec![
            VoucherRow {
                account_number: 9999,
                debit_amount: Some(dec("1")),
                credit_amount: Some(dec("0")),
                ..Default::default()
            },
            VoucherRow {
                account_number: 1930,
                debit_amount: Some(dec("0")),
                credit_amount: Some(dec("1")),
                ..Default::default()
            },
        ],
    );
    let err = api
        .vouchers()
        .create(&voucher, VoucherOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.visma_code()),
        (ErrorClass::NeedsOwner, Some(3002))
    );
    // 404 on a missing id.
    let err = api
        .customers()
        .get(visma::models::CustomerId::new(uuid::Uuid::new_v4()))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::NotFound);
    // 403 4006: a token without the accounting scope.
    let sales_only = token(&sb, &["ea:api", "ea:sales"]);
    let err = client
        .connect(&sales_only)
        .vouchers()
        .list(&ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.visma_code()),
        (ErrorClass::NeedsOwner, Some(4006))
    );
    // 401 4005: a token Visma does not know (a static token cannot be refreshed).
    let bogus = StaticToken::new(SecretString::from("not-a-token".to_owned()));
    let err = client
        .connect(&bogus)
        .company_settings()
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Authorization);
    // 5xx: transient; a GET is retried, a POST is not.
    sb.set_faults(visma_sandbox::Faults {
        server_error_on: vec![visma_sandbox::DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Default::default()
    });
    c.customer_number = Some("2".into());
    sb.clear_request_log();
    let err = api.customers().create(&c).await.unwrap_err();
    assert_eq!(
        (err.class(), err.status()),
        (ErrorClass::Transient, Some(500))
    );
    assert_eq!(
        sb.count("POST", "/v2/customers"),
        1,
        "a POST is never retried blindly"
    );
    sb.set_faults(visma_sandbox::Faults {
        server_error_on: vec![visma_sandbox::DropRule {
            method: "GET".into(),
            route: "/v2/companysettings".into(),
            times: 1,
        }],
        ..Default::default()
    });
    assert!(
        api.company_settings().get().await.is_ok(),
        "a GET is retried"
    );
    // A dropped connection after Visma committed is transient and uncertain.
    sb.set_faults(visma_sandbox::Faults {
        drop_after_commit: vec![visma_sandbox::DropRule {
            method: "POST".into(),
            route: "/v2/customers".into(),
            times: 1,
        }],
        ..Default::default()
    });
    let err = api.customers().create(&c).await.unwrap_err();
    assert!(
        err.is_uncertain() && err.class() == ErrorClass::Transient,
        "{err:?}"
    );
}

#[tokio::test]
async fn rate_limits_come_back_with_the_wait_visma_asks_for() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sb.set_rate_limit(3, Duration::from_secs(30));
    let client = ApiClient::new(&config(&sb)).unwrap();
    let tokens = token(&sb, &SCOPES);
    let api = client.connect(&tokens);
    let terms = api
        .terms_of_payment()
        .list_all(&ListQuery::new())
        .await
        .unwrap()
        .items;
    let mut c = visma::models::Customer::new("Rate AB", terms[0].id);
    c.invoice_city = Some("Lund".into());
    c.invoice_postal_code = Some("22222".into());
    c.is_active = true;
    for _ in 0..3 {
        api.customers().create(&c).await.unwrap();
    }
    let err = api.customers().create(&c).await.unwrap_err();
    assert_eq!(
        (err.class(), err.visma_code(), err.status()),
        (ErrorClass::Transient, Some(4010), Some(429))
    );
    let wait = err.retry_after().expect("a wait hint");
    assert!(
        wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_is_refused() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let oauth = VismaOAuth::new(&config(&sb)).unwrap();
    let pair = sb.issue_tokens("aourly-local", sb.companies()[0].id, &SCOPES);
    let old = SecretString::from(pair.refresh_token);
    let fresh = oauth.refresh(&old).await.unwrap();
    use secrecy::ExposeSecret;
    assert_ne!(fresh.refresh_token.expose_secret(), old.expose_secret());
    let err = oauth.refresh(&old).await.unwrap_err();
    assert_eq!(
        err.class(),
        ErrorClass::Authorization,
        "the old refresh token is dead"
    );
    // The new one works, once.
    let newer = oauth.refresh(&fresh.refresh_token).await.unwrap();
    let client = ApiClient::new(&config(&sb)).unwrap();
    let tokens = StaticToken::new(newer.access_token);
    assert!(client
        .connect(&tokens)
        .company_settings()
        .get()
        .await
        .is_ok());
    // Revocation kills it.
    oauth.revoke(&newer.refresh_token).await.unwrap();
    assert_eq!(
        oauth
            .refresh(&newer.refresh_token)
            .await
            .unwrap_err()
            .class(),
        ErrorClass::Authorization
    );
}
