//! Visma's list envelope and a helper to read every page.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Largest `$pagesize` Visma accepts; used when walking all pages to save calls (and quota).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Safety stop for page walks, so a misbehaving server cannot loop us forever.
pub(crate) const MAX_PAGES: u32 = 10_000;

/// One page of a list endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    pub meta: PaginationMeta,
    pub data: Vec<T>,
}

/// `PaginationMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PaginationMeta {
    pub current_page: u32,
    pub page_size: u32,
    pub total_number_of_pages: u32,
    pub total_number_of_results: u64,
    /// Server clock when the page was produced; the next incremental-pull watermark.
    #[serde(with = "crate::models::serde_helpers::utc")]
    pub server_time_utc: DateTime<Utc>,
}

/// Every item of a list, plus the first page's `ServerTimeUtc`.
#[derive(Clone, Debug, PartialEq)]
pub struct AllPages<T> {
    pub items: Vec<T>,
    /// Taken from the first page, i.e. before any item was read: safe as the next watermark
    /// (overlap a little and de-duplicate on `Id`).
    pub server_time_utc: DateTime<Utc>,
}
