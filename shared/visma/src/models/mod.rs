//! Wire models (PascalCase JSON). Money and quantities are `Decimal` written as JSON numbers
//! with their exact digits; calendar dates are `NaiveDate`; `*Utc` fields are `DateTime<Utc>`.
//! One struct serves reading and writing: read-only fields are `Option` and Visma ignores them
//! on input. Only fields the integration uses (plus required ones) are modelled; unknown fields
//! are ignored when reading.

mod accounting;
mod articles;
mod company;
mod customers;
mod ids;
mod invoices;
pub mod serde_helpers;

pub use accounting::*;
pub use articles::*;
pub use company::*;
pub use customers::*;
pub use ids::*;
pub use invoices::*;
