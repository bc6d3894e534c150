//! Translation between Visma's models and ours, both ways: what the pull reads from Visma into
//! the domain's pulled data, and the Visma bodies the push sends for Aourly's records. Pure
//! functions, unit-tested below; Visma's field limits are applied here and nowhere else.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::pull::{
    self, coding_vat_rate, voucher_origin, Account, Coding, FiscalYear, IndexedCustomer,
    PulledVoucher, PulledVoucherRow, SalesTerms, VatCode,
};
use domain::{Customer, Invoice, VatRate, Voucher};
use visma::models::{
    ArticleId, CustomerId, CustomerInvoice, CustomerInvoiceRow, TermsOfPaymentId, VoucherRow,
};

/// Visma keeps the first 50 characters of a customer's name.
pub const CUSTOMER_NAME_CHARS: usize = 50;

// ---- Visma → ours (the pull) ----

/// The terms of payment a customer may get: the normal ones (type 0), with their days.
pub fn sales_terms(terms: &[visma::models::TermsOfPayment]) -> Vec<SalesTerms> {
    terms
        .iter()
        .filter(|t| t.terms_of_payment_type_id.unwrap_or(0) == 0)
        .map(|t| SalesTerms {
            days: t.number_of_days.unwrap_or(0),
            id: t.id.to_string(),
        })
        .collect()
}

/// The customer index entry of a Visma customer (`None` without an id, which Visma always sends).
pub fn indexed_customer(c: &visma::models::Customer) -> Option<IndexedCustomer> {
    Some(IndexedCustomer {
        visma_id: c.id?.to_string(),
        number: c.customer_number.clone(),
        org_number: c.corporate_identity_number.clone(),
    })
}

pub fn fiscal_year(y: &visma::models::FiscalYear) -> FiscalYear {
    FiscalYear {
        id: y.id.to_string(),
        start_date: y.start_date,
        end_date: y.end_date,
        locked: y.is_locked_for_accounting,
    }
}

pub fn account(a: &visma::models::Account) -> Account {
    Account {
        number: a.number.trim().to_owned(),
        name: a.name.clone(),
        vat_code: a.vat_code_description.clone(),
        active: a.is_active,
    }
}

pub fn coding(c: &visma::models::ArticleAccountCoding) -> Coding {
    let rate = coding_vat_rate(c.vat_rate.as_deref(), c.vat_rate_percent);
    let revenue = if rate == Some(domain::VatRate::Zero) {
        c.domestic_sales_vat_exempt_account_number
            .or(c.domestic_sales_subject_to_vat_account_number)
    } else {
        c.domestic_sales_subject_to_vat_account_number
    };
    Coding {
        id: c.id.to_string(),
        name: c.name.clone().unwrap_or_default(),
        vat_rate: rate,
        active: c.is_active.unwrap_or(true),
        revenue_account: revenue.map(|n| n.to_string()),
    }
}

pub fn vat_code(v: &visma::models::VatCode) -> VatCode {
    let related = v
        .related_accounts
        .as_ref()
        .map(|r| {
            [r.account_number1, r.account_number2, r.account_number3]
                .into_iter()
                .flatten()
                .map(|n| n.to_string())
                .collect()
        })
        .unwrap_or_default();
    VatCode {
        id: v.id.to_string(),
        code: v.code.clone(),
        description: v.description.clone(),
        rate: v.vat_rate.map(|r| r.normalize().to_string()),
        related_accounts: related,
    }
}

pub fn pulled_voucher(
    v: &visma::models::Voucher,
    pushed: &HashSet<String>,
    server_time: DateTime<Utc>,
) -> Option<PulledVoucher> {
    let id = v.id?.to_string();
    let modified_at = v.modified_utc.or(v.created_utc).unwrap_or(server_time);
    Some(PulledVoucher {
        origin: voucher_origin(&id, v.voucher_type, Some(&v.voucher_text), pushed),
        id,
        number: v.number_and_number_series.clone(),
        date: v.voucher_date,
        text: v.voucher_text.clone(),
        voucher_type: v.voucher_type,
        rows: v
            .rows
            .iter()
            .map(|r| PulledVoucherRow {
                account: r.account_number.to_string(),
                debit: pull::money_string(r.debit_amount),
                credit: pull::money_string(r.credit_amount),
                text: r.transaction_text.clone(),
            })
            .collect(),
        modified_at,
        changed_at: modified_at,
    })
}

/// The Visma company a token belongs to, with the settings that decide how it books.
pub fn visma_company(s: &visma::models::CompanySettings) -> domain::connection::VismaCompany {
    domain::connection::VismaCompany {
        name: s.name.clone().unwrap_or_default(),
        corporate_identity_number: s.corporate_identity_number.clone(),
        company_identifier: s.company_identifier.clone(),
        settings: Some(company_settings(s)),
    }
}

/// The settings of `/v2/companysettings` that decide how Visma books an invoice. A field
/// Visma leaves out takes its documented default: prices for private persons shown including
/// VAT, no rounding, no reverse construction VAT, no ROT/RUT.
pub fn company_settings(s: &visma::models::CompanySettings) -> domain::connection::CompanySettings {
    domain::connection::CompanySettings {
        plan: s
            .product_variant
            .and_then(domain::connection::VismaPlan::from_product_variant),
        prices_include_vat_for_private_persons: !s.show_prices_excl_vat_pc.unwrap_or(false),
        rounds_to_whole_kronor: s.domestic_currency_rounding == Some(1),
        uses_reverse_construction_vat: s.uses_reverse_construction_vat.unwrap_or(false),
        uses_rot_rut: s.uses_rot_reduced_invoicing.unwrap_or(false),
        accounting_locked_to: s.accounting_locked_to,
        currency: s.currency_code.clone(),
    }
}

// ---- ours → Visma (the push) ----

pub fn customer_body(customer: &Customer, terms: TermsOfPaymentId) -> visma::models::Customer {
    let mut body =
        visma::models::Customer::new(truncate(&customer.name, CUSTOMER_NAME_CHARS), terms);
    body.customer_number = customer.number.clone();
    body.is_private_person = customer.is_private_person;
    body.is_active = true;
    // For a private person Visma keeps the personal identity number in the same field.
    body.corporate_identity_number = customer.org_number.clone();
    body.vat_number = customer.vat_number.clone();
    body.email_address = customer.email.as_ref().map(|e| e.as_str().to_owned());
    body.invoice_address1 = Some(truncate(&customer.address.line1, 50));
    body.invoice_address2 = customer.address.line2.as_deref().map(|l| truncate(l, 50));
    body.invoice_postal_code = Some(truncate(&customer.address.postal_code, 10));
    body.invoice_city = Some(truncate(&customer.address.city, 50));
    body.invoice_country_code = Some(customer.address.country_code.as_str().to_owned());
    body.currency_code = Some(customer.currency.as_str().to_owned());
    body
}

/// The Visma invoice (or, with the credited invoice's Visma number, credit note) for an
/// Aourly invoice: each row on the article of its VAT rate (`articles` has every rate).
pub fn invoice_body(
    invoice: &Invoice,
    customer: CustomerId,
    articles: &HashMap<VatRate, ArticleId>,
    reference: String,
    credits_visma_number: Option<&str>,
) -> CustomerInvoice {
    let rows = invoice
        .lines()
        .iter()
        .map(|line| CustomerInvoiceRow {
            article_id: articles.get(&line.vat_rate).copied(),
            text: Some(truncate(&line.description, 2000)),
            unit_price: Some(line.unit_price.amount()),
            quantity: Some(line.quantity.value()),
            discount_percentage: Some(line.discount_percent.as_fraction()),
            ..CustomerInvoiceRow::default()
        })
        .collect();
    let mut body = CustomerInvoice::new(customer, rows);
    body.invoice_date = Some(invoice.issue_date());
    body.due_date = Some(invoice.due_date());
    body.your_reference = invoice.your_reference().map(|r| truncate(r, 100));
    body.buyers_order_reference = Some(reference);
    body.our_reference = match credits_visma_number {
        // The credit note names the invoice it credits, in Visma's own numbering.
        Some(number) => Some(truncate(
            &match invoice.our_reference() {
                Some(ours) => format!("Kreditering av faktura {number} / {ours}"),
                None => format!("Kreditering av faktura {number}"),
            },
            100,
        )),
        None => invoice.our_reference().map(|r| truncate(r, 100)),
    };
    body.is_credit_invoice = Some(credits_visma_number.is_some());
    body
}

/// The Visma voucher for an Aourly voucher, its text ending with `tag`.
pub fn voucher_body(voucher: &Voucher, tag: &str) -> visma::models::Voucher {
    let rows = voucher
        .rows()
        .iter()
        .map(|r| VoucherRow {
            account_number: i64::try_from(r.account().as_u64()).unwrap_or(i64::MAX),
            debit_amount: Some(r.debit().amount()),
            credit_amount: Some(r.credit().amount()),
            transaction_text: r.text().map(|t| truncate(t, 60)),
            ..VoucherRow::default()
        })
        .collect();
    // The tag goes last so a long text is cut before it, never the tag itself.
    let text = format!("{} {tag}", truncate(voucher.text(), 1000 - tag.len() - 1));
    visma::models::Voucher::new(voucher.date(), text, rows)
}

/// The unit of the mapping's articles: hours (code or abbreviation `h`, Aourly's usual unit),
/// else the company's first unit.
pub fn article_unit(units: &[visma::models::Unit]) -> Option<visma::models::UnitId> {
    let hour = units.iter().find(|u| {
        [&u.code, &u.abbreviation]
            .iter()
            .any(|v| v.as_deref() == Some("h"))
    });
    hour.or(units.first()).map(|u| u.id)
}

/// The article the mapping creates for one VAT rate's entry: booked by `coding_id`.
pub fn mapping_article(
    number: String,
    name: String,
    coding_id: visma::models::ArticleCodingId,
    unit_id: visma::models::UnitId,
) -> visma::models::Article {
    visma::models::Article {
        id: None,
        number,
        name,
        name_english: None,
        coding_id,
        unit_id,
        is_active: true,
        net_price: None,
        gross_price: None,
        coding_name: None,
        unit_name: None,
        is_service_article: None,
        created_utc: None,
        changed_utc: None,
    }
}

/// The first `max_chars` characters (Visma's field limits count characters).
pub fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_data(name: &str, sample: &str) -> domain::EventData {
        domain::parse_event(sample.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .data()
            .clone()
    }

    #[test]
    fn a_voucher_keeps_its_tag_whatever_the_length_of_its_text() {
        let sample = include_str!("../../../events/webhooks/voucher.created.json");
        let long = "x".repeat(1200);
        let sample = sample.replace("Utlägg tåg", &long);
        let domain::EventData::VoucherCreated(voucher) = event_data("voucher", &sample) else {
            panic!("a voucher sample")
        };
        let tag = "[Aourly vch_7]";
        let body = voucher_body(&voucher, tag);
        assert_eq!(body.voucher_text.chars().count(), 1000);
        assert!(body.voucher_text.ends_with(tag));
        assert_eq!(body.rows.len(), voucher.rows().len());
    }

    #[test]
    fn a_credit_note_names_the_invoice_it_credits_in_vismas_numbering() {
        let sample = include_str!("../../../events/webhooks/invoice.created.json");
        let domain::EventData::InvoiceCreated(invoice) = event_data("invoice", sample) else {
            panic!("an invoice sample")
        };
        let rates: HashMap<VatRate, ArticleId> = invoice
            .vat_rates()
            .into_iter()
            .map(|r| (r, ArticleId::new(uuid::Uuid::nil())))
            .collect();
        let customer = CustomerId::new(uuid::Uuid::nil());
        let plain = invoice_body(&invoice, customer, &rates, "Aourly 1".into(), None);
        assert_eq!(plain.is_credit_invoice, Some(false));
        assert_eq!(plain.buyers_order_reference.as_deref(), Some("Aourly 1"));
        assert!(plain.rows.iter().all(|r| r.article_id.is_some()));
        let credit = invoice_body(&invoice, customer, &rates, "Aourly 2".into(), Some("1042"));
        assert_eq!(credit.is_credit_invoice, Some(true));
        assert!(credit
            .our_reference
            .as_deref()
            .unwrap()
            .starts_with("Kreditering av faktura 1042"));
    }

    #[test]
    fn customer_fields_are_cut_to_vismas_limits() {
        let sample = include_str!("../../../events/webhooks/customer.created.json");
        let long = "N".repeat(80);
        let domain::EventData::CustomerCreated(mut customer) = event_data("customer", sample)
        else {
            panic!("a customer sample")
        };
        customer.name = long;
        let body = customer_body(&customer, TermsOfPaymentId::new(uuid::Uuid::nil()));
        assert_eq!(body.name.chars().count(), CUSTOMER_NAME_CHARS);
        assert!(body.is_active);
        assert_eq!(
            body.invoice_country_code.as_deref(),
            Some(customer.address.country_code.as_str())
        );
    }

    #[test]
    fn the_mapping_s_articles_are_counted_in_hours_when_the_company_has_them() {
        let units: Vec<visma::models::Unit> = serde_json::from_value(serde_json::json!([
            {"Id": "00000000-0000-0000-0000-0000000000a1", "Name": "Styck", "Code": "st", "Abbreviation": "st"},
            {"Id": "00000000-0000-0000-0000-0000000000a2", "Name": "Timme", "Code": "tim", "Abbreviation": "h"}
        ]))
        .expect("Visma's shape");
        assert_eq!(
            article_unit(&units).unwrap().to_string(),
            "00000000-0000-0000-0000-0000000000a2"
        );
        assert_eq!(
            article_unit(&units[..1]).unwrap().to_string(),
            "00000000-0000-0000-0000-0000000000a1",
            "no hours: the first unit"
        );
        assert!(article_unit(&[]).is_none());
    }

    #[test]
    fn company_settings_are_read_with_vismas_defaults() {
        let read: visma::models::CompanySettings = serde_json::from_value(serde_json::json!({
            "Name": "Bygg AB", "CurrencyCode": "SEK", "ProductVariant": 3,
            "ShowPricesExclVatPC": true, "DomesticCurrencyRounding": 1,
            "UsesReverseConstructionVat": true, "UsesRotReducedInvoicing": false,
            "AccountingLockedTo": "2026-06-30T00:00:00"
        }))
        .expect("Visma's shape");
        let s = company_settings(&read);
        assert_eq!(s.plan, Some(domain::connection::VismaPlan::Bookkeeping));
        assert!(!s.prices_include_vat_for_private_persons);
        assert!(s.rounds_to_whole_kronor);
        assert!(s.uses_reverse_construction_vat);
        assert!(!s.uses_rot_rut);
        assert_eq!(s.accounting_locked_to.unwrap().to_string(), "2026-06-30");
        assert_eq!(s.currency.as_deref(), Some("SEK"));
        let bare = company_settings(&visma::models::CompanySettings::default());
        assert!(
            bare.prices_include_vat_for_private_persons,
            "Visma's default"
        );
        assert!(!bare.rounds_to_whole_kronor);
        assert_eq!(bare.plan, None);
    }

    #[test]
    fn only_normal_terms_of_payment_are_offered_to_customers() {
        let terms: Vec<visma::models::TermsOfPayment> = serde_json::from_value(serde_json::json!([
            {"Id": "00000000-0000-0000-0000-000000000001", "Name": "30 dagar", "NumberOfDays": 30, "TermsOfPaymentTypeId": 0},
            {"Id": "00000000-0000-0000-0000-000000000002", "Name": "Kontant", "NumberOfDays": 0, "TermsOfPaymentTypeId": 1}
        ]))
        .expect("Visma's shape");
        let sales = sales_terms(&terms);
        assert_eq!(sales.len(), 1);
        assert_eq!(sales[0].days, 30);
    }
}
