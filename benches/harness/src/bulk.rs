//! Figure 2: many invoices across many tenants through the whole pipeline (webhook → queue →
//! worker → Visma sandbox) under the sandbox's rate limit, scaled down to run in minutes.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tower::ServiceExt;

use crate::fixtures::{self, customer, invoice, invoice_event};
use crate::report::{figure, note, section};

pub struct Settings {
    pub invoices: usize,
    pub tenants: usize,
    pub customers_per_tenant: usize,
    pub pollers: usize,
    pub rate: u32,
    pub window: Duration,
    pub ingest_concurrency: usize,
}

const FIRST_NUMBER: usize = 100_000;

pub async fn run(s: &Settings) {
    section(&format!(
        "2. Bulk: {} invoices across {} tenants ({} customers each), {} concurrent worker \
         pollers (template's WorkerMaxConcurrency default is 5; batches of 10), sandbox limit \
         {} requests per {:.1} s per route",
        s.invoices,
        s.tenants,
        s.customers_per_tenant,
        s.pollers,
        s.rate,
        s.window.as_secs_f64()
    ));
    let sb = Arc::new(integration_tests::sandbox().await);
    // Set-up (connections and first pulls) is not what is measured: no limit yet.
    sb.set_rate_limit(1_000_000, Duration::from_secs(60));
    // The service's pacer is told the same (scaled) limit, as VISMA_RATE_LIMIT would in AWS.
    let limit = format!("{}/{}", s.rate, s.window.as_secs());
    let deps =
        crate::fixtures::deps_with_sandbox(&sb, &[("VISMA_RATE_LIMIT", limit.as_str())]).await;
    let companies: Vec<uuid::Uuid> = sb.companies().iter().map(|c| c.id).collect();
    let names: Vec<String> = (0..s.tenants)
        .map(|t| format!("bench-bulk-{t:03}"))
        .collect();
    let started = Instant::now();
    futures::stream::iter(names.iter().enumerate())
        .for_each_concurrent(4, |(t, name)| {
            let (deps, sb, company) = (&deps, &sb, companies[t % companies.len()]);
            async move {
                fixtures::ready(deps, sb, name, company).await;
            }
        })
        .await;
    note(format!(
        "set-up: {} tenants connected to the sandbox's {} companies (alternately) and pulled in {:.1} s",
        s.tenants,
        companies.len(),
        started.elapsed().as_secs_f64()
    ));

    // Ingest: every invoice through the webhook route.
    let router = local::http_router(&deps);
    let events: Vec<serde_json::Value> = (0..s.invoices)
        .map(|i| {
            let t = i % s.tenants;
            let c = (i / s.tenants) % s.customers_per_tenant;
            let number = 40_000 + t * 100 + c;
            invoice_event(
                &format!("evt_b{i}"),
                &names[t],
                invoice(
                    &format!("inv_b{i}"),
                    &(FIRST_NUMBER + i).to_string(),
                    customer(&format!("cus_{t}_{c}"), &number.to_string()),
                ),
            )
        })
        .collect();
    let started = Instant::now();
    let refused = AtomicUsize::new(0);
    futures::stream::iter(events.iter())
        .for_each_concurrent(s.ingest_concurrency, |event| {
            let (router, refused) = (&router, &refused);
            async move {
                let response = router
                    .clone()
                    .oneshot(integration_tests::payloads::signed_webhook_request(event))
                    .await
                    .expect("router answers");
                if response.status() != 202 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    let ingest = started.elapsed();
    let refused = refused.into_inner();
    note(format!(
        "ingest: {} webhooks accepted in {:.1} s ({:.0}/s, {} concurrent), {} refused",
        s.invoices - refused,
        ingest.as_secs_f64(),
        s.invoices as f64 / ingest.as_secs_f64(),
        s.ingest_concurrency,
        refused
    ));
    assert_eq!(refused, 0, "every webhook must be accepted");

    // Drain under the limit.
    sb.set_rate_limit(s.rate, s.window);
    sb.clear_request_log();
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let pollers: Vec<_> = (0..s.pollers)
        .map(|_| {
            let (deps, done, stop) = (deps.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match local::poll_once(&deps, 1).await {
                        Ok(report) => {
                            done.fetch_add(report.done, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("poll failed: {e}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            })
        })
        .collect();
    let give_up = Duration::from_secs(3600);
    let mut last_print = Instant::now();
    while done.load(Ordering::Relaxed) < s.invoices && started.elapsed() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last_print.elapsed() >= Duration::from_secs(15) {
            last_print = Instant::now();
            eprintln!(
                "  … {} of {} jobs done after {:.0} s",
                done.load(Ordering::Relaxed),
                s.invoices,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = p.await;
    }

    // What Visma saw.
    let log = sb.request_log();
    let api: Vec<_> = log.iter().filter(|r| r.route.starts_with("/v2/")).collect();
    let throttled = api.iter().filter(|r| r.status == 429).count();
    let mut per_route: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &api {
        let e = per_route
            .entry(format!("{} {}", r.method, r.route))
            .or_default();
        e.0 += 1;
        if r.status == 429 {
            e.1 += 1;
        }
    }
    for (route, (n, t)) in &per_route {
        note(format!("{route}: {n} requests, {t} answered 429"));
    }

    // Nothing lost or doubled: every invoice's reference exactly once in its company.
    let mut booked = 0usize;
    let mut unique: HashSet<String> = HashSet::new();
    for company in &companies {
        for inv in sb.customer_invoices(*company) {
            if let Some(r) = inv["BuyersOrderReference"].as_str() {
                booked += 1;
                unique.insert(format!("{company} {r}"));
            }
        }
    }
    let lost = s.invoices.saturating_sub(unique.len());
    let doubled = booked - unique.len();
    let attrs = deps
        .queue
        .client()
        .get_queue_attributes()
        .queue_url(deps.queue.dead_letter_url())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .ok()
        .and_then(|a| a.attributes)
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        })
        .unwrap_or_else(|| "?".into());
    note(format!(
        "Visma holds {booked} invoices, {} distinct references, {lost} missing, {doubled} doubled; dead-letter queue: {attrs}",
        unique.len()
    ));

    // The bottleneck route sets the minimum: one POST /v2/customerinvoices per invoice (the
    // customers' routes need far fewer requests: one lookup and one create per new customer).
    let per_window = f64::from(s.rate);
    let window = s.window.as_secs_f64();
    let new_customers = (s.tenants * s.customers_per_tenant).min(s.invoices) as f64;
    let bottleneck = (s.invoices as f64).max(new_customers);
    let minimum = bottleneck / per_window * window;
    let ratio = elapsed.as_secs_f64() / minimum;
    let pacer = app::pacer::RateLimit {
        requests: s.rate,
        window: s.window,
    };
    let spacing = pacer.spacing();
    let ceiling = window / spacing.as_secs_f64() / per_window;
    note(format!(
        "the pacer's design ceiling for {}/{}: one request every {:.2} ms = {:.1} % of the limit",
        s.rate,
        s.window.as_secs(),
        spacing.as_secs_f64() * 1000.0,
        ceiling * 100.0
    ));
    let share = throttled as f64 / api.len().max(1) as f64;
    note(format!(
        "drain: {:.1} s; theoretical minimum {:.1} s = {} POST /v2/customerinvoices ÷ ({} per {:.1} s)",
        elapsed.as_secs_f64(),
        minimum,
        s.invoices,
        s.rate,
        window
    ));
    figure(
        "Bulk completion time / theoretical minimum",
        format!(
            "{ratio:.2}x ({:.1} s vs {minimum:.1} s; {:.0} % of the limit's capacity used)",
            elapsed.as_secs_f64(),
            100.0 / ratio
        ),
        "≤ 1.11x (≥ 90 % of capacity)",
        Some(ratio <= 1.0 / 0.9),
    );
    figure(
        "Bulk share of Visma requests answered 429",
        format!("{:.2} % ({throttled} of {})", share * 100.0, api.len()),
        "< 1 %",
        Some(share < 0.01),
    );
    figure(
        "Bulk invoices lost / doubled",
        format!("{lost} / {doubled} (of {})", s.invoices),
        "0 / 0",
        Some(lost == 0 && doubled == 0),
    );
}
