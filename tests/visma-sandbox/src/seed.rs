//! Default seed: two Swedish companies with fiscal years, a BAS chart of accounts, article
//! account codings, units, VAT codes and terms of payment. Ids are deterministic so a
//! restarted sandbox hands out the same ids (the current year is part of fiscal-year ids).

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::state::{Account, Coding, Company, FiscalYear};
use crate::types::{CompanyInfo, Seed};

/// A deterministic, version-4-shaped id: `5eed00CC-KKKK-4000-8000-NNNNNNNNNNNN`.
pub fn seed_id(company: u32, kind: u16, n: u64) -> Uuid {
    let s = format!("5eed{company:04x}-{kind:04x}-4000-8000-{n:012x}");
    Uuid::parse_str(&s).unwrap_or_else(|_| Uuid::new_v4())
}

/// (number, name) of the seeded BAS accounts (Swedish names as in BAS 2024).
pub const BAS_ACCOUNTS: &[(u64, &str)] = &[
    (1010, "Utvecklingsutgifter"),
    (1210, "Maskiner och andra tekniska anläggningar"),
    (1220, "Inventarier och verktyg"),
    (
        1229,
        "Ackumulerade avskrivningar på inventarier och verktyg",
    ),
    (1250, "Datorer"),
    (1460, "Lager av handelsvaror"),
    (1510, "Kundfordringar"),
    (1515, "Osäkra kundfordringar"),
    (1610, "Kortfristiga fordringar hos anställda"),
    (1630, "Avräkning för skatter och avgifter (skattekonto)"),
    (1650, "Momsfordran"),
    (1710, "Förutbetalda hyreskostnader"),
    (1790, "Övriga förutbetalda kostnader och upplupna intäkter"),
    (1910, "Kassa"),
    (1920, "PlusGiro"),
    (1930, "Företagskonto"),
    (1940, "Övriga bankkonton"),
    (2010, "Eget kapital"),
    (2081, "Aktiekapital"),
    (2091, "Balanserad vinst eller förlust"),
    (2099, "Årets resultat"),
    (2350, "Andra långfristiga skulder till kreditinstitut"),
    (2440, "Leverantörsskulder"),
    (2510, "Skatteskulder"),
    (2611, "Utgående moms på försäljning inom Sverige, 25 %"),
    (2621, "Utgående moms på försäljning inom Sverige, 12 %"),
    (2631, "Utgående moms på försäljning inom Sverige, 6 %"),
    (2614, "Utgående moms omvänd skattskyldighet, 25 %"),
    (2640, "Ingående moms"),
    (2641, "Debiterad ingående moms"),
    (2645, "Beräknad ingående moms på förvärv från utlandet"),
    (2650, "Redovisningskonto för moms"),
    (2710, "Personalskatt"),
    (2731, "Avräkning lagstadgade sociala avgifter"),
    (2890, "Övriga kortfristiga skulder"),
    (2920, "Upplupna semesterlöner"),
    (2990, "Övriga upplupna kostnader och förutbetalda intäkter"),
    (3001, "Försäljning inom Sverige, 25 % moms"),
    (3002, "Försäljning inom Sverige, 12 % moms"),
    (3003, "Försäljning inom Sverige, 6 % moms"),
    (3004, "Försäljning inom Sverige, momsfri"),
    (3105, "Försäljning varor till land utanför EU"),
    (3108, "Försäljning varor till annat EU-land, momsfri"),
    (
        3231,
        "Försäljning inom byggsektorn, omvänd skattskyldighet moms",
    ),
    (3740, "Öres- och kronutjämning"),
    (
        3960,
        "Valutakursvinster på fordringar och skulder av rörelsekaraktär",
    ),
    (4010, "Inköp material och varor"),
    (4535, "Inköp av tjänster från annat EU-land, 25 %"),
    (5010, "Lokalhyra"),
    (5410, "Förbrukningsinventarier"),
    (5460, "Förbrukningsmaterial"),
    (5800, "Resekostnader"),
    (5810, "Biljetter"),
    (5830, "Kost och logi"),
    (6071, "Representation, avdragsgill"),
    (6110, "Kontorsmateriel"),
    (6212, "Mobiltelefon"),
    (6230, "Datakommunikation"),
    (6250, "Postbefordran"),
    (6310, "Företagsförsäkringar"),
    (6530, "Redovisningstjänster"),
    (6540, "IT-tjänster"),
    (6570, "Bankkostnader"),
    (6991, "Övriga externa kostnader, avdragsgilla"),
    (7010, "Löner till kollektivanställda"),
    (7210, "Löner till tjänstemän"),
    (7331, "Skattefria bilersättningar"),
    (7510, "Arbetsgivaravgifter 31,42 %"),
    (7832, "Avskrivningar på inventarier och verktyg"),
    (8310, "Ränteintäkter från omsättningstillgångar"),
    (8410, "Räntekostnader för långfristiga skulder"),
    (8999, "Årets resultat"),
];

struct CompanySeed {
    name: &'static str,
    org: &'static str,
}

const COMPANIES: &[CompanySeed] = &[
    CompanySeed {
        name: "Exempel AB",
        org: "556677-8899",
    },
    CompanySeed {
        name: "Andra Bolaget AB",
        org: "559900-1122",
    },
];

pub fn companies(seed: &Seed) -> Vec<Company> {
    COMPANIES
        .iter()
        .enumerate()
        .map(|(i, c)| company(u32::try_from(i).unwrap_or(0) + 1, c, seed))
        .collect()
}

fn year_bounds(year: i32) -> (NaiveDate, NaiveDate) {
    let start = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or_default();
    (start, end)
}

/// Numbers of `extra` generated accounts that do not collide with the BAS list.
pub fn extra_account_numbers(existing: &BTreeSet<u64>, extra: u32) -> Vec<u64> {
    let mut out = Vec::new();
    let mut n = 1000u64;
    while out.len() < extra as usize {
        if !existing.contains(&n) {
            out.push(n);
        }
        n += 1;
        if n == 10_000 {
            n = 100_000;
        }
    }
    out
}

fn company(idx: u32, c: &CompanySeed, seed: &Seed) -> Company {
    let this_year = Utc::now().year();
    let created = Utc
        .with_ymd_and_hms(this_year - 1, 1, 2, 9, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let id = seed_id(idx, 0, 0);
    let mut fiscal_years = Vec::new();
    for (year, locked) in [(this_year - 1, true), (this_year, false)] {
        let (start, end) = year_bounds(year);
        fiscal_years.push(FiscalYear {
            id: seed_id(idx, 1, u64::try_from(year).unwrap_or(0)),
            start,
            end,
            locked,
            bookkeeping_method: 0,
        });
    }
    let existing: BTreeSet<u64> = BAS_ACCOUNTS.iter().map(|(n, _)| *n).collect();
    let extras = extra_account_numbers(&existing, seed.extra_accounts);
    let mut accounts = Vec::new();
    for fy in &fiscal_years {
        for (n, name) in BAS_ACCOUNTS {
            accounts.push(Account {
                fiscal_year_id: fy.id,
                number: *n,
                name: (*name).to_string(),
                active: true,
                blocked_for_manual_booking: false,
                vat_code_id: None,
                vat_code_description: None,
                created,
                modified: created,
            });
        }
        for n in &extras {
            accounts.push(Account {
                fiscal_year_id: fy.id,
                number: *n,
                name: format!("Konto {n}"),
                active: true,
                blocked_for_manual_booking: false,
                vat_code_id: None,
                vat_code_description: None,
                created,
                modified: created,
            });
        }
        accounts.sort_by_key(|a| (a.fiscal_year_id, a.number));
    }
    let codings = vec![
        coding(
            idx,
            1,
            "Tjänster 25 %",
            "Services 25 %",
            25,
            3001,
            Some(2611),
            created,
        ),
        coding(
            idx,
            2,
            "Varor 12 %",
            "Goods 12 %",
            12,
            3002,
            Some(2621),
            created,
        ),
        coding(
            idx,
            3,
            "Tjänster 6 %",
            "Services 6 %",
            6,
            3003,
            Some(2631),
            created,
        ),
        coding(
            idx,
            4,
            "Momsfri försäljning",
            "VAT exempt sales",
            0,
            3004,
            None,
            created,
        ),
    ];
    let units = [
        ("h", "Timme", "tim", "h"),
        ("st", "Styck", "st", "pcs"),
        ("dag", "Dag", "dag", "day"),
        ("man", "Månad", "mån", "mth"),
        ("km", "Kilometer", "km", "km"),
        ("kg", "Kilogram", "kg", "kg"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (code, name, abbr, abbr_en))| {
        json!({
            "Id": seed_id(idx, 3, i as u64 + 1),
            "Code": code,
            "Name": name,
            "Abbreviation": abbr,
            "AbbreviationEnglish": abbr_en,
        })
    })
    .collect();
    let vat_codes = [
        ("05", "Försäljning, 25 %", "0.25", (2611, 0, 0)),
        ("06", "Försäljning, 12 %", "0.12", (2621, 0, 0)),
        ("07", "Försäljning, 6 %", "0.06", (2631, 0, 0)),
        ("42", "Försäljning, momsfri", "0", (0, 0, 0)),
        ("10", "Inköp, 25 %", "0.25", (2641, 0, 0)),
        ("11", "Inköp, 12 %", "0.12", (2641, 0, 0)),
        ("12", "Inköp, 6 %", "0.06", (2641, 0, 0)),
        (
            "21",
            "Inköp av tjänster från annat EU-land, 25 %",
            "0.25",
            (2614, 2645, 0),
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (code, desc, rate, (a1, a2, a3)))| {
        let acc = |n: &u64| if *n == 0 { None } else { Some(*n) };
        json!({
            "Id": seed_id(idx, 4, i as u64 + 1),
            "Code": code,
            "Description": desc,
            "VatRate": crate::util::num(rate.parse::<rust_decimal::Decimal>().unwrap_or_default()),
            "RelatedAccounts": {
                "AccountNumber1": acc(a1),
                "AccountNumber2": acc(a2),
                "AccountNumber3": acc(a3),
            },
            "OssCodeType": 0,
        })
    })
    .collect();
    let terms: Vec<serde_json::Value> = [
        (10u32, "10 dagar netto", "10 days net"),
        (15, "15 dagar netto", "15 days net"),
        (30, "30 dagar netto", "30 days net"),
    ]
    .iter()
    .map(|(days, name, name_en)| {
        json!({
            "Id": seed_id(idx, 5, u64::from(*days)),
            "Name": name,
            "NameEnglish": name_en,
            "NumberOfDays": days,
            "TermsOfPaymentTypeId": 0,
            "TermsOfPaymentTypeText": "Normal",
            "AvailableForSales": true,
            "AvailableForPurchase": true,
        })
    })
    .collect();
    Company {
        info: CompanyInfo {
            id,
            name: c.name.to_string(),
            corporate_identity_number: c.org.to_string(),
        },
        identifier: format!("{}", 1_000_000 + idx),
        product_variant: 5,
        booking: crate::state::BookingSettings::default(),
        next_customer_number: 1,
        next_invoice_number: 1001,
        default_terms_id: seed_id(idx, 5, 30),
        fiscal_years,
        accounts,
        codings,
        units,
        vat_codes,
        terms,
        customers: Vec::new(),
        articles: Vec::new(),
        invoices: Vec::new(),
        drafts: Vec::new(),
        vouchers: Vec::new(),
        voucher_seq: HashMap::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn coding(
    company: u32,
    n: u64,
    name: &str,
    name_en: &str,
    vat: u32,
    revenue: u64,
    vat_account: Option<u64>,
    created: chrono::DateTime<Utc>,
) -> Coding {
    Coding {
        id: seed_id(company, 2, n),
        name: name.to_string(),
        name_english: name_en.to_string(),
        vat_percent: vat,
        revenue_account: revenue,
        vat_account,
        changed: created,
    }
}
