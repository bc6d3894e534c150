//! In-memory state of the sandbox: companies and their data, OAuth artefacts, rate
//! limiter, faults and the request log. Everything sits behind one mutex that is never
//! held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::types::{ClientRegistration, CompanyInfo, Faults, LoggedRequest, SandboxConfig};
use crate::util::{fmt_date, fmt_utc};

pub const DEFAULT_USER: &str = "anna@example.se";

#[derive(Debug, Clone)]
pub struct FiscalYear {
    pub id: Uuid,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub locked: bool,
    pub bookkeeping_method: i32,
}

impl FiscalYear {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }

    pub fn to_json(&self) -> Value {
        json!({
            "Id": self.id,
            "StartDate": fmt_date(self.start),
            "EndDate": fmt_date(self.end),
            "IsLockedForAccounting": self.locked,
            "BookkeepingMethod": self.bookkeeping_method,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub fiscal_year_id: Uuid,
    pub number: u64,
    pub name: String,
    pub active: bool,
    pub blocked_for_manual_booking: bool,
    pub vat_code_id: Option<Uuid>,
    pub vat_code_description: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// Visma-like account type derived from the BAS number range (the sandbox's own mapping).
pub fn account_type(number: u64) -> (i32, &'static str) {
    let n = if number >= 10_000 {
        number / 10u64.pow(number.ilog10() - 3)
    } else {
        number
    };
    match n {
        1000..=1399 => (1, "Anläggningstillgångar"),
        1400..=1499 => (2, "Varulager"),
        1500..=1599 => (3, "Kundfordringar"),
        1600..=1899 => (4, "Övriga omsättningstillgångar"),
        1900..=1999 => (9, "Kassa och bank"),
        2000..=2299 => (5, "Eget kapital och avsättningar"),
        2600..=2699 => (7, "Moms"),
        2300..=2999 => (6, "Skulder"),
        3000..=3999 => (10, "Intäkter"),
        4000..=4999 => (11, "Varuinköp"),
        5000..=6999 => (12, "Övriga externa kostnader"),
        7000..=7999 => (13, "Personalkostnader och avskrivningar"),
        _ => (14, "Finansiella poster och bokslut"),
    }
}

impl Account {
    pub fn to_json(&self) -> Value {
        let (t, td) = account_type(self.number);
        json!({
            "Name": self.name,
            "Number": self.number.to_string(),
            "FiscalYearId": self.fiscal_year_id,
            "IsActive": self.active,
            "VatCodeId": self.vat_code_id,
            "VatCodeDescription": self.vat_code_description,
            "Type": t,
            "TypeDescription": td,
            "IsBlockedForManualBooking": self.blocked_for_manual_booking,
            "IsProjectAllowed": true,
            "IsCostCenterAllowed": true,
            "ReferenceCode": null,
            "CreatedUtc": fmt_utc(self.created),
            "ModifiedUtc": fmt_utc(self.modified),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Coding {
    pub id: Uuid,
    pub name: String,
    pub name_english: String,
    /// VAT in whole percent: 25, 12, 6 or 0.
    pub vat_percent: u32,
    pub revenue_account: u64,
    pub vat_account: Option<u64>,
    pub changed: DateTime<Utc>,
}

impl Coding {
    pub fn vat_rate(&self) -> rust_decimal::Decimal {
        rust_decimal::Decimal::new(i64::from(self.vat_percent), 2)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "Id": self.id,
            "Name": self.name,
            "NameEnglish": self.name_english,
            "Type": if self.vat_percent == 0 { "VatExempt" } else { "Normal" },
            "VatRate": format!("{}%", self.vat_percent),
            "VatRatePercent": crate::util::num(self.vat_rate()),
            "IsActive": true,
            "ChangedUtc": fmt_utc(self.changed),
            "DomesticSalesSubjectToVatAccountNumber": if self.vat_percent == 0 { None } else { Some(self.revenue_account) },
            "DomesticSalesVatExemptAccountNumber": if self.vat_percent == 0 { Some(self.revenue_account) } else { None },
            "DomesticSalesSubjectToReversedConstructionVatAccountNumber": 3231,
            "DomesticSalesVatCodeExemptAccountNumber": 3004,
            "ForeignSalesSubjectToVatWithinEuAccountNumber": 3108,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3108,
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3105,
            "ForeignSalesSubjectToThirdPartySalesAccountNumber": 3108,
            "ForeignSalesSubjectToMossAccountNumber": null,
        })
    }
}

/// The company settings that decide how Visma books an invoice, as `/v2/companysettings`
/// reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingSettings {
    /// `ShowPricesExclVatPC`: prices for private individuals shown excluding VAT.
    pub show_prices_excl_vat_pc: bool,
    /// `DomesticCurrencyRounding`: 0 none, 1 half away from zero to whole kronor.
    pub domestic_currency_rounding: i32,
    pub uses_reverse_construction_vat: bool,
    pub uses_rot_reduced_invoicing: bool,
    pub accounting_locked_to: Option<NaiveDate>,
}

impl Default for BookingSettings {
    /// What the seeded companies report (see docs/visma-sandbox.md for what is assumed).
    fn default() -> Self {
        Self {
            show_prices_excl_vat_pc: true,
            domestic_currency_rounding: 0,
            uses_reverse_construction_vat: false,
            uses_rot_reduced_invoicing: false,
            accounting_locked_to: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Company {
    pub info: CompanyInfo,
    pub identifier: String,
    pub product_variant: i32,
    /// How the company books invoices (`/v2/companysettings`; set through the admin API).
    pub booking: BookingSettings,
    pub next_customer_number: u64,
    pub next_invoice_number: u64,
    pub default_terms_id: Uuid,
    pub fiscal_years: Vec<FiscalYear>,
    pub accounts: Vec<Account>,
    pub codings: Vec<Coding>,
    pub units: Vec<Value>,
    pub vat_codes: Vec<Value>,
    pub terms: Vec<Value>,
    pub customers: Vec<Value>,
    pub articles: Vec<Value>,
    pub invoices: Vec<Value>,
    pub drafts: Vec<Value>,
    pub vouchers: Vec<Value>,
    /// Next number per (fiscal year, series).
    pub voucher_seq: HashMap<(Uuid, String), u64>,
}

impl Company {
    pub fn fiscal_year_for(&self, d: NaiveDate) -> Option<&FiscalYear> {
        self.fiscal_years.iter().find(|fy| fy.contains(d))
    }

    pub fn fiscal_year(&self, id: Uuid) -> Option<&FiscalYear> {
        self.fiscal_years.iter().find(|fy| fy.id == id)
    }

    pub fn account(&self, fy: Uuid, number: u64) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.fiscal_year_id == fy && a.number == number)
    }

    pub fn terms_by_id(&self, id: &str) -> Option<&Value> {
        find_by_id(&self.terms, id)
    }

    pub fn settings_json(&self) -> Value {
        json!({
            "Name": self.info.name,
            "Email": "info@example.se",
            "Phone": "08-123 456 00",
            "MobilePhone": null,
            "Address1": "Storgatan 1",
            "Address2": null,
            "CountryCode": "SE",
            "PostalCode": "11122",
            "City": "Stockholm",
            "Website": null,
            "CurrencyCode": "SEK",
            "TermsOfPaymentId": self.default_terms_id,
            "CorporateIdentityNumber": self.info.corporate_identity_number,
            "VatCode": format!("SE{}01", self.info.corporate_identity_number.replace('-', "")),
            "BankGiro": null,
            "PlusGiro": null,
            "BankAccount": null,
            "Iban": null,
            "Gln": null,
            "ProductVariant": self.product_variant,
            "TypeOfBusiness": 1,
            "VatPeriod": 3,
            "ActivatedModules": ["api_standard"],
            "CompanyIdentifier": self.identifier,
            "CompanyStatus": 1,
            "NextCustomerNumber": self.next_customer_number,
            "NextSupplierNumber": 1,
            "NextCustomerInvoiceNumber": self.next_invoice_number,
            "NextQuoteNumber": 1,
            "NextOrderNumber": 1,
            "NextArticleNumber": 1,
            "ShowPricesExclVatPC": self.booking.show_prices_excl_vat_pc,
            "DomesticCurrencyRounding": self.booking.domestic_currency_rounding,
            "UsesReverseConstructionVat": self.booking.uses_reverse_construction_vat,
            "KeepOriginalDraftDate": false,
            "UseAutomaticVatCalculation": false,
            "UsesPaymentReferenceNumber": true,
            "UsesRotReducedInvoicing": self.booking.uses_rot_reduced_invoicing,
            "UsesMoss": false,
            "UsesCostCenter": false,
            "UsesProject": false,
            "AccountingLockedTo": self.booking.accounting_locked_to.map(|d| format!("{d}T00:00:00")),
            "AccountingLockInterval": 0,
            "AccountNumberDigits": 4,
        })
    }
}

/// The entity whose `Id` equals `id` (case-insensitive GUID match).
pub fn find_by_id<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    let id = Uuid::parse_str(id).ok()?;
    items.iter().find(|v| {
        v.get("Id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            == Some(id)
    })
}

pub fn position_by_id(items: &[Value], id: Uuid) -> Option<usize> {
    items.iter().position(|v| {
        v.get("Id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            == Some(id)
    })
}

#[derive(Debug, Clone)]
pub struct PendingAuth {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub user: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub created: Instant,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub user: String,
    pub company_id: Uuid,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub expires_at: Instant,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub client_id: String,
    pub user: String,
    pub company_id: Uuid,
    pub scopes: Vec<String>,
    pub expires_at: Instant,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub client_id: String,
    pub user: String,
    pub company_id: Uuid,
    pub scopes: Vec<String>,
}

pub struct State {
    pub clients: Vec<ClientRegistration>,
    pub access_token_lifetime: Duration,
    pub rate_limit: u32,
    pub rate_window: Duration,
    pub auto_approve: bool,
    pub auto_approve_company: Option<Uuid>,
    pub faults: Faults,
    pub companies: Vec<Company>,
    pub pending: HashMap<String, PendingAuth>,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub rate: HashMap<(String, String), VecDeque<Instant>>,
    pub log: Vec<LoggedRequest>,
    last_ts: DateTime<Utc>,
}

impl State {
    pub fn new(config: &SandboxConfig) -> Self {
        State {
            clients: config.clients.clone(),
            access_token_lifetime: config.access_token_lifetime,
            rate_limit: config.rate_limit,
            rate_window: config.rate_window,
            auto_approve: config.auto_approve,
            auto_approve_company: None,
            faults: Faults::default(),
            companies: crate::seed::companies(&config.seed),
            pending: HashMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            rate: HashMap::new(),
            log: Vec::new(),
            last_ts: DateTime::<Utc>::MIN_UTC,
        }
    }

    /// The sandbox clock: UTC now, strictly increasing between calls (1 µs steps).
    pub fn tick(&mut self) -> DateTime<Utc> {
        let mut now = Utc::now();
        if now <= self.last_ts {
            now = self.last_ts + chrono::Duration::microseconds(1);
        }
        self.last_ts = now;
        now
    }

    pub fn company(&self, id: Uuid) -> Option<&Company> {
        self.companies.iter().find(|c| c.info.id == id)
    }

    pub fn company_mut(&mut self, id: Uuid) -> Option<&mut Company> {
        self.companies.iter_mut().find(|c| c.info.id == id)
    }

    pub fn client(&self, id: &str) -> Option<&ClientRegistration> {
        self.clients.iter().find(|c| c.client_id == id)
    }

    /// Creates an access token (and a refresh token when `with_refresh`).
    pub fn issue(
        &mut self,
        client_id: &str,
        user: &str,
        company_id: Uuid,
        scopes: &[String],
        with_refresh: bool,
    ) -> (String, Option<String>) {
        let access = crate::util::random_token();
        self.access_tokens.insert(
            access.clone(),
            AccessToken {
                client_id: client_id.to_string(),
                user: user.to_string(),
                company_id,
                scopes: scopes.to_vec(),
                expires_at: Instant::now() + self.access_token_lifetime,
            },
        );
        let refresh = with_refresh.then(|| {
            let r = crate::util::random_token();
            self.refresh_tokens.insert(
                r.clone(),
                RefreshToken {
                    client_id: client_id.to_string(),
                    user: user.to_string(),
                    company_id,
                    scopes: scopes.to_vec(),
                },
            );
            r
        });
        (access, refresh)
    }
}

/// Shared handle used by the server and the [`crate::Sandbox`] API.
#[derive(Clone)]
pub struct Shared(pub Arc<Mutex<State>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
