//! Invoices and credit notes: every row on the article of its VAT rate's mapping entry, the
//! customer resolved first, and the invoice looked up by its Aourly reference before any
//! second create.

use std::collections::HashMap;

use domain::mapping::AccountMapping;
use domain::{AourlyId, Invoice, ItemCode, ItemError, ItemStatus, RecordKind, VatRate};
use visma::models::ArticleId;
use visma::{ListQuery, VismaApi};

use super::outcome::{blocked, from_visma, Attempt, RetryLater, Stop, WhenExhausted};
use super::ClaimedPush;
use crate::tokens::TenantTokens;
use crate::translate;

/// The Visma field that carries Aourly's invoice number, for accountants and for lookups.
pub fn invoice_reference(invoice: &Invoice) -> String {
    format!("Aourly {}", invoice.number())
}

/// The Visma article of each of `rates`, from the mapping's valid entries; never a guessed
/// account. `Err` lists the rates (as "25 %") that have none.
pub(crate) fn articles_for(
    mapping: Option<&AccountMapping>,
    rates: impl IntoIterator<Item = VatRate>,
) -> Result<HashMap<VatRate, ArticleId>, Vec<String>> {
    let mut articles = HashMap::new();
    let mut missing = Vec::new();
    for rate in rates {
        let article = mapping
            .and_then(|m| m.entry_for_rate(rate))
            .and_then(|e| e.article_id.as_deref())
            .and_then(|a| uuid::Uuid::parse_str(a).ok());
        match article {
            Some(a) => {
                articles.insert(rate, ArticleId::new(a));
            }
            None => missing.push(format!("{} %", rate.as_str())),
        }
    }
    if missing.is_empty() {
        Ok(articles)
    } else {
        Err(missing)
    }
}

impl ClaimedPush<'_> {
    /// `invoice.credited`: the credit note names the invoice it credits in Visma's own
    /// numbering, so that invoice must be synced first.
    pub(super) async fn credit_note(
        &self,
        invoice: &Invoice,
        credits_invoice_id: &AourlyId,
    ) -> Attempt {
        let original = self
            .deps
            .items
            .get(
                self.tenant,
                RecordKind::Invoice,
                credits_invoice_id.as_str(),
            )
            .await?;
        let original_number = match original {
            Some(o) if o.status == ItemStatus::Synced => o.visma_number.unwrap_or_default(),
            // Usually the invoice is a few seconds ahead in the queue: retried. If the queue
            // gives up first (a long backlog), the credit note waits blocked and the pull
            // after the invoice is synced resumes it.
            Some(o) if o.status == ItemStatus::Pending => {
                let mut wait = RetryLater::new("the credited invoice is not in Visma yet");
                wait.when_exhausted = WhenExhausted::Block(ItemError::new(
                    ItemCode::OriginalInvoiceMissing,
                    format!(
                        "the credited invoice {} is not in Visma yet; the credit note follows it",
                        credits_invoice_id.as_str()
                    ),
                ));
                return Err(Stop::Retry(wait));
            }
            _ => {
                return Err(blocked(
                    ItemCode::OriginalInvoiceMissing,
                    format!(
                        "the credited invoice {} is not in Visma; sync it first",
                        credits_invoice_id.as_str()
                    ),
                ))
            }
        };
        self.invoice(invoice, Some(original_number)).await
    }

    /// An invoice, or (with the credited invoice's Visma number) a credit note.
    pub(super) async fn invoice(
        &self,
        invoice: &Invoice,
        credits_visma_number: Option<String>,
    ) -> Attempt {
        let (deps, api, tenant) = (self.deps, self.api, self.tenant);
        let mapping = crate::mapping::current(deps, tenant).await?;
        let articles = articles_for(mapping.as_ref(), invoice.vat_rates()).map_err(|missing| {
            blocked(
                ItemCode::MappingIncomplete,
                format!(
                    "no valid account mapping for VAT rate {}",
                    missing.join(", ")
                ),
            )
        })?;
        let reference = invoice_reference(invoice);
        if self.look_first {
            if let Some(found) = find_invoice(api, &reference).await? {
                return Ok(found);
            }
        }
        let customer = self.resolve_customer(invoice.customer()).await?;
        let body = translate::invoice_body(
            invoice,
            customer,
            &articles,
            reference,
            credits_visma_number.as_deref(),
        );
        let created = api
            .customer_invoices()
            .create(&body)
            .await
            .map_err(|e| from_visma(e, "creating the invoice"))?;
        let id = created.id.ok_or_else(|| {
            Stop::Failed(ItemError::new(
                ItemCode::VismaRejected,
                "Visma returned no invoice id",
            ))
        })?;
        let gross = invoice.totals().gross.amount();
        if created.total_amount.is_some_and(|t| t != gross) {
            tracing::warn!(%tenant, invoice = %invoice.id().as_str(), "Visma's invoice total differs from Aourly's");
        }
        Ok((
            id.to_string(),
            created.invoice_number.map(|n| n.to_string()),
        ))
    }
}

async fn find_invoice(
    api: &VismaApi<'_, TenantTokens<'_>>,
    reference: &str,
) -> Result<Option<(String, Option<String>)>, Stop> {
    let query = ListQuery::new().filter(format!(
        "BuyersOrderReference eq {}",
        visma::odata_string(reference)
    ));
    let page = api
        .customer_invoices()
        .list(&query)
        .await
        .map_err(|e| from_visma(e, "looking the invoice up"))?;
    Ok(page
        .data
        .into_iter()
        .find(|i| i.buyers_order_reference.as_deref() == Some(reference))
        .and_then(|i| {
            i.id.map(|id| (id.to_string(), i.invoice_number.map(|n| n.to_string())))
        }))
}

#[cfg(test)]
mod tests {
    use domain::mapping::SalesEntry;

    use super::*;

    fn mapping(entries: &[(VatRate, Option<&str>)], valid: &[VatRate]) -> AccountMapping {
        AccountMapping {
            sales: entries
                .iter()
                .map(|(rate, article)| SalesEntry {
                    vat_rate: *rate,
                    article_coding_id: "c".into(),
                    revenue_account: "3001".into(),
                    vat_account: Some("2611".into()),
                    article_id: article.map(str::to_owned),
                })
                .collect(),
            valid_rates: valid.iter().copied().collect(),
            ..AccountMapping::default()
        }
    }

    const ARTICLE: &str = "7f1b6d2e-8a43-4c55-9d0e-3b1f2a4c5d6e";

    #[test]
    fn every_rate_needs_a_valid_entry_with_an_article() {
        let m = mapping(
            &[
                (VatRate::TwentyFive, Some(ARTICLE)),
                (VatRate::Twelve, None),
            ],
            &[VatRate::TwentyFive, VatRate::Twelve],
        );
        let found = articles_for(Some(&m), [VatRate::TwentyFive]).unwrap();
        assert_eq!(found[&VatRate::TwentyFive].to_string(), ARTICLE);
        assert_eq!(
            articles_for(
                Some(&m),
                [VatRate::TwentyFive, VatRate::Twelve, VatRate::Six]
            ),
            Err(vec!["12 %".to_owned(), "6 %".to_owned()])
        );
        assert_eq!(
            articles_for(None, [VatRate::TwentyFive]),
            Err(vec!["25 %".to_owned()])
        );
    }

    #[test]
    fn an_entry_that_no_longer_validates_is_not_used() {
        let m = mapping(&[(VatRate::TwentyFive, Some(ARTICLE))], &[]);
        assert!(articles_for(Some(&m), [VatRate::TwentyFive]).is_err());
        let m = mapping(
            &[(VatRate::TwentyFive, Some("not a uuid"))],
            &[VatRate::TwentyFive],
        );
        assert!(articles_for(Some(&m), [VatRate::TwentyFive]).is_err());
    }
}
