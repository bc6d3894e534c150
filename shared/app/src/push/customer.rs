//! The Visma customer of an Aourly customer: matched by link, customer index, customer number
//! or org number, else created, once, under a creation lease when nothing in Visma would refuse
//! a second copy.

use chrono::Utc;
use domain::pull::{terms_for_days, CustomerKey, IndexedCustomer, SalesTerms};
use domain::{Customer, ItemCode, ItemError, TenantId};
use store::Lease;
use visma::models::{CustomerId, TermsOfPaymentId};
use visma::{ErrorClass, ListQuery, VismaApi};

use super::outcome::{blocked, from_visma, Attempt, RetryLater, Stop, WhenExhausted};
use super::{ClaimedPush, CLAIM_LEASE};
use crate::tokens::TenantTokens;
use crate::translate;

/// How long a push creating a customer without a number holds that customer (the store's
/// `CustomerLinks::lease_creation`): as long as a claim, so that a push that died after
/// creating it in Visma is looked up (by name) rather than raced.
const CREATION_LEASE: chrono::Duration = CLAIM_LEASE;

/// How long a push waits for another push's customer creation before it looks again.
const CREATION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl ClaimedPush<'_> {
    /// The Visma customer for an Aourly customer: the stored link, else a match by customer
    /// number, else by org number, else a new customer. The link is stored for next time.
    ///
    /// A first attempt matches with the customer index the pull keeps (DynamoDB reads, no Visma
    /// request) once the tenant has one; a retry, which may follow a create whose answer was lost,
    /// and a tenant never pulled ask Visma. A customer in Visma but not in the index (created by
    /// hand since the last pull, or by a push whose answer was lost) is still matched by its
    /// customer number: Visma refuses the duplicate number and the conflict is resolved by looking
    /// it up. A customer without a number has no such guard, so when the index does not know its
    /// org number Visma is asked as well.
    pub(super) async fn resolve_customer(&self, customer: &Customer) -> Result<CustomerId, Stop> {
        let (deps, api, tenant, look_first, pusher) = (
            self.deps,
            self.api,
            self.tenant,
            self.look_first,
            self.claimant,
        );
        let links = &deps.links;
        if let Some(id) = links.get(tenant, customer.id.as_str()).await? {
            return Ok(CustomerId::new(id));
        }
        let pulled = &deps.pulled;
        let state = pulled.pull_state(tenant).await?;
        let use_index = state.customer_index_ready() && !look_first;
        if use_index {
            if let Some(id) = find_indexed_customer(pulled, tenant, customer).await? {
                links
                    .put(tenant, customer.id.as_str(), *id.as_uuid())
                    .await?;
                return Ok(id);
            }
        }
        let ask_visma = !use_index || (customer.number.is_none() && customer.org_number.is_some());
        let found = if ask_visma {
            find_customer(api, customer, look_first).await?
        } else {
            None
        };
        let mut leased = false;
        let visma_customer = match found {
            Some(found) => found,
            None => {
                // Visma refuses a second customer with the same number (and `create_customer`
                // then takes the first), but nothing refuses a second one without a number: two
                // pushes naming this customer at once (its `customer.created` and an invoice in
                // one batch) take turns, and the second uses the first one's link.
                // The lease is this attempt's (its claim owner's): its own quick retries pass, a
                // second worker (another item, or this item after its claim lapsed) waits. Taken
                // over from a lapsed lease, the holder may have created the customer without
                // learning it (a lost answer, a slow create): look it up by name first. A holder
                // that learned its outcome released the lease, so a lapsed one always means this.
                let mut found = None;
                leased = customer.number.is_none();
                if leased {
                    match links
                        .lease_creation(
                            tenant,
                            customer.id.as_str(),
                            pusher,
                            Utc::now(),
                            CREATION_LEASE,
                        )
                        .await?
                    {
                        Lease::Held => {
                            return Err(Stop::Retry(RetryLater {
                                reason: "another push is creating this customer in Visma".into(),
                                after: Some(CREATION_WAIT),
                                claim_kept: false,
                                when_exhausted: WhenExhausted::Fail,
                            }))
                        }
                        Lease::Taken { after_other } => {
                            if let Some(id) = links.get(tenant, customer.id.as_str()).await? {
                                links.release_creation(tenant, customer.id.as_str()).await;
                                return Ok(CustomerId::new(id));
                            }
                            if after_other && !look_first {
                                found = find_customer(api, customer, true).await?;
                            }
                        }
                    }
                }
                match found {
                    Some(found) => found,
                    None => match create_customer(api, &state.sales_terms, customer).await {
                        Ok(created) => created,
                        Err(stop) => {
                            // Certainly not created: the next attempt need not look first.
                            let unknown = matches!(&stop, Stop::Retry(r) if r.claim_kept);
                            if leased && !unknown {
                                links.release_creation(tenant, customer.id.as_str()).await;
                            }
                            return Err(stop);
                        }
                    },
                }
            }
        };
        let id = visma_customer.id.ok_or_else(|| {
            Stop::Failed(ItemError::new(
                ItemCode::VismaRejected,
                "Visma returned no customer id",
            ))
        })?;
        // Into the index before the link, so that another Aourly customer with the same org number
        // matches this one before the next pull reads it. If this write fails the push is retried,
        // finds no link, asks Visma (a retry always does) and writes both again.
        if let Some(indexed) = translate::indexed_customer(&visma_customer) {
            pulled.put_customer_index(tenant, &[indexed]).await?;
        }
        links
            .put(tenant, customer.id.as_str(), *id.as_uuid())
            .await?;
        if leased {
            links.release_creation(tenant, customer.id.as_str()).await;
        }
        Ok(id)
    }

    /// `customer.updated`: the customer is matched (or created) as for any push, then Visma's
    /// record is replaced by Aourly's.
    pub(super) async fn update_customer(&self, customer: &Customer) -> Attempt {
        let (deps, api, tenant) = (self.deps, self.api, self.tenant);
        let id = self.resolve_customer(customer).await?;
        let pulled = &deps.pulled;
        let state = pulled.pull_state(tenant).await?;
        let terms = terms_for(api, &state.sales_terms, customer.payment_terms_days).await?;
        let mut body = translate::customer_body(customer, terms);
        body.id = Some(id);
        let updated = api
            .customers()
            .update(id, &body)
            .await
            .map_err(|e| from_visma(e, "updating the customer"))?;
        // The customer's numbers may have changed (a corrected org number): index its new
        // ones and replace its current keys, so the entries of the old ones stop matching
        // it. Visma's answer says what it kept; what was sent stands in if it says nothing.
        // If this write fails the update is retried (a PUT again, which is harmless).
        let current = translate::indexed_customer(&updated)
            .filter(|c| c.visma_id == id.to_string())
            .unwrap_or_else(|| IndexedCustomer {
                visma_id: id.to_string(),
                number: body.customer_number.clone(),
                org_number: body.corporate_identity_number.clone(),
            });
        pulled.put_customer_index(tenant, &[current]).await?;
        Ok((id.to_string(), customer.number.clone()))
    }
}

/// Creates the customer in Visma. When Visma refuses its customer number as taken (another
/// record's push created it a moment ago, or someone did in Visma since the last pull), the
/// customer with that number is the one.
async fn create_customer(
    api: &VismaApi<'_, TenantTokens<'_>>,
    sales_terms: &[SalesTerms],
    customer: &Customer,
) -> Result<visma::models::Customer, Stop> {
    let terms = terms_for(api, sales_terms, customer.payment_terms_days).await?;
    match api
        .customers()
        .create(&translate::customer_body(customer, terms))
        .await
    {
        Ok(created) => Ok(created),
        Err(e) if e.class() == ErrorClass::Conflict && customer.number.is_some() => {
            let number = customer.number.as_deref().unwrap_or_default();
            let page = api
                .customers()
                .list(
                    &ListQuery::new()
                        .filter(format!("CustomerNumber eq {}", visma::odata_string(number))),
                )
                .await
                .map_err(|e| from_visma(e, "looking the customer up"))?;
            page.data
                .into_iter()
                .find(|c| c.customer_number.as_deref() == Some(number))
                .ok_or_else(|| from_visma(e, "creating the customer"))
        }
        Err(e) => Err(from_visma(e, "creating the customer")),
    }
}

/// Looks the customer up in the customer index: by customer number, then by org number. An
/// entry counts only while the Visma customer it names still has that number (its current keys,
/// which every index write replaces): an org number corrected by `customer.updated` or changed
/// in Visma leaves its old entry behind, and that must not hand another Aourly customer with
/// the old number to this one. A probe that misses costs one read, a match two.
async fn find_indexed_customer(
    pulled: &store::Pulled,
    tenant: &TenantId,
    customer: &Customer,
) -> Result<Option<CustomerId>, Stop> {
    for (key, value) in [
        (CustomerKey::Number, &customer.number),
        (CustomerKey::OrgNumber, &customer.org_number),
    ] {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        let id = pulled.indexed_customer(tenant, key, value).await?;
        if let Some(id) = id.and_then(|id| uuid::Uuid::parse_str(&id).ok()) {
            return Ok(Some(CustomerId::new(id)));
        }
    }
    Ok(None)
}

/// Looks the customer up in Visma: by customer number, then org number (integration guide "Webhooks from Aourly"), in one
/// request; without either, a retry (which may follow a lost create) looks by name, and a first
/// attempt does not look.
async fn find_customer(
    api: &VismaApi<'_, TenantTokens<'_>>,
    customer: &Customer,
    look_first: bool,
) -> Result<Option<visma::models::Customer>, Stop> {
    let mut filters = Vec::new();
    if let Some(number) = &customer.number {
        filters.push(format!("CustomerNumber eq {}", visma::odata_string(number)));
    }
    if let Some(org) = &customer.org_number {
        filters.push(format!(
            "CorporateIdentityNumber eq {}",
            visma::odata_string(org)
        ));
    }
    // Visma keeps the first 50 characters of the name (`customer_body`).
    let name = translate::truncate(&customer.name, translate::CUSTOMER_NAME_CHARS);
    if filters.is_empty() && look_first {
        filters.push(format!("Name eq {}", visma::odata_string(&name)));
    }
    if filters.is_empty() {
        return Ok(None);
    }
    let page = api
        .customers()
        .list(&ListQuery::new().filter(filters.join(" or ")))
        .await
        .map_err(|e| from_visma(e, "looking the customer up"))?;
    // Number first, then org number (integration guide "Webhooks from Aourly"), then name.
    let by_number = customer.number.as_ref().and_then(|n| {
        page.data
            .iter()
            .find(|c| c.customer_number.as_deref() == Some(n.as_str()))
    });
    let by_org = customer.org_number.as_ref().and_then(|o| {
        page.data
            .iter()
            .find(|c| c.corporate_identity_number.as_deref() == Some(o.as_str()))
    });
    let by_name = page.data.iter().find(|c| c.name == name);
    Ok(by_number
        .or(by_org)
        .or(by_name)
        .filter(|c| c.id.is_some())
        .cloned())
}

/// Visma's terms of payment for `days` ([`domain::pull::terms_for_days`]), from the sales terms
/// the pull keeps (`pulled`); a tenant not pulled yet costs one Visma request.
async fn terms_for(
    api: &VismaApi<'_, TenantTokens<'_>>,
    pulled: &[SalesTerms],
    days: u16,
) -> Result<TermsOfPaymentId, Stop> {
    let read;
    let terms = if pulled.is_empty() {
        let all = api
            .terms_of_payment()
            .list_all(&ListQuery::new())
            .await
            .map_err(|e| from_visma(e, "reading the terms of payment"))?;
        read = translate::sales_terms(&all.items);
        &read
    } else {
        pulled
    };
    terms_for_days(terms, days)
        .and_then(|t| t.id.parse().ok())
        .ok_or_else(|| {
            blocked(
                ItemCode::VismaCompanySetup,
                "the Visma company has no terms of payment for sales",
            )
        })
}
