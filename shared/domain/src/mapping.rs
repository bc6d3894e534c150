//! The account mapping (integration guide "Management API"): which article account coding (and so which revenue and
//! VAT accounts) each Swedish VAT rate books to, and the bank, receivables and rounding
//! accounts. The rules here propose a mapping from the pulled codings and chart, validate one
//! entry by entry, and decide whether it is complete. Free of AWS and HTTP.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::pull::{Account, Coding};
use crate::{FieldError, VatRate};

/// One sales entry: invoice rows at `vat_rate` use the article `article_id`, whose coding
/// `article_coding_id` books to `revenue_account` and `vat_account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesEntry {
    pub vat_rate: VatRate,
    pub article_coding_id: String,
    pub revenue_account: String,
    pub vat_account: Option<String>,
    /// The Visma article created or reused for this rate and coding.
    pub article_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedAccounts {
    pub bank: Option<String>,
    pub receivables: Option<String>,
    pub rounding: Option<String>,
}

/// The mapping body of `GET`/`PUT /account-mapping`, and what is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMapping {
    pub sales: Vec<SalesEntry>,
    pub accounts: MappedAccounts,
    /// The owner saved it (`PUT`); a proposal is unconfirmed.
    pub confirmed: bool,
    /// Entries for 25, 12, 6 and 0 % and the three accounts, all valid against the pulled data
    /// (recomputed whenever the mapping is read).
    pub complete: bool,
    /// The rates whose entries are valid against the pulled data right now: the only ones a
    /// push may use. Not part of the body.
    #[serde(skip)]
    pub valid_rates: BTreeSet<VatRate>,
}

impl AccountMapping {
    /// The entry a push uses for `rate`: only when it is valid against the pulled data, so
    /// nothing is ever posted to a guessed or stale account.
    pub fn entry_for_rate(&self, rate: VatRate) -> Option<&SalesEntry> {
        if !self.valid_rates.contains(&rate) {
            return None;
        }
        self.sales.iter().find(|e| e.vat_rate == rate)
    }
}

/// The body of `PUT /account-mapping`, before validation: every value optional, so each
/// problem can be named. `confirmed` and `complete` in the body are ignored (the service
/// decides them).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MappingInput {
    #[serde(default)]
    pub sales: Vec<SalesEntryInput>,
    #[serde(default)]
    pub accounts: AccountsInput,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesEntryInput {
    pub vat_rate: Option<serde_json::Value>,
    pub article_coding_id: Option<String>,
    pub revenue_account: Option<String>,
    pub vat_account: Option<String>,
    pub article_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountsInput {
    pub bank: Option<String>,
    pub receivables: Option<String>,
    pub rounding: Option<String>,
}

/// The pulled data a mapping is checked against: the chart of the current fiscal year and the
/// article account codings.
pub struct PulledData<'a> {
    accounts: HashMap<&'a str, &'a Account>,
    codings: HashMap<&'a str, &'a Coding>,
}

impl<'a> PulledData<'a> {
    pub fn new(chart: &'a [Account], codings: &'a [Coding]) -> Self {
        Self {
            accounts: chart.iter().map(|a| (a.number.as_str(), a)).collect(),
            codings: codings.iter().map(|c| (c.id.as_str(), c)).collect(),
        }
    }

    fn active_account(&self, number: &str) -> Result<(), String> {
        match self.accounts.get(number) {
            None => Err(format!(
                "account {number} does not exist in the current fiscal year"
            )),
            Some(a) if !a.active => Err(format!(
                "account {number} is not active in the current fiscal year"
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Checks one sales entry; problems are pushed with paths under `sales[i]`.
fn check_entry(
    i: usize,
    rate: VatRate,
    coding_id: &str,
    revenue_account: Option<&str>,
    vat_account: Option<&str>,
    data: &PulledData<'_>,
    errors: &mut Vec<FieldError>,
) {
    let path = |f: &str| format!("sales[{i}].{f}");
    let coding = data.codings.get(coding_id);
    let before = errors.len();
    match coding {
        None => errors.push(FieldError::new(
            path("article_coding_id"),
            "no article account coding with this id was pulled from Visma",
        )),
        Some(c) if !c.active => errors.push(FieldError::new(
            path("article_coding_id"),
            "this article account coding is not active in Visma",
        )),
        Some(c) if c.vat_rate != Some(rate) => errors.push(FieldError::new(
            path("article_coding_id"),
            format!(
                "this coding's VAT rate is {}, not {} %",
                c.vat_rate
                    .map_or("not a Swedish rate".to_owned(), |r| format!("{r} %")),
                rate
            ),
        )),
        Some(_) => {}
    }
    match revenue_account {
        None => errors.push(FieldError::new(path("revenue_account"), "required")),
        Some(number) => {
            if let Err(e) = data.active_account(number) {
                errors.push(FieldError::new(path("revenue_account"), e));
            } else if let Some(expected) = coding
                .filter(|_| errors.len() == before)
                .and_then(|c| c.revenue_account.as_deref())
            {
                // Only compared with a usable coding: a wrong coding is one problem, not two.
                if expected != number {
                    errors.push(FieldError::new(
                        path("revenue_account"),
                        format!("the coding books revenue to {expected}, not {number}"),
                    ));
                }
            }
        }
    }
    match (rate, vat_account) {
        (VatRate::Zero, None) => {}
        (VatRate::Zero, Some(_)) => errors.push(FieldError::new(
            path("vat_account"),
            "0 % sales have no VAT account; send null",
        )),
        (_, None) => errors.push(FieldError::new(path("vat_account"), "required")),
        (_, Some(number)) => {
            if let Err(e) = data.active_account(number) {
                errors.push(FieldError::new(path("vat_account"), e));
            }
        }
    }
}

fn check_accounts(accounts: &MappedAccounts, data: &PulledData<'_>, errors: &mut Vec<FieldError>) {
    for (name, value) in [
        ("bank", &accounts.bank),
        ("receivables", &accounts.receivables),
        ("rounding", &accounts.rounding),
    ] {
        if let Some(number) = value {
            if let Err(e) = data.active_account(number) {
                errors.push(FieldError::new(format!("accounts.{name}"), e));
            }
        }
    }
}

fn blank_to_none(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Validates a `PUT` body entry by entry. On success the entries (article ids as sent; the
/// caller fills in missing ones) and accounts; otherwise every problem, each naming its field.
/// Leaving rates or accounts out is allowed (the mapping is then not complete); a wrong value
/// is not.
pub fn validate_input(
    input: &MappingInput,
    data: &PulledData<'_>,
) -> Result<(Vec<SalesEntry>, MappedAccounts), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, e) in input.sales.iter().enumerate() {
        let rate = match &e.vat_rate {
            Some(serde_json::Value::String(s)) => VatRate::parse(s).ok(),
            _ => None,
        };
        let Some(rate) = rate else {
            errors.push(FieldError::new(
                format!("sales[{i}].vat_rate"),
                "must be one of \"25\", \"12\", \"6\", \"0\"",
            ));
            continue;
        };
        if !seen.insert(rate) {
            errors.push(FieldError::new(
                format!("sales[{i}].vat_rate"),
                format!("{rate} % is mapped more than once"),
            ));
            continue;
        }
        let Some(coding_id) = blank_to_none(&e.article_coding_id) else {
            errors.push(FieldError::new(
                format!("sales[{i}].article_coding_id"),
                "required",
            ));
            continue;
        };
        let revenue = blank_to_none(&e.revenue_account);
        let vat = blank_to_none(&e.vat_account);
        let before = errors.len();
        check_entry(
            i,
            rate,
            &coding_id,
            revenue.as_deref(),
            vat.as_deref(),
            data,
            &mut errors,
        );
        if errors.len() == before {
            entries.push(SalesEntry {
                vat_rate: rate,
                article_coding_id: coding_id,
                revenue_account: revenue.unwrap_or_default(),
                vat_account: vat,
                article_id: blank_to_none(&e.article_id),
            });
        }
    }
    let accounts = MappedAccounts {
        bank: blank_to_none(&input.accounts.bank),
        receivables: blank_to_none(&input.accounts.receivables),
        rounding: blank_to_none(&input.accounts.rounding),
    };
    check_accounts(&accounts, data, &mut errors);
    if errors.is_empty() {
        Ok((entries, accounts))
    } else {
        Err(errors)
    }
}

/// Re-validates a stored mapping against the pulled data (a new fiscal year, a deactivated
/// account or coding): fills `valid_rates` and `complete`, and returns the problems.
pub fn revalidate(mapping: &mut AccountMapping, data: &PulledData<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    mapping.valid_rates.clear();
    for (i, e) in mapping.sales.iter().enumerate() {
        let before = errors.len();
        check_entry(
            i,
            e.vat_rate,
            &e.article_coding_id,
            Some(&e.revenue_account),
            e.vat_account.as_deref(),
            data,
            &mut errors,
        );
        if errors.len() == before {
            if e.article_id.is_some() {
                mapping.valid_rates.insert(e.vat_rate);
            } else {
                errors.push(FieldError::new(
                    format!("sales[{i}].article_id"),
                    "no Visma article was made for this entry yet",
                ));
            }
        }
    }
    check_accounts(&mapping.accounts, data, &mut errors);
    let accounts_set = mapping.accounts.bank.is_some()
        && mapping.accounts.receivables.is_some()
        && mapping.accounts.rounding.is_some();
    mapping.complete = errors.is_empty()
        && accounts_set
        && VatRate::ALL.iter().all(|r| mapping.valid_rates.contains(r));
    errors
}

/// Standard BAS output-VAT accounts per rate.
fn standard_vat_account(rate: VatRate) -> Option<&'static str> {
    match rate {
        VatRate::TwentyFive => Some("2611"),
        VatRate::Twelve => Some("2621"),
        VatRate::Six => Some("2631"),
        VatRate::Zero => None,
    }
}

/// Proposes a mapping from the pulled data (`confirmed: false`, no article ids yet): per rate,
/// an active coding with that rate whose revenue account is active in the chart (the first by
/// name, for a stable choice), with the standard BAS VAT account (2611/2621/2631) when it is
/// active; and BAS 1930 (bank), 1510 (receivables) and 3740 (rounding) when they are active.
/// Rates or accounts with no fitting data are left out, so the proposal is never a guess.
pub fn propose(data: &PulledData<'_>, codings: &[Coding]) -> AccountMapping {
    let mut sales = Vec::new();
    let mut sorted: Vec<&Coding> = codings.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    for rate in VatRate::ALL {
        let vat_account = standard_vat_account(rate)
            .filter(|n| data.active_account(n).is_ok())
            .map(str::to_owned);
        if rate != VatRate::Zero && vat_account.is_none() {
            continue;
        }
        let chosen = sorted.iter().find(|c| {
            c.active
                && c.vat_rate == Some(rate)
                && c.revenue_account
                    .as_deref()
                    .is_some_and(|n| data.active_account(n).is_ok())
        });
        if let Some(c) = chosen {
            sales.push(SalesEntry {
                vat_rate: rate,
                article_coding_id: c.id.clone(),
                revenue_account: c.revenue_account.clone().unwrap_or_default(),
                vat_account,
                article_id: None,
            });
        }
    }
    let pick = |n: &str| data.active_account(n).is_ok().then(|| n.to_owned());
    AccountMapping {
        sales,
        accounts: MappedAccounts {
            bank: pick("1930"),
            receivables: pick("1510"),
            rounding: pick("3740"),
        },
        confirmed: false,
        complete: false,
        valid_rates: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: &str, active: bool) -> Account {
        Account {
            number: n.into(),
            name: format!("Konto {n}"),
            vat_code: None,
            active,
        }
    }

    fn coding(id: &str, rate: Option<VatRate>, revenue: &str, active: bool) -> Coding {
        Coding {
            id: id.into(),
            name: format!("Coding {id}"),
            vat_rate: rate,
            active,
            revenue_account: Some(revenue.into()),
        }
    }

    fn chart() -> Vec<Account> {
        [
            "1510", "1930", "2611", "2621", "2631", "3001", "3002", "3003", "3004", "3740",
        ]
        .iter()
        .map(|n| account(n, true))
        .chain([account("3999", false)])
        .collect()
    }

    fn codings() -> Vec<Coding> {
        vec![
            coding("c25", Some(VatRate::TwentyFive), "3001", true),
            coding("c12", Some(VatRate::Twelve), "3002", true),
            coding("c6", Some(VatRate::Six), "3003", true),
            coding("c0", Some(VatRate::Zero), "3004", true),
            coding("old", Some(VatRate::TwentyFive), "3001", false),
        ]
    }

    #[test]
    fn proposal_uses_codings_by_rate_and_standard_accounts() {
        let (chart, codings) = (chart(), codings());
        let data = PulledData::new(&chart, &codings);
        let mut m = propose(&data, &codings);
        let ids: Vec<_> = m
            .sales
            .iter()
            .map(|e| (e.vat_rate.as_str(), e.article_coding_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![("25", "c25"), ("12", "c12"), ("6", "c6"), ("0", "c0")]
        );
        assert_eq!(m.sales[0].vat_account.as_deref(), Some("2611"));
        assert_eq!(m.sales[3].vat_account, None);
        assert_eq!(m.accounts.bank.as_deref(), Some("1930"));
        assert!(!m.confirmed);
        // Without articles the proposal is not yet usable; with them it is complete.
        assert!(!revalidate(&mut m, &data).is_empty());
        assert!(!m.complete);
        for e in &mut m.sales {
            e.article_id = Some(format!("art-{}", e.vat_rate));
        }
        assert!(revalidate(&mut m, &data).is_empty());
        assert!(m.complete);
        assert!(m.entry_for_rate(VatRate::Six).is_some());
    }

    #[test]
    fn proposal_leaves_out_what_it_cannot_find() {
        let chart: Vec<Account> = chart()
            .into_iter()
            .filter(|a| a.number != "2621" && a.number != "3740")
            .collect();
        let codings = codings();
        let data = PulledData::new(&chart, &codings);
        let m = propose(&data, &codings);
        assert!(m.sales.iter().all(|e| e.vat_rate != VatRate::Twelve));
        assert_eq!(m.accounts.rounding, None);
    }

    fn entry(rate: &str, coding: &str, revenue: &str, vat: Option<&str>) -> SalesEntryInput {
        SalesEntryInput {
            vat_rate: Some(serde_json::Value::String(rate.into())),
            article_coding_id: Some(coding.into()),
            revenue_account: Some(revenue.into()),
            vat_account: vat.map(Into::into),
            article_id: None,
        }
    }

    #[test]
    fn each_bad_entry_is_named() {
        let (chart, codings) = (chart(), codings());
        let data = PulledData::new(&chart, &codings);
        let input = MappingInput {
            sales: vec![
                entry("25", "c25", "3001", Some("2611")),
                entry("12", "c25", "3002", Some("2621")),
                entry("6", "old", "3003", Some("2631")),
                entry("0", "nope", "3999", Some("2611")),
                entry("7", "c6", "3003", None),
                entry("25", "c25", "3001", Some("2611")),
            ],
            accounts: AccountsInput {
                bank: Some("1931".into()),
                receivables: Some("1510".into()),
                rounding: None,
            },
        };
        let errors = validate_input(&input, &data).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "sales[1].article_coding_id",
                "sales[2].article_coding_id",
                "sales[3].article_coding_id",
                "sales[3].revenue_account",
                "sales[3].vat_account",
                "sales[4].vat_rate",
                "sales[5].vat_rate",
                "accounts.bank",
            ]
        );
    }

    #[test]
    fn revenue_must_be_the_codings_and_vat_is_required_above_zero() {
        let (chart, codings) = (chart(), codings());
        let data = PulledData::new(&chart, &codings);
        let input = MappingInput {
            sales: vec![entry("25", "c25", "3002", None)],
            accounts: AccountsInput::default(),
        };
        let fields: Vec<_> = validate_input(&input, &data)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec!["sales[0].revenue_account", "sales[0].vat_account"]
        );
    }

    #[test]
    fn a_deactivated_account_invalidates_a_stored_mapping() {
        let (mut chart, codings) = (chart(), codings());
        let mut m = propose(&PulledData::new(&chart, &codings), &codings);
        for e in &mut m.sales {
            e.article_id = Some("a".into());
        }
        chart
            .iter_mut()
            .find(|a| a.number == "2621")
            .unwrap()
            .active = false;
        let errors = revalidate(&mut m, &PulledData::new(&chart, &codings));
        assert_eq!(errors[0].field, "sales[1].vat_account");
        assert!(!m.complete);
        assert!(m.entry_for_rate(VatRate::Twelve).is_none());
        assert!(m.entry_for_rate(VatRate::TwentyFive).is_some());
    }
}
