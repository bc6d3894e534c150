//! Resource handlers: `api.customers().get(id)`, `api.vouchers().create(..)`, ...
//! Each method documents the endpoint it calls.

use reqwest::Method;

use crate::client::{Call, VismaApi};
use crate::error::VismaError;
use crate::models::*;
use crate::page::{AllPages, Page};
use crate::query::ListQuery;
use crate::token::TokenSource;

impl<'a, T: TokenSource + ?Sized> VismaApi<'a, T> {
    pub fn company_settings(&self) -> CompanySettingsHandler<'a, T> {
        CompanySettingsHandler(*self)
    }
    pub fn customers(&self) -> CustomersHandler<'a, T> {
        CustomersHandler(*self)
    }
    pub fn articles(&self) -> ArticlesHandler<'a, T> {
        ArticlesHandler(*self)
    }
    pub fn article_account_codings(&self) -> ArticleAccountCodingsHandler<'a, T> {
        ArticleAccountCodingsHandler(*self)
    }
    pub fn units(&self) -> UnitsHandler<'a, T> {
        UnitsHandler(*self)
    }
    pub fn customer_invoices(&self) -> CustomerInvoicesHandler<'a, T> {
        CustomerInvoicesHandler(*self)
    }
    pub fn customer_invoice_drafts(&self) -> CustomerInvoiceDraftsHandler<'a, T> {
        CustomerInvoiceDraftsHandler(*self)
    }
    pub fn vouchers(&self) -> VouchersHandler<'a, T> {
        VouchersHandler(*self)
    }
    pub fn accounts(&self) -> AccountsHandler<'a, T> {
        AccountsHandler(*self)
    }
    pub fn fiscal_years(&self) -> FiscalYearsHandler<'a, T> {
        FiscalYearsHandler(*self)
    }
    pub fn vat_codes(&self) -> VatCodesHandler<'a, T> {
        VatCodesHandler(*self)
    }
    pub fn terms_of_payment(&self) -> TermsOfPaymentHandler<'a, T> {
        TermsOfPaymentHandler(*self)
    }
}

/// Adds `list` (one page) and `list_all` (every page) for a collection path.
macro_rules! list_methods {
    ($handler:ident, $item:ty, $path:literal) => {
        impl<T: TokenSource + ?Sized> $handler<'_, T> {
            #[doc = concat!("`GET /", $path, "`: one page.")]
            pub async fn list(&self, query: &ListQuery) -> Result<Page<$item>, VismaError> {
                self.0
                    .get_page(concat!("/", $path), $path.to_string(), query)
                    .await
            }

            #[doc = concat!("`GET /", $path, "`: every page, 1000 per request.")]
            pub async fn list_all(&self, query: &ListQuery) -> Result<AllPages<$item>, VismaError> {
                self.0
                    .get_all(concat!("/", $path), $path.to_string(), query)
                    .await
            }
        }
    };
}

macro_rules! handler {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name<'a, T: ?Sized>(VismaApi<'a, T>);
    )*};
}

handler!(
    /// `/v2/companysettings`.
    CompanySettingsHandler,
    /// `/v2/customers`.
    CustomersHandler,
    /// `/v2/articles`.
    ArticlesHandler,
    /// `/v2/articleaccountcodings`.
    ArticleAccountCodingsHandler,
    /// `/v2/units`.
    UnitsHandler,
    /// `/v2/customerinvoices`.
    CustomerInvoicesHandler,
    /// `/v2/customerinvoicedrafts`.
    CustomerInvoiceDraftsHandler,
    /// `/v2/vouchers`.
    VouchersHandler,
    /// `/v2/accounts`.
    AccountsHandler,
    /// `/v2/fiscalyears`.
    FiscalYearsHandler,
    /// `/v2/vatcodes`.
    VatCodesHandler,
    /// `/v2/termsofpayments`.
    TermsOfPaymentHandler,
);

impl<T: TokenSource + ?Sized> CompanySettingsHandler<'_, T> {
    /// `GET /v2/companysettings`: identifies the connected company.
    pub async fn get(&self) -> Result<CompanySettings, VismaError> {
        self.0
            .execute(&Call::get(
                "/v2/companysettings",
                "v2/companysettings".into(),
            ))
            .await
    }
}

list_methods!(CustomersHandler, Customer, "v2/customers");

impl<T: TokenSource + ?Sized> CustomersHandler<'_, T> {
    /// `GET /v2/customers/{customerId}`.
    pub async fn get(&self, id: CustomerId) -> Result<Customer, VismaError> {
        self.0
            .execute(&Call::get(
                "/v2/customers/{customerId}",
                format!("v2/customers/{id}"),
            ))
            .await
    }

    /// `POST /v2/customers`. Not retried; on an uncertain error look the customer up by
    /// `CustomerNumber` before creating again.
    pub async fn create(&self, customer: &Customer) -> Result<Customer, VismaError> {
        let call = Call::write(
            Method::POST,
            "/v2/customers",
            "v2/customers".into(),
            customer,
        )?;
        self.0.execute(&call).await
    }

    /// `PUT /v2/customers/{customerId}`: full replacement (omitted fields may be reset).
    pub async fn update(
        &self,
        id: CustomerId,
        customer: &Customer,
    ) -> Result<Customer, VismaError> {
        let call = Call::write(
            Method::PUT,
            "/v2/customers/{customerId}",
            format!("v2/customers/{id}"),
            customer,
        )?;
        self.0.execute(&call).await
    }
}

list_methods!(ArticlesHandler, Article, "v2/articles");

impl<T: TokenSource + ?Sized> ArticlesHandler<'_, T> {
    /// `GET /v2/articles/{articleId}`.
    pub async fn get(&self, id: ArticleId) -> Result<Article, VismaError> {
        self.0
            .execute(&Call::get(
                "/v2/articles/{articleId}",
                format!("v2/articles/{id}"),
            ))
            .await
    }

    /// `POST /v2/articles`. Not retried; look up by `Number` after an uncertain error.
    pub async fn create(&self, article: &Article) -> Result<Article, VismaError> {
        let call = Call::write(Method::POST, "/v2/articles", "v2/articles".into(), article)?;
        self.0.execute(&call).await
    }
}

list_methods!(
    ArticleAccountCodingsHandler,
    ArticleAccountCoding,
    "v2/articleaccountcodings"
);
list_methods!(UnitsHandler, Unit, "v2/units");
list_methods!(
    CustomerInvoicesHandler,
    CustomerInvoice,
    "v2/customerinvoices"
);

impl<T: TokenSource + ?Sized> CustomerInvoicesHandler<'_, T> {
    /// `GET /v2/customerinvoices/{invoiceId}`.
    pub async fn get(&self, id: InvoiceId) -> Result<CustomerInvoice, VismaError> {
        self.0
            .execute(&Call::get(
                "/v2/customerinvoices/{invoiceId}",
                format!("v2/customerinvoices/{id}"),
            ))
            .await
    }

    /// `POST /v2/customerinvoices`: creates **and bookkeeps** the invoice. Not retried; after
    /// an uncertain error search by your reference before creating again (or use drafts).
    pub async fn create(&self, invoice: &CustomerInvoice) -> Result<CustomerInvoice, VismaError> {
        let call = Call::write(
            Method::POST,
            "/v2/customerinvoices",
            "v2/customerinvoices".into(),
            invoice,
        )?;
        self.0.execute(&call).await
    }
}

/// Query options of `POST /v2/customerinvoicedrafts/{id}/convert`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Keep the draft's invoice date even if it lies in the past.
    pub keep_original_draft_date: Option<bool>,
    /// Apply `keep_original_draft_date` regardless of the company setting.
    pub override_company_keep_original_draft_date: Option<bool>,
}

impl<T: TokenSource + ?Sized> CustomerInvoiceDraftsHandler<'_, T> {
    /// `GET /v2/customerinvoicedrafts/{invoiceDraftId}`.
    pub async fn get(&self, id: InvoiceDraftId) -> Result<CustomerInvoiceDraft, VismaError> {
        self.0
            .execute(&Call::get(
                "/v2/customerinvoicedrafts/{invoiceDraftId}",
                format!("v2/customerinvoicedrafts/{id}"),
            ))
            .await
    }

    /// `POST /v2/customerinvoicedrafts`.
    pub async fn create(
        &self,
        draft: &CustomerInvoiceDraft,
    ) -> Result<CustomerInvoiceDraft, VismaError> {
        let call = Call::write(
            Method::POST,
            "/v2/customerinvoicedrafts",
            "v2/customerinvoicedrafts".into(),
            draft,
        )?;
        self.0.execute(&call).await
    }

    /// `POST /v2/customerinvoicedrafts/{id}/convert`: bookkeeps the draft and returns the
    /// invoice. Pass `DraftValidation::default()` to send `{}`.
    pub async fn convert(
        &self,
        id: InvoiceDraftId,
        validation: &DraftValidation,
        options: ConvertOptions,
    ) -> Result<CustomerInvoice, VismaError> {
        let mut query = Vec::new();
        if let Some(v) = options.keep_original_draft_date {
            query.push(("keepOriginalDraftDate", v.to_string()));
        }
        if let Some(v) = options.override_company_keep_original_draft_date {
            query.push(("overrideCompanyKeepOriginalDraftDate", v.to_string()));
        }
        let call = Call::write(
            Method::POST,
            "/v2/customerinvoicedrafts/{customerInvoiceDraftId}/convert",
            format!("v2/customerinvoicedrafts/{id}/convert"),
            validation,
        )?
        .with_query(query);
        self.0.execute(&call).await
    }
}

/// Query options of `POST /v2/vouchers` (Visma's defaults apply when `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VoucherOptions {
    /// Server default false.
    pub use_automatic_vat_calculation: Option<bool>,
    /// Server default true.
    pub use_default_vat_codes: Option<bool>,
    /// Server default true; set false to honour `Voucher::number_series`.
    pub use_default_voucher_series: Option<bool>,
}

list_methods!(VouchersHandler, Voucher, "v2/vouchers");

impl<T: TokenSource + ?Sized> VouchersHandler<'_, T> {
    /// `GET /v2/vouchers/{fiscalyearId}`: one page of one fiscal year.
    pub async fn list_for_year(
        &self,
        fiscal_year: FiscalYearId,
        query: &ListQuery,
    ) -> Result<Page<Voucher>, VismaError> {
        self.0
            .get_page(
                "/v2/vouchers/{fiscalyearId}",
                format!("v2/vouchers/{fiscal_year}"),
                query,
            )
            .await
    }

    /// `GET /v2/vouchers/{fiscalyearId}`: every page of one fiscal year.
    pub async fn list_all_for_year(
        &self,
        fiscal_year: FiscalYearId,
        query: &ListQuery,
    ) -> Result<AllPages<Voucher>, VismaError> {
        self.0
            .get_all(
                "/v2/vouchers/{fiscalyearId}",
                format!("v2/vouchers/{fiscal_year}"),
                query,
            )
            .await
    }

    /// `GET /v2/vouchers/{fiscalyearId}/{voucherId}`.
    pub async fn get(
        &self,
        fiscal_year: FiscalYearId,
        id: VoucherId,
    ) -> Result<Voucher, VismaError> {
        self.0
            .execute(&Call::get(
                "/v2/vouchers/{fiscalyearId}/{voucherId}",
                format!("v2/vouchers/{fiscal_year}/{id}"),
            ))
            .await
    }

    /// `POST /v2/vouchers`. Not retried; after an uncertain error search by date and
    /// `VoucherText` before creating again.
    pub async fn create(
        &self,
        voucher: &Voucher,
        options: VoucherOptions,
    ) -> Result<Voucher, VismaError> {
        let mut query = Vec::new();
        if let Some(v) = options.use_automatic_vat_calculation {
            query.push(("useAutomaticVatCalculation", v.to_string()));
        }
        if let Some(v) = options.use_default_vat_codes {
            query.push(("useDefaultVatCodes", v.to_string()));
        }
        if let Some(v) = options.use_default_voucher_series {
            query.push(("useDefaultVoucherSeries", v.to_string()));
        }
        let call = Call::write(Method::POST, "/v2/vouchers", "v2/vouchers".into(), voucher)?
            .with_query(query);
        self.0.execute(&call).await
    }
}

list_methods!(AccountsHandler, Account, "v2/accounts");

impl<T: TokenSource + ?Sized> AccountsHandler<'_, T> {
    /// `GET /v2/accounts/{fiscalyearId}`: one page of one fiscal year's chart.
    pub async fn list_for_year(
        &self,
        fiscal_year: FiscalYearId,
        query: &ListQuery,
    ) -> Result<Page<Account>, VismaError> {
        self.0
            .get_page(
                "/v2/accounts/{fiscalyearId}",
                format!("v2/accounts/{fiscal_year}"),
                query,
            )
            .await
    }

    /// `GET /v2/accounts/{fiscalyearId}`: the whole chart of one fiscal year.
    pub async fn list_all_for_year(
        &self,
        fiscal_year: FiscalYearId,
        query: &ListQuery,
    ) -> Result<AllPages<Account>, VismaError> {
        self.0
            .get_all(
                "/v2/accounts/{fiscalyearId}",
                format!("v2/accounts/{fiscal_year}"),
                query,
            )
            .await
    }
}

list_methods!(FiscalYearsHandler, FiscalYear, "v2/fiscalyears");
list_methods!(VatCodesHandler, VatCode, "v2/vatcodes");
list_methods!(TermsOfPaymentHandler, TermsOfPayment, "v2/termsofpayments");
