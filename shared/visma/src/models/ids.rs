//! Typed ids so a customer id cannot be passed where an article id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub const fn new(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    /// `CustomerApi.Id`.
    CustomerId,
    /// `ArticleApi.Id`.
    ArticleId,
    /// `ArticleAccountCodingAPI.Id` (an article's `CodingId`).
    ArticleCodingId,
    /// `UnitApi.Id`.
    UnitId,
    /// `CustomerInvoiceApi.Id`.
    InvoiceId,
    /// `CustomerInvoiceDraftApi.Id`.
    InvoiceDraftId,
    /// `VoucherApi.Id`.
    VoucherId,
    /// `FiscalYearApi.Id`.
    FiscalYearId,
    /// `VatCodeApi.Id`.
    VatCodeId,
    /// `TermsOfPaymentApi.Id`.
    TermsOfPaymentId,
);
