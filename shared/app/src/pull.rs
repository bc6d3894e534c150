//! The pull job (`SyncJob::Pull`, run by the sync worker): reads fiscal years, the charts of
//! accounts, article account codings, VAT codes, terms of payment, changed customers and changed
//! vouchers from Visma and stores them (see `store::Pulled` for the items), then proposes the
//! account mapping after the first pull. Terms of payment and the customer index are for the
//! push: with them, an invoice for a new customer costs two Visma requests (create the customer,
//! create the invoice) instead of three or four (a lookup, and the terms once per process).
//!
//! Incremental cost: a pull of a tenant where nothing changed makes one Visma request per
//! resource type: `GET /v2/fiscalyears` (one page of at most 1000 years), one
//! `GET /v2/accounts/{fy}?$filter=ModifiedUtc gt ...` per *open* fiscal year
//! ([`domain::pull::is_open`]; other years are read once, when first seen),
//! `GET /v2/articleaccountcodings?$filter=ChangedUtc gt ...`, `GET /v2/vatcodes` and
//! `GET /v2/termsofpayments` (short lists with no change timestamp: read whole),
//! `GET /v2/customers?$filter=ChangedUtc gt ...` and
//! `GET /v2/vouchers?$filter=ModifiedUtc gt ...`. Every watermark is the `ServerTimeUtc` of the
//! first page of the previous read, minus [`domain::pull::OVERLAP`]; what the overlap reads
//! again is de-duplicated by id and nothing is rewritten unless it differs (the customer index
//! items of re-read customers are simply written again).
//!
//! Tokens due for refresh are refreshed on the way by [`TenantTokens`], so the schedule keeps
//! every connection's refresh token alive.

use chrono::{DateTime, Utc};
use domain::connection::{ConnectionStatus, SyncResult};
use domain::outbound::OutboundType;
use domain::pull::{
    self, charts_to_pull, events_for, merge_chart, merge_codings, plan_voucher_writes, sort_chart,
    Account, ChartPull, Coding, FiscalYear, IndexedCustomer, PullChanges, PulledVoucher, VatCode,
    VoucherOrigin, VoucherWrite,
};
use domain::TenantId;
use store::StoreError;
use visma::{ErrorClass, ListQuery, TokenSource, VismaApi, VismaError};

use crate::tokens::TenantTokens;
use crate::translate;
use crate::Deps;

pub use domain::pull::PullReport;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("Visma: {0}")]
    Visma(#[from] VismaError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl PullError {
    /// Worth running the job again later (the worker returns the message to the queue).
    /// Anything else needs the owner (an expired connection, a Visma company setting).
    pub fn is_retryable(&self) -> bool {
        match self {
            PullError::Visma(e) => e.class() == ErrorClass::Transient,
            PullError::Store(e) => e.is_retryable(),
        }
    }

    /// Visma's own wait hint (rate limit), if it gave one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PullError::Visma(e) => e.retry_after(),
            PullError::Store(_) => None,
        }
    }
}

/// The outbound events (integration guide "Outbound events") this pull should send: `visma.accounts.updated`,
/// `visma.fiscal_years.updated`, `visma.vouchers.pulled`, each only when that data changed.
pub fn events_to_send(report: &PullReport) -> Vec<OutboundType> {
    events_for(&report.changes)
}

/// Each event of [`events_to_send`] with its `data`: the fiscal years whose charts changed, the
/// number of vouchers for Aourly, or nothing.
pub fn events_with_data(report: &PullReport) -> Vec<(OutboundType, serde_json::Value)> {
    events_to_send(report)
        .into_iter()
        .map(|kind| {
            let data = match kind {
                OutboundType::AccountsUpdated => {
                    serde_json::json!({"fiscal_year_ids": report.changes.accounts})
                }
                OutboundType::VouchersPulled => {
                    serde_json::json!({"count": report.changes.vouchers_for_aourly})
                }
                _ => serde_json::json!({}),
            };
            (kind, data)
        })
        .collect()
}

/// Runs one pull for `tenant` and records `last_sync_at` / `last_sync_result` on its connection.
/// A tenant that is not connected is skipped (`Ok` with `skipped`): its job is simply done.
pub async fn run(deps: &Deps, tenant: &TenantId) -> Result<PullReport, PullError> {
    let connected = deps
        .connections
        .get(tenant)
        .await?
        .is_some_and(|c| c.status == ConnectionStatus::Connected);
    if !connected {
        tracing::info!(%tenant, "not connected; pull skipped");
        return Ok(PullReport {
            skipped: true,
            ..PullReport::default()
        });
    }
    let tokens = TenantTokens::new(deps, tenant.clone());
    let api = deps.visma.connect(&tokens);
    // The company's plan and booking settings first: a change in Visma is noticed on every
    // pull, and kept with the connection in the write that records the pull.
    let (settings, outcome) = match api.company_settings().get().await {
        Ok(read) => (
            Some(translate::company_settings(&read)),
            pull_data(deps, tenant, &api).await,
        ),
        Err(e) => (None, Err(PullError::Visma(e))),
    };
    let now = Utc::now();
    match outcome {
        Ok(changes) => {
            let mut report = PullReport {
                skipped: false,
                changes,
                mapping_proposed: false,
            };
            let result = match crate::mapping::after_pull(deps, tenant, &api).await {
                Ok(proposed) => {
                    report.mapping_proposed = proposed;
                    SyncResult::Ok
                }
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "the account mapping could not be proposed; the next pull tries again");
                    SyncResult::Partial
                }
            };
            deps.connections
                .record_sync(tenant, now, result, settings.as_ref())
                .await?;
            announce(deps, tenant, &report).await;
            tracing::info!(%tenant, changes = ?report.changes, "pull done");
            Ok(report)
        }
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "pull failed");
            // The connection may have become expired on the way (refresh refused): the record
            // still exists, so this only fails on a store outage, which the retry covers.
            if let Err(store) = deps
                .connections
                .record_sync(tenant, now, SyncResult::Failed, settings.as_ref())
                .await
            {
                tracing::warn!(%tenant, error = %store, "could not record the failed pull");
            }
            Err(e)
        }
    }
}

/// Queues the events of [`events_to_send`] (a no-op unless `AOURLY_EVENTS_URL` is set). A
/// failure to queue is logged, not fatal: the data is stored and Aourly can read it.
async fn announce(deps: &Deps, tenant: &TenantId, report: &PullReport) {
    let mut all_queued = true;
    for (kind, data) in events_with_data(report) {
        if let Err(e) = crate::events::emit(deps, tenant, kind, data).await {
            tracing::warn!(%tenant, event = kind.as_str(), error = %e, "could not queue an outbound event; the next pull announces it");
            all_queued = false;
        }
    }
    // Announced (and acted on by the worker's `resume::after_pull` with this report): no
    // longer carried over.
    if all_queued && !report.changes.is_empty() {
        let pulled = &deps.pulled;
        if let Err(e) = pulled
            .set_unannounced(tenant, &PullChanges::default())
            .await
        {
            tracing::warn!(%tenant, error = %e, "could not clear the announced changes; the next pull announces them again");
        }
    }
}

/// `ModifiedUtc gt <instant>` (floored to the second: reading a little more is harmless).
fn modified_since(at: DateTime<Utc>) -> ListQuery {
    ListQuery::new().filter(format!(
        "ModifiedUtc gt {}",
        at.format("%Y-%m-%dT%H:%M:%SZ")
    ))
}

/// Pulls everything and returns what changed, together with what earlier pulls changed but
/// could not announce ([`store::PullState::unannounced`]). When it fails part-way, what it
/// already stored is carried over, so that the next pull announces it and resumes the items
/// it concerns: to that pull, the stored data looks unchanged.
async fn pull_data<T: TokenSource + ?Sized>(
    deps: &Deps,
    tenant: &TenantId,
    api: &VismaApi<'_, T>,
) -> Result<PullChanges, PullError> {
    let mut changes = PullChanges::default();
    let result = pull_into(deps, tenant, api, &mut changes).await;
    if result.is_err() && !changes.is_empty() {
        let pulled = &deps.pulled;
        let carried = pulled.pull_state(tenant).await.map(|state| {
            let mut carried = state.unannounced;
            carried.merge(&changes);
            carried
        });
        let saved = match carried {
            Ok(carried) => pulled.set_unannounced(tenant, &carried).await,
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            tracing::warn!(%tenant, error = %e, "could not carry a failed pull's changes over; they are not announced");
        }
    }
    result.map(|()| changes)
}

/// The pull itself: on success `changes` holds this pull's changes merged with the carried
/// ones, which the stored state keeps until they are announced.
async fn pull_into<T: TokenSource + ?Sized>(
    deps: &Deps,
    tenant: &TenantId,
    api: &VismaApi<'_, T>,
    changes: &mut PullChanges,
) -> Result<(), PullError> {
    let pulled = &deps.pulled;
    let mut state = pulled.pull_state(tenant).await?;
    if !state.items_status_indexed {
        crate::items::ensure_status_index(deps, tenant).await?;
        state.items_status_indexed = true;
    }
    let today = Utc::now().date_naive();

    // Fiscal years: one short list; write only the ones that differ.
    let years_page = api.fiscal_years().list_all(&ListQuery::new()).await?;
    let mut years: Vec<FiscalYear> = years_page
        .items
        .iter()
        .map(translate::fiscal_year)
        .collect();
    years.sort_by_key(|y| y.start_date);
    let stored_years = pulled.fiscal_years(tenant).await?;
    for y in &years {
        if !stored_years.contains(y) {
            pulled.put_fiscal_year(tenant, y).await?;
            changes.fiscal_years = true;
        }
    }
    for old in &stored_years {
        if !years.iter().any(|y| y.id == old.id) {
            pulled.delete_fiscal_year(tenant, &old.id).await?;
            state.chart_watermarks.remove(&old.id);
            changes.fiscal_years = true;
        }
    }

    // Charts: each open year incrementally, each year never seen in full once.
    for (id, how) in charts_to_pull(&years, &state.chart_watermarks, today) {
        let Ok(fy) = id.parse::<visma::models::FiscalYearId>() else {
            continue;
        };
        let query = match how {
            ChartPull::Full => ListQuery::new(),
            ChartPull::ChangedSince(at) => modified_since(at),
        };
        let page = api.accounts().list_all_for_year(fy, &query).await?;
        let read: Vec<Account> = page.items.iter().map(translate::account).collect();
        let stored = pulled.chart(tenant, &id).await?;
        let (chart, changed) = match (how, stored) {
            (ChartPull::ChangedSince(_), Some(stored)) => merge_chart(&stored, read),
            (_, stored) => {
                let chart = sort_chart(read);
                let changed = stored.as_ref() != Some(&chart);
                (chart, changed)
            }
        };
        if changed {
            pulled.put_chart(tenant, &id, &chart).await?;
            changes.accounts.push(id.clone());
        }
        state.chart_watermarks.insert(id, page.server_time_utc);
    }

    // Article account codings: changed since the watermark, merged by id.
    let query = match state.codings_watermark {
        Some(at) => ListQuery::new().changed_since(at - pull::OVERLAP),
        None => ListQuery::new(),
    };
    let page = api.article_account_codings().list_all(&query).await?;
    let read: Vec<Coding> = page.items.iter().map(translate::coding).collect();
    let (codings, changed) = if state.codings_watermark.is_some() {
        merge_codings(&state.codings, read)
    } else {
        let changed = read != state.codings;
        (read, changed)
    };
    state.codings = codings;
    state.codings_watermark = Some(page.server_time_utc);
    changes.codings = changed;

    // VAT codes: short, no change timestamp; compared whole.
    let page = api.vat_codes().list_all(&ListQuery::new()).await?;
    let vat_codes: Vec<VatCode> = page.items.iter().map(translate::vat_code).collect();
    if vat_codes != state.vat_codes {
        state.vat_codes = vat_codes;
        changes.vat_codes = true;
    }

    // Terms of payment: a short list, kept for the customers the push creates.
    let page = api.terms_of_payment().list_all(&ListQuery::new()).await?;
    state.sales_terms = translate::sales_terms(&page.items);

    // Customers changed since the watermark (all of them the first time, and when the index
    // is in an older layout), into the customer index the push matches Aourly customers with:
    // their entries and their current keys, which retire the entries a changed number left
    // behind. The watermark moves only once the index writes succeeded. No event: this is for
    // the service itself.
    let query = match state.customers_read_from() {
        Some(at) => ListQuery::new().changed_since(at - pull::OVERLAP),
        None => ListQuery::new(),
    };
    let page = api.customers().list_all(&query).await?;
    let read: Vec<IndexedCustomer> = page
        .items
        .iter()
        .filter_map(translate::indexed_customer)
        .collect();
    pulled.put_customer_index(tenant, &read).await?;
    state.customers_watermark = Some(page.server_time_utc);
    state.customer_index_version = store::CUSTOMER_INDEX_VERSION;

    // Vouchers changed since the watermark (all years). The first pull reads the open years'
    // vouchers (from the start of the earliest open year), not a company's whole history.
    let query = match state.vouchers_watermark {
        Some(at) => modified_since(at - pull::OVERLAP),
        None => match years
            .iter()
            .filter(|y| pull::is_open(y, today))
            .map(|y| y.start_date)
            .min()
        {
            Some(start) => ListQuery::new().filter(format!("VoucherDate ge {start}")),
            None => ListQuery::new(),
        },
    };
    let page = api.vouchers().list_all(&query).await?;
    if !page.items.is_empty() {
        let pushed = pulled.pushed_voucher_ids(tenant).await?;
        let read: Vec<PulledVoucher> = page
            .items
            .iter()
            .filter_map(|v| translate::pulled_voucher(v, &pushed, page.server_time_utc))
            .collect();
        let ids: Vec<String> = read.iter().map(|v| v.id.clone()).collect();
        let known = pulled.known_vouchers(tenant, &ids).await?;
        let mut last = Utc::now();
        for write in plan_voucher_writes(read, &known) {
            // Strictly increasing `changed_at`, so two versions never share a sort key.
            let now = Utc::now().max(last + chrono::Duration::microseconds(1));
            last = now;
            let (mut v, previous) = match write {
                VoucherWrite::New(v) => (v, None),
                VoucherWrite::Changed {
                    voucher,
                    previous_changed_at,
                } => (voucher, Some(previous_changed_at)),
            };
            v.changed_at = now;
            match pulled.put_voucher(tenant, &v, previous).await {
                Ok(()) => {}
                // Cancelled. If a pull running beside this one (a manual sync, a redelivered
                // job) stored this voucher first, its version stands and it announces it.
                // Otherwise (a throttled or conflicting transaction) the pull fails and is
                // retried, before its watermark moves past the voucher.
                Err(StoreError::ConditionFailed) => {
                    let now_known = pulled
                        .known_vouchers(tenant, std::slice::from_ref(&v.id))
                        .await?;
                    let pointer_moved =
                        now_known.get(&v.id).map(|(_, changed)| *changed) != previous;
                    if pointer_moved {
                        continue;
                    }
                    return Err(StoreError::Transient {
                        operation: "TransactWriteItems",
                        source: "storing a pulled voucher was cancelled".into(),
                    }
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
            if v.origin == VoucherOrigin::Visma {
                changes.vouchers_for_aourly += 1;
            }
        }
    }
    state.vouchers_watermark = Some(page.server_time_utc);
    state.pulled_at = Some(Utc::now());
    state.unannounced.merge(changes);
    *changes = state.unannounced.clone();
    pulled.put_pull_state(tenant, &state).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_announces_what_changed_with_its_data() {
        let report = PullReport {
            changes: PullChanges {
                accounts: vec!["fy-2026".into()],
                fiscal_years: true,
                vouchers_for_aourly: 2,
                ..PullChanges::default()
            },
            ..PullReport::default()
        };
        assert_eq!(
            events_with_data(&report),
            vec![
                (
                    OutboundType::AccountsUpdated,
                    serde_json::json!({"fiscal_year_ids": ["fy-2026"]})
                ),
                (OutboundType::FiscalYearsUpdated, serde_json::json!({})),
                (
                    OutboundType::VouchersPulled,
                    serde_json::json!({"count": 2})
                ),
            ]
        );
        assert!(events_with_data(&PullReport::default()).is_empty());
    }

    #[test]
    fn only_a_visma_outage_fails_a_pull_for_a_retry() {
        let store = PullError::Store(StoreError::Transient {
            operation: "Query",
            source: "timeout".into(),
        });
        assert!(store.is_retryable());
        assert!(!PullError::Store(StoreError::Decode("x".into())).is_retryable());
        let refused = PullError::Visma(VismaError::Config("bad".into()));
        assert!(!refused.is_retryable());
        assert_eq!(refused.retry_after(), None);
    }
}
