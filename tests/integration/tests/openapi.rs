//! `docs/openapi.yaml` against the router, both ways: every documented route is served, every
//! served route is documented, and no undocumented method answers on a documented path.

use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fn documented() -> BTreeSet<(String, String)> {
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

fn served() -> BTreeSet<(String, String)> {
    local::routes()
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
fn the_document_and_the_router_list_the_same_routes() {
    let documented = documented();
    let served = served();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
}

#[tokio::test]
async fn every_listed_route_is_served_and_no_other_method_is() {
    let deps = integration_tests::deps(&[]).await;
    let served = served();
    for (method, template) in &served {
        let answer = integration_tests::call(&deps, method, &concrete(template), None, None).await;
        assert!(
            answer.status != 405 && answer.body["code"] != "unknown_route",
            "{method} {template} is not served: {} {}",
            answer.status,
            answer.text
        );
    }
    let paths: BTreeSet<&String> = served.iter().map(|(_, p)| p).collect();
    for template in paths {
        for method in METHODS {
            if served.contains(&(method.to_owned(), template.clone())) {
                continue;
            }
            let answer =
                integration_tests::call(&deps, method, &concrete(template), None, None).await;
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
