//! The account mapping (integration guide "Management API"): proposed after the first pull, reviewed and saved by the
//! owner (`PUT /account-mapping`), and re-validated against the pulled data every time it is
//! read, so a new fiscal year, a deactivated account or a changed coding shows at once in
//! `complete`, in status warnings, and in what [`current`] lets a push use.
//!
//! Articles: Visma invoice rows need an article, and the article's coding decides the revenue
//! and VAT accounts. For each mapped rate the service creates (or reuses) one article numbered
//! `AOURLY-{rate}-{last 8 hex digits of the coding id}` with that coding, so a different coding
//! for a rate gets its own article and an article's coding never has to change.

use domain::mapping::{self, AccountMapping, MappingInput, PulledData, SalesEntry};
use domain::pull::{current_fiscal_year, Account, Coding};
use domain::{FieldError, ItemCode, TenantId, Warning};
use store::{Conditional, StoreError};
use visma::{ListQuery, TokenSource, VismaApi, VismaError};

use crate::tokens::TenantTokens;
use crate::Deps;

impl MappingView {
    /// `mapping_unconfirmed` until the owner saves a proposed mapping; `mapping_invalid` when
    /// a stored entry no longer validates (for example an account missing from a new fiscal
    /// year).
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if self.stored && !self.mapping.confirmed {
            warnings.push(Warning::MappingUnconfirmed);
        }
        if self.stored && !self.problems.is_empty() {
            warnings.push(Warning::MappingInvalid);
        }
        warnings
    }
}

/// The mapping as it stands now against the pulled data, with its problems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingView {
    /// The stored mapping, or an empty one (`confirmed: false`, `complete: false`) when none is
    /// stored yet (before the first pull).
    pub mapping: AccountMapping,
    pub stored: bool,
    /// Entries that do not validate against the current fiscal year and codings.
    pub problems: Vec<FieldError>,
}

/// The chart of the current fiscal year (the one containing today) and the codings.
async fn pulled_data(
    deps: &Deps,
    tenant: &TenantId,
) -> Result<(Vec<Account>, Vec<Coding>), StoreError> {
    let pulled = &deps.pulled;
    let years = pulled.fiscal_years(tenant).await?;
    let chart = match current_fiscal_year(&years, chrono::Utc::now().date_naive()) {
        Some(year) => pulled.chart(tenant, &year.id).await?.unwrap_or_default(),
        None => Vec::new(),
    };
    let codings = pulled.pull_state(tenant).await?.codings;
    Ok((chart, codings))
}

/// The stored mapping re-validated against the pulled data.
pub async fn view(deps: &Deps, tenant: &TenantId) -> Result<MappingView, StoreError> {
    let pulled = &deps.pulled;
    let Some(mut mapping) = pulled.mapping(tenant).await? else {
        return Ok(MappingView::default());
    };
    let (chart, codings) = pulled_data(deps, tenant).await?;
    let problems = mapping::revalidate(&mut mapping, &PulledData::new(&chart, &codings));
    Ok(MappingView {
        mapping,
        stored: true,
        problems,
    })
}

/// For the push pipeline: the mapping to push with, re-validated now. Use
/// [`AccountMapping::entry_for_rate`] for a rate: it answers only for valid entries, so a push
/// whose rate has none is blocked with `mapping_incomplete` instead of guessing. Pushes may use
/// the mapping confirmed or not (integration guide "Management API").
pub async fn current(deps: &Deps, tenant: &TenantId) -> Result<Option<AccountMapping>, StoreError> {
    let view = view(deps, tenant).await?;
    Ok(view.stored.then_some(view.mapping))
}

/// `mapping_complete` and the mapping warnings for the status body.
pub async fn status_flags(
    deps: &Deps,
    tenant: &TenantId,
) -> Result<(bool, Vec<Warning>), StoreError> {
    let view = view(deps, tenant).await?;
    Ok((view.mapping.complete, view.warnings()))
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// 422 `invalid_mapping`, one entry per bad field.
    #[error("the mapping is not valid")]
    Invalid(Vec<FieldError>),
    /// No fiscal years or codings were pulled yet: nothing to validate against.
    #[error("nothing was pulled from Visma yet")]
    NotPulled,
    /// An article had to be made in Visma and Visma could not be used.
    #[error("Visma: {0}")]
    Visma(#[from] VismaError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl SaveError {
    /// Visma was unavailable (try again shortly).
    pub fn is_transient(&self) -> bool {
        match self {
            SaveError::Visma(e) => e.class() == visma::ErrorClass::Transient,
            SaveError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Visma refused the connection's authorization (not connected, expired).
    pub fn is_authorization(&self) -> bool {
        matches!(self, SaveError::Visma(e) if e.class() == visma::ErrorClass::Authorization)
    }
}

/// `PUT /account-mapping`: validates every entry against the pulled chart of the current
/// fiscal year and the codings; when all are valid, makes sure each entry has its article
/// (kept from the stored mapping when the coding is unchanged, else created or reused in
/// Visma), stores it `confirmed: true` and returns it (with `complete`). Invalid → nothing
/// is stored. Article ids in the body are ignored: the service manages them.
pub async fn save(
    deps: &Deps,
    tenant: &TenantId,
    input: &MappingInput,
) -> Result<AccountMapping, SaveError> {
    let (chart, codings) = pulled_data(deps, tenant).await?;
    if chart.is_empty() && codings.is_empty() {
        return Err(SaveError::NotPulled);
    }
    let data = PulledData::new(&chart, &codings);
    let (mut sales, accounts) =
        mapping::validate_input(input, &data).map_err(SaveError::Invalid)?;
    let pulled = &deps.pulled;
    let stored = pulled.mapping(tenant).await?;
    for entry in &mut sales {
        entry.article_id = stored.as_ref().and_then(|m| {
            m.sales
                .iter()
                .find(|s| s.article_coding_id == entry.article_coding_id && s.article_id.is_some())
                .and_then(|s| s.article_id.clone())
        });
    }
    if sales.iter().any(|e| e.article_id.is_none()) {
        let tokens = TenantTokens::new(deps, tenant.clone());
        let api = deps.visma.connect(&tokens);
        ensure_articles(&api, &mut sales).await?;
    }
    let mut saved = AccountMapping {
        sales,
        accounts,
        confirmed: true,
        ..AccountMapping::default()
    };
    mapping::revalidate(&mut saved, &data);
    pulled.put_mapping(tenant, &saved).await?;
    on_mapping_saved(deps, tenant, &saved).await;
    Ok(saved)
}

/// Called after the owner saved a mapping. Resuming the items that were blocked on the
/// mapping (`mapping_incomplete`) is the push pipeline's: it hooks in here. For now it logs.
pub async fn on_mapping_saved(deps: &Deps, tenant: &TenantId, mapping: &AccountMapping) {
    tracing::info!(
        %tenant,
        complete = mapping.complete,
        rates = ?mapping.valid_rates,
        "account mapping saved"
    );
    // Items blocked on the mapping try again; those whose rate is still unmapped block again.
    if let Err(e) =
        crate::resume::resume_blocked(deps, tenant, &[ItemCode::MappingIncomplete]).await
    {
        tracing::warn!(%tenant, error = %e, "could not resume items blocked on the mapping; a manual sync will");
    }
}

/// After a successful pull: propose a mapping when the tenant has none (creating or reusing
/// the articles), or re-validate the stored one against the freshly pulled data and log what no
/// longer holds (the status shows it as `mapping_invalid`). Returns whether it proposed.
pub(crate) async fn after_pull<T: TokenSource + ?Sized>(
    deps: &Deps,
    tenant: &TenantId,
    api: &VismaApi<'_, T>,
) -> Result<bool, SaveError> {
    let pulled = &deps.pulled;
    let (chart, codings) = pulled_data(deps, tenant).await?;
    let data = PulledData::new(&chart, &codings);
    if let Some(mut stored) = pulled.mapping(tenant).await? {
        let problems = mapping::revalidate(&mut stored, &data);
        if !problems.is_empty() {
            tracing::warn!(%tenant, problems = ?problems, "the account mapping no longer validates against the pulled data");
        }
        return Ok(false);
    }
    let mut proposal = mapping::propose(&data, &codings);
    ensure_articles(api, &mut proposal.sales).await?;
    mapping::revalidate(&mut proposal, &data);
    // Conditional: an owner's PUT that raced this first pull wins.
    pulled
        .put_new_mapping(tenant, &proposal)
        .await
        .or_refused()?;
    tracing::info!(%tenant, complete = proposal.complete, "account mapping proposed");
    Ok(true)
}

/// The article number the service uses for `rate` with coding `coding_id`.
pub fn article_number(entry: &SalesEntry) -> String {
    let hex: String = entry
        .article_coding_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let tail = &hex[hex.len().saturating_sub(8)..];
    format!("AOURLY-{}-{tail}", entry.vat_rate)
}

/// Fills in `article_id` for every entry without one: reuses the article with our number when
/// it exists (looked up by `Number`), else creates it (unit: hours, Aourly's usual unit).
async fn ensure_articles<T: TokenSource + ?Sized>(
    api: &VismaApi<'_, T>,
    entries: &mut [SalesEntry],
) -> Result<(), VismaError> {
    let mut unit = None;
    for entry in entries.iter_mut().filter(|e| e.article_id.is_none()) {
        let number = article_number(entry);
        if let Some(id) = find_article(api, &number).await? {
            entry.article_id = Some(id);
            continue;
        }
        let Ok(coding_id) = entry.article_coding_id.parse() else {
            continue;
        };
        let unit_id = match unit {
            Some(u) => u,
            None => {
                let units = api.units().list_all(&ListQuery::new()).await?.items;
                let Some(chosen) = crate::translate::article_unit(&units) else {
                    return Ok(());
                };
                unit = Some(chosen);
                chosen
            }
        };
        let article = crate::translate::mapping_article(
            number,
            format!("Aourly {} % moms", entry.vat_rate),
            coding_id,
            unit_id,
        );
        entry.article_id = match api.articles().create(&article).await {
            Ok(created) => created.id.map(|id| id.to_string()),
            // Someone made it meanwhile (another pull of a tenant on the same company, or our
            // own earlier POST whose answer was lost): use theirs.
            Err(e) if e.class() == visma::ErrorClass::Conflict => {
                match find_article(api, &article.number).await? {
                    Some(id) => Some(id),
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
    }
    Ok(())
}

/// The id of the article numbered `number`, if Visma has one.
async fn find_article<T: TokenSource + ?Sized>(
    api: &VismaApi<'_, T>,
    number: &str,
) -> Result<Option<String>, VismaError> {
    let existing = api
        .articles()
        .list(&ListQuery::new().filter(format!("Number eq {}", visma::odata_string(number))))
        .await?;
    Ok(existing
        .data
        .first()
        .and_then(|a| a.id)
        .map(|id| id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_mapping_warns_until_confirmed_and_while_an_entry_is_invalid() {
        let mut view = MappingView::default();
        // Nothing stored yet (before the first pull): nothing to review.
        assert_eq!(view.warnings(), []);
        view.stored = true;
        assert_eq!(view.warnings(), [Warning::MappingUnconfirmed]);
        view.mapping.confirmed = true;
        assert_eq!(view.warnings(), []);
        view.problems.push(FieldError::new(
            "sales[0].revenue_account",
            "not in the chart",
        ));
        assert_eq!(view.warnings(), [Warning::MappingInvalid]);
    }
}
