//! Figure 3: Visma requests of a pull, first (large company) and unchanged.

use visma_sandbox::{Sandbox, SandboxConfig, Seed};

use crate::counting::{self, AwsCounter};
use crate::fixtures;
use crate::report::{figure, note, section};

pub async fn run() {
    section("3. Pull: Visma requests (sandbox seeded with 2,000 extra accounts per fiscal year)");
    let sb = Sandbox::start(SandboxConfig {
        seed: Seed {
            extra_accounts: 2000,
        },
        ..SandboxConfig::default()
    })
    .await
    .expect("start the sandbox");
    let plain = crate::fixtures::deps_with_sandbox(&sb, &[]).await;
    let counter = AwsCounter::default();
    let deps = counting::counted(&plain, &counter).await;
    let tenant = domain::TenantId::parse("bench-pull").expect("tenant");
    integration_tests::connect_tenant(&deps, &sb, &tenant, integration_tests::first_company(&sb))
        .await;

    sb.clear_request_log();
    counter.reset();
    let started = std::time::Instant::now();
    let first = app::pull::run(&deps, &tenant).await.expect("first pull");
    let first_time = started.elapsed();
    assert!(first.mapping_proposed);
    let first_visma = fixtures::visma_requests(&sb);
    let first_aws = counter.snapshot();
    note(format!("first pull: {}", fixtures::describe(&first_visma)));
    note(format!(
        "first pull: DynamoDB {} ({}), {:.1} s",
        counting::total(&first_aws, "DynamoDB"),
        counting::breakdown(&first_aws, "DynamoDB"),
        first_time.as_secs_f64()
    ));

    sb.clear_request_log();
    counter.reset();
    let second = app::pull::run(&deps, &tenant)
        .await
        .expect("unchanged pull");
    assert_eq!(second.changes, domain::pull::PullChanges::default());
    let again = fixtures::visma_requests(&sb);
    let again_aws = counter.snapshot();
    note(format!("unchanged pull: {}", fixtures::describe(&again)));
    note(format!(
        "unchanged pull: DynamoDB {} ({})",
        counting::total(&again_aws, "DynamoDB"),
        counting::breakdown(&again_aws, "DynamoDB")
    ));

    let types = again.len();
    let max_per_type = again.values().copied().max().unwrap_or(0);
    figure(
        "Pull, unchanged tenant: Visma requests",
        format!(
            "{} over {} resource types (at most {} per type)",
            fixtures::sum(&again),
            types,
            max_per_type
        ),
        "one per resource type",
        Some(max_per_type <= 1),
    );
    figure(
        "Pull, first pull of a large company (2,072 accounts per year): Visma requests",
        format!(
            "{} ({} for the accounts); DynamoDB {}",
            fixtures::sum(&first_visma),
            first_visma
                .get("GET /v2/accounts/{fiscalyearId}")
                .copied()
                .unwrap_or(0),
            counting::total(&first_aws, "DynamoDB")
        ),
        "(reported)",
        None,
    );
}
