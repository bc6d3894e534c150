//! `$page`/`$pagesize`/`$filter`/`$orderby`/`$select` and the `Meta` envelope.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::errors::{ApiError, ApiResult};
use crate::filter;
use crate::util::fmt_utc;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;

/// Query parameters of a request, decoded (case-insensitive names).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = match raw {
            None | Some("") => Vec::new(),
            Some(q) => serde_urlencoded::from_str(q)
                .map_err(|e| ApiError::query(format!("malformed query string: {e}")))?,
        };
        Ok(Query { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn bool(&self, name: &str, default: bool) -> bool {
        match self.get(name) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => default,
        }
    }
}

fn parse_positive(q: &Query, name: &str, default: usize) -> ApiResult<usize> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ApiError::query(format!(
                "{name} must be a positive integer, got '{v}'"
            ))),
        },
    }
}

/// Applies filter/order/paging/select and builds the `{Meta, Data}` envelope.
///
/// `$pagesize` over 1000 is rejected with 400 + 6000 (the sandbox's choice; see docs).
pub fn list(items: Vec<Value>, q: &Query) -> ApiResult<Value> {
    let page = parse_positive(q, "$page", 1)?;
    let page_size = parse_positive(q, "$pagesize", DEFAULT_PAGE_SIZE)?;
    if page_size > MAX_PAGE_SIZE {
        return Err(ApiError::query(format!(
            "$pagesize {page_size} exceeds the maximum page size {MAX_PAGE_SIZE}"
        )));
    }
    let known: BTreeSet<String> = items
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys().cloned())
        .collect();
    let has_items = !items.is_empty();
    let check_prop = |p: &str| -> ApiResult<()> {
        let top = p.split('/').next().unwrap_or(p);
        if has_items && !known.contains(top) {
            return Err(ApiError::query(format!(
                "Could not find a property named '{top}'"
            )));
        }
        Ok(())
    };

    let mut items = items;
    if let Some(f) = q.get("$filter").filter(|f| !f.trim().is_empty()) {
        let expr = filter::parse(f).map_err(|e| ApiError::query(format!("$filter: {e}")))?;
        let mut props = BTreeSet::new();
        filter::properties(&expr, &mut props);
        for p in &props {
            check_prop(p)?;
        }
        items.retain(|v| filter::eval(&expr, v));
    }
    if let Some(o) = q.get("$orderby").filter(|o| !o.trim().is_empty()) {
        let mut keys = Vec::new();
        for part in o.split(',') {
            let mut words = part.split_whitespace();
            let Some(prop) = words.next() else {
                return Err(ApiError::query("empty $orderby clause"));
            };
            let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(x) => return Err(ApiError::query(format!("bad $orderby direction '{x}'"))),
            };
            check_prop(prop)?;
            keys.push((prop.to_string(), desc));
        }
        items.sort_by(|a, b| {
            for (k, desc) in &keys {
                let va = filter::lookup(a, k).unwrap_or(&Value::Null);
                let vb = filter::lookup(b, k).unwrap_or(&Value::Null);
                let o = filter::order_values(va, vb);
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let total = items.len();
    let pages = total.div_ceil(page_size);
    let start = (page - 1).saturating_mul(page_size);
    let mut data: Vec<Value> = items.into_iter().skip(start).take(page_size).collect();
    if let Some(sel) = q.get("$select").filter(|s| !s.trim().is_empty()) {
        let fields: Vec<&str> = sel.split(',').map(str::trim).collect();
        data = data
            .into_iter()
            .map(|v| {
                let mut m = Map::new();
                for f in &fields {
                    if let Some(x) = v.get(*f) {
                        m.insert((*f).to_string(), x.clone());
                    }
                }
                Value::Object(m)
            })
            .collect();
    }
    Ok(json!({
        "Meta": {
            "CurrentPage": page,
            "PageSize": page_size,
            "TotalNumberOfPages": pages,
            "TotalNumberOfResults": total,
            "ServerTimeUtc": fmt_utc(Utc::now()),
        },
        "Data": data,
    }))
}
