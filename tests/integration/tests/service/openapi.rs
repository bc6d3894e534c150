//! `docs/openapi.yaml` against the route tables the functions' routers are built from
//! (`api::ROUTES`, and the one route each of oauth-callback and webhook), both ways, and
//! against the router itself: every documented operation is served, and no undocumented
//! method answers on a documented path.

use std::collections::BTreeSet;

use integration_tests::internals::functions::{API_ROUTES, OAUTH_CALLBACK_ROUTES, WEBHOOK_ROUTES};
use integration_tests::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

type Routes = BTreeSet<(String, String)>;

/// Every (method, path template) operation of the OpenAPI document.
fn documented() -> Routes {
    let path = format!("{}/../../docs/openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true),
        "OpenAPI 3.1"
    );
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths").iter() {
        let path = path.as_str().unwrap().to_owned();
        for (key, _) in item.as_mapping().unwrap().iter() {
            let key = key.as_str().unwrap().to_uppercase();
            if METHODS.contains(&key.as_str()) {
                routes.insert((key, path.clone()));
            }
        }
    }
    routes
}

/// The functions' route tables (`api::ROUTES` is what the api router is built from).
fn routed() -> Routes {
    [API_ROUTES, OAUTH_CALLBACK_ROUTES, WEBHOOK_ROUTES]
        .concat()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect()
}

fn concrete(template: &str) -> String {
    template
        .replace("{tenant}", "acme")
        .replace("{kind}", "invoice")
        .replace("{id}", "inv_1")
}

#[test]
fn the_document_and_the_route_tables_list_the_same_operations() {
    let documented = documented();
    let routed = routed();
    assert!(routed.len() >= 14, "the route tables are read: {routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not in the route tables: {unrouted:?}"
    );
}

/// Probes the router itself with the document's operations: each answers (not 405, not the
/// fallback's `unknown_route`), and on each documented path every other method is 405.
#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method_is() {
    let app = spawn_app(&[]).await;
    let documented = documented();
    for (method, template) in &documented {
        let answer = app.request(method, concrete(template)).send().await;
        assert!(
            answer.status != 405 && answer.body["code"] != "unknown_route",
            "{method} {template} is not served: {} {}",
            answer.status,
            answer.text
        );
    }
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for template in paths {
        for method in METHODS {
            if documented.contains(&(method.to_owned(), template.clone())) {
                continue;
            }
            let answer = app.request(method, concrete(template)).send().await;
            assert_eq!(
                answer.status, 405,
                "{method} {template} answers although undocumented"
            );
            assert_eq!(
                answer.body["code"], "method_not_allowed",
                "{method} {template}: a problem+json body, got {}",
                answer.text
            );
        }
    }
}
