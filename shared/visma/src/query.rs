//! Typed list parameters, written as Visma's OData-style `$`-prefixed query names.

use chrono::{DateTime, Utc};

use crate::models::serde_helpers::format_utc;

/// Parameters shared by list endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// `$filter`, an OData expression, e.g. `ChangedUtc gt 2024-05-01T00:00:00Z`.
    pub filter: Option<String>,
    /// `$page`, 1-based.
    pub page: Option<u32>,
    /// `$pagesize`, default 50 server-side, max 1000.
    pub page_size: Option<u32>,
    /// `$orderby`, a property name.
    pub orderby: Option<String>,
    /// `modifiedSinceUtc`: only honoured by `GET /v2/customerinvoices`.
    pub modified_since: Option<DateTime<Utc>>,
}

impl ListQuery {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    pub fn orderby(mut self, orderby: impl Into<String>) -> Self {
        self.orderby = Some(orderby.into());
        self
    }

    pub fn modified_since(mut self, since: DateTime<Utc>) -> Self {
        self.modified_since = Some(since);
        self
    }

    /// `$filter` for records changed after `since` (`ChangedUtc` on customers, articles and
    /// codings; use `ModifiedUtc` via [`ListQuery::filter`] elsewhere).
    pub fn changed_since(self, since: DateTime<Utc>) -> Self {
        self.filter(format!("ChangedUtc gt {}", format_utc(&since)))
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            out.push(("$filter", f.clone()));
        }
        if let Some(p) = self.page {
            out.push(("$page", p.to_string()));
        }
        if let Some(s) = self.page_size {
            out.push(("$pagesize", s.to_string()));
        }
        if let Some(o) = &self.orderby {
            out.push(("$orderby", o.clone()));
        }
        if let Some(m) = &self.modified_since {
            out.push(("modifiedSinceUtc", format_utc(m)));
        }
        out
    }
}

/// Quotes a string literal for a `$filter` expression (single quotes, doubled inside).
pub fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Builds a query string keeping `$` literal in names and percent-encoding everything but
/// unreserved characters in values (spaces as `%20`).
pub(crate) fn encode_query(pairs: &[(&'static str, String)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_uses_dollar_names_and_encodes_values() {
        let since = "2024-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let q = ListQuery::new()
            .filter(format!("CustomerNumber eq {}", odata_string("O'Brien 1")))
            .page(2)
            .page_size(1000)
            .orderby("Name")
            .modified_since(since);
        assert_eq!(
            encode_query(&q.pairs()),
            "$filter=CustomerNumber%20eq%20%27O%27%27Brien%201%27&$page=2&$pagesize=1000\
             &$orderby=Name&modifiedSinceUtc=2024-05-01T00%3A00%3A00Z"
        );
    }
}
