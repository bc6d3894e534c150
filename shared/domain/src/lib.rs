//! The sync rules of the Aourly ↔ Visma integration, free of Lambda, AWS and HTTP.
//!
//! Types here are parsed at the edge and cannot be invalid once built.

mod job;
mod tenant;

pub use job::{RecordKind, SyncJob};
pub use tenant::{InvalidTenantId, TenantId};
