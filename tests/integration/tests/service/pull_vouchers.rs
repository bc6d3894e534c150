//! Vouchers booked in Visma, pulled and handed to Aourly once each, oldest first by cursor;
//! a pull that fails part-way leaves its changes to the next.

use chrono::{Datelike, NaiveDate};
use integration_tests::internals;
use integration_tests::*;
use serde_json::{json, Value};

use super::pull::{connected_and_pulled, get, manual_voucher, today};

#[tokio::test]
async fn a_voucher_booked_in_visma_is_delivered_once_and_our_own_are_not() {
    let sandbox = sandbox().await;
    let (app, t, company) = connected_and_pulled(&sandbox).await;
    let empty = get(&app, "acme", "/vouchers").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"vouchers": [], "next_cursor": null}));

    let booked = sandbox.book_manual_voucher(company, manual_voucher("Tågresa", 800));
    let ours = sandbox.book_manual_voucher(company, manual_voucher("Pushed by Aourly", 100));
    // What the push pipeline records when it posts a voucher.
    app.pulled
        .clone()
        .record_pushed_voucher(&t, ours["Id"].as_str().unwrap())
        .await
        .unwrap();
    let report = internals::pull::run(&app, &t).await.unwrap();
    assert_eq!(report.changes.vouchers_for_aourly, 1);
    assert_eq!(
        internals::pull::events_to_send(&report),
        vec!["visma.vouchers.pulled"]
    );
    // Twice more: both re-read the voucher inside the overlap window.
    for _ in 0..2 {
        let again = internals::pull::run(&app, &t).await.unwrap();
        assert_eq!(again.changes.vouchers_for_aourly, 0);
    }

    let answer = get(&app, "acme", "/vouchers").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let vouchers = answer.body["vouchers"].as_array().unwrap();
    assert_eq!(vouchers.len(), 1, "{vouchers:#?}");
    let v = &vouchers[0];
    assert_eq!(v["id"], booked["Id"]);
    assert_eq!(v["text"], "Tågresa");
    assert_eq!(v["date"], today().to_string());
    assert_eq!(v["number"], booked["NumberAndNumberSeries"]);
    assert_eq!(
        v["rows"],
        json!([
            {"account": "5800", "debit": "800.00", "credit": "0.00", "text": "Resa"},
            {"account": "1930", "debit": "0.00", "credit": "800.00", "text": null}
        ])
    );
    assert_eq!(answer.body["next_cursor"], Value::Null);
    // `since` after its arrival: nothing new.
    let changed_at = v["changed_at"].as_str().unwrap();
    let later = (chrono::DateTime::parse_from_rfc3339(changed_at).unwrap()
        + chrono::Duration::milliseconds(1))
    .to_rfc3339();
    let none = get(
        &app,
        "acme",
        &format!("/vouchers?since={}", later.replace('+', "%2B")),
    )
    .await;
    assert_eq!(none.body["vouchers"], json!([]));
}

/// A pull that fails part-way (here on the vouchers, after it stored a new fiscal year and its
/// chart) leaves what it stored to the next pull: that one sees the data as unchanged, so
/// without the carried changes nobody would announce them or resume what waits on them.
#[tokio::test]
async fn a_pull_that_fails_part_way_leaves_its_changes_to_the_next() {
    let sandbox = sandbox().await;
    let (app, t, company) = connected_and_pulled(&sandbox).await;
    let this_year = today().year();
    let new_id = sandbox.add_fiscal_year(
        company,
        NaiveDate::from_ymd_opt(this_year + 1, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(this_year + 1, 12, 31).unwrap(),
    );
    sandbox.set_faults(visma_sandbox::types::Faults {
        server_error_on: vec![visma_sandbox::types::DropRule {
            method: "GET".into(),
            route: "/v2/vouchers".into(),
            times: 1000,
        }],
        ..Default::default()
    });
    assert!(internals::pull::run(&app, &t).await.is_err());
    let years = get(&app, "acme", "/fiscal-years").await.body;
    assert_eq!(
        years["fiscal_years"].as_array().unwrap().len(),
        3,
        "stored before it failed"
    );

    sandbox.set_faults(visma_sandbox::types::Faults::default());
    let next = internals::pull::run(&app, &t).await.unwrap();
    assert!(next.changes.fiscal_years);
    assert_eq!(next.changes.accounts, vec![new_id.to_string()]);
    assert_eq!(
        internals::pull::events_to_send(&next),
        vec!["visma.accounts.updated", "visma.fiscal_years.updated"]
    );
    // Announced: the pull after that has nothing to say.
    let after = internals::pull::run(&app, &t).await.unwrap();
    assert!(after.changes.is_empty(), "{:?}", after.changes);
}

/// Pulls of one tenant can overlap (the callback's first pull and "Sync now", a redelivered
/// job): each voucher is still stored, and listed, once.
#[tokio::test]
async fn overlapping_pulls_list_each_voucher_once() {
    let sandbox = sandbox().await;
    let (app, t, company) = connected_and_pulled(&sandbox).await;
    let booked: Vec<String> = (0..20)
        .map(|n| {
            sandbox.book_manual_voucher(company, manual_voucher(&format!("Resa {n}"), 100 + n))
                ["Id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let (a, b, c) = tokio::join!(
        internals::pull::run(&app, &t),
        internals::pull::run(&app, &t),
        internals::pull::run(&app, &t)
    );
    let announced: usize = [a, b, c]
        .into_iter()
        .map(|r| r.unwrap().changes.vouchers_for_aourly)
        .sum();
    assert_eq!(announced, 20, "each voucher announced by one of the pulls");

    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/vouchers?cursor={c}"),
            None => "/vouchers".to_owned(),
        };
        let page = get(&app, "acme", &path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for v in page.body["vouchers"].as_array().unwrap() {
            listed.push(v["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    listed.sort();
    let mut expected = booked.clone();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn vouchers_page_by_cursor_oldest_first_and_bad_parameters_are_named() {
    let sandbox = sandbox().await;
    let app = spawn_app_with_sandbox(&sandbox, &[]).await;
    let t = tenant("acme");
    let company = first_company(&sandbox);
    connect_tenant(&app, &sandbox, &t, company).await;
    for i in 0..105 {
        sandbox.book_manual_voucher(company, manual_voucher(&format!("Utlägg {i}"), 10 + i));
    }
    internals::pull::run(&app, &t).await.unwrap();

    let first = get(&app, "acme", "/vouchers").await.body;
    assert_eq!(first["vouchers"].as_array().unwrap().len(), 100);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = get(&app, "acme", &format!("/vouchers?cursor={cursor}"))
        .await
        .body;
    assert_eq!(second["vouchers"].as_array().unwrap().len(), 5);
    assert_eq!(second["next_cursor"], Value::Null);
    let all: Vec<&Value> = first["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["vouchers"].as_array().unwrap())
        .collect();
    let texts: Vec<&str> = all.iter().map(|v| v["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..105).map(|i| format!("Utlägg {i}")).collect();
    assert_eq!(texts, expected, "oldest change first, each once");
    let changed: Vec<&str> = all
        .iter()
        .map(|v| v["changed_at"].as_str().unwrap())
        .collect();
    assert!(changed.windows(2).all(|w| w[0] < w[1]));

    for (query, field) in [
        ("since=yesterday", "since"),
        ("since=2026-13-01T00:00:00Z", "since"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let answer = get(&app, "acme", &format!("/vouchers?{query}")).await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.body["errors"][0]["field"], field, "{query}");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
}
