//! The sync rules of the Aourly ↔ Visma integration, free of Lambda, AWS and HTTP.
//!
//! Types here are parsed at the edge and cannot be invalid once built.

mod aourly;
pub mod connection;
mod field;
pub mod item;
mod job;
pub mod mapping;
mod money;
pub mod outbound;
pub mod pull;
mod signature;
mod tenant;

pub use aourly::{
    compute_totals, parse_event, parse_event_value, AccountNumber, Address, AourlyId, CountryCode,
    CurrencyCode, Customer, Email, EventData, EventId, EventKind, InvalidEvent, InvalidValue,
    Invoice, InvoiceLine, Totals, Voucher, VoucherRow, WebhookEvent,
};
pub use field::FieldError;
pub use item::{ItemCode, ItemError, ItemStatus, Warning};
pub use job::{RecordKind, SyncJob, UnknownKind};
pub use money::{round2, AmountError, Money, Percent, Quantity, VatRate};
pub use signature::{sign, verify, SignatureError, SIGNATURE_HEADER, TOLERANCE_SECS};
pub use tenant::{InvalidTenantId, TenantId};
