//! Table-driven request validation (required fields, max lengths, types, decimals).
//!
//! Binding is case-insensitive on property names like ASP.NET's; unknown properties and
//! read-only properties are ignored. Every problem becomes a [`FieldError`]; the caller
//! answers 400 + 2000 if any were found.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::errors::FieldError;
use crate::util::{decimals, fmt_date, json_decimal, num, parse_date};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// String with max length (characters).
    Str(usize),
    Bool,
    Uuid,
    /// Decimal with at most `dp` decimals and optional integer bounds.
    Dec {
        dp: u32,
        min: Option<i64>,
        max: Option<i64>,
    },
    Int {
        min: i64,
        max: i64,
    },
    /// Date or date-time; normalised to `yyyy-MM-dd`.
    Date,
    Array,
    Object,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

pub const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

pub const fn s(max: usize) -> Kind {
    Kind::Str(max)
}

pub const MONEY: Kind = Kind::Dec {
    dp: 2,
    min: None,
    max: None,
};
pub const MONEY_POS: Kind = Kind::Dec {
    dp: 2,
    min: Some(0),
    max: None,
};
pub const FRACTION: Kind = Kind::Dec {
    dp: 4,
    min: Some(0),
    max: Some(1),
};

fn path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Case-insensitive view of a JSON object.
pub struct Input<'a> {
    by_lower: HashMap<String, &'a Value>,
}

impl<'a> Input<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Input {
            by_lower: obj.iter().map(|(k, v)| (k.to_lowercase(), v)).collect(),
        }
    }

    /// The value, with JSON null treated as absent.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.by_lower
            .get(&name.to_lowercase())
            .copied()
            .filter(|v| !v.is_null())
    }
}

/// Validates `fields` of `obj` and returns the accepted, normalised values (absent/null
/// fields are not in the result).
pub fn check(
    obj: &Map<String, Value>,
    fields: &[Field],
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Map<String, Value> {
    let input = Input::new(obj);
    let mut out = Map::new();
    for f in fields {
        let p = path(prefix, f.name);
        let Some(v) = input.get(f.name) else {
            if f.required {
                errors.push(FieldError::new(
                    &p,
                    "Required",
                    format!("The {} field is required.", f.name),
                ));
            }
            continue;
        };
        match check_value(v, f, &p, errors) {
            Some(norm) => {
                out.insert(f.name.to_string(), norm);
            }
            None => continue,
        }
    }
    out
}

fn type_error(p: &str, name: &str, what: &str, errors: &mut Vec<FieldError>) {
    errors.push(FieldError::new(
        p,
        "InvalidType",
        format!("The value of {name} is not a valid {what}."),
    ));
}

fn check_value(v: &Value, f: &Field, p: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    match f.kind {
        Kind::Str(max) => {
            let Some(sv) = v.as_str() else {
                type_error(p, f.name, "string", errors);
                return None;
            };
            if f.required && sv.trim().is_empty() {
                errors.push(FieldError::new(
                    p,
                    "Required",
                    format!("The {} field is required.", f.name),
                ));
                return None;
            }
            if sv.chars().count() > max {
                errors.push(FieldError::new(
                    p,
                    "MaxLength",
                    format!(
                        "The field {} must be a string with a maximum length of {max}.",
                        f.name
                    ),
                ));
                return None;
            }
            Some(Value::String(sv.to_string()))
        }
        Kind::Bool => {
            if v.is_boolean() {
                Some(v.clone())
            } else {
                type_error(p, f.name, "boolean", errors);
                None
            }
        }
        Kind::Uuid => match v.as_str().and_then(|x| uuid::Uuid::parse_str(x).ok()) {
            Some(u) => Some(Value::String(u.to_string())),
            None => {
                type_error(p, f.name, "GUID", errors);
                None
            }
        },
        Kind::Dec { dp, min, max } => {
            let Some(d) = json_decimal(v) else {
                type_error(p, f.name, "number", errors);
                return None;
            };
            if decimals(d) > dp {
                errors.push(FieldError::new(
                    p,
                    "Precision",
                    format!("The field {} may have at most {dp} decimals.", f.name),
                ));
                return None;
            }
            let below = min.is_some_and(|m| d < Decimal::from(m));
            let above = max.is_some_and(|m| d > Decimal::from(m));
            if below || above {
                errors.push(FieldError::new(
                    p,
                    "Range",
                    format!(
                        "The field {} must be between {} and {}.",
                        f.name,
                        min.map_or("-inf".to_string(), |m| m.to_string()),
                        max.map_or("inf".to_string(), |m| m.to_string())
                    ),
                ));
                return None;
            }
            Some(num(d))
        }
        Kind::Int { min, max } => {
            let Some(i) = v.as_i64() else {
                type_error(p, f.name, "integer", errors);
                return None;
            };
            if i < min || i > max {
                errors.push(FieldError::new(
                    p,
                    "Range",
                    format!("The field {} must be between {min} and {max}.", f.name),
                ));
                return None;
            }
            Some(Value::from(i))
        }
        Kind::Date => match v.as_str().and_then(parse_date) {
            Some(d) => Some(Value::String(fmt_date(d))),
            None => {
                type_error(p, f.name, "date", errors);
                None
            }
        },
        Kind::Array => {
            if v.is_array() {
                Some(v.clone())
            } else {
                type_error(p, f.name, "array", errors);
                None
            }
        }
        Kind::Object => {
            if v.is_object() {
                Some(v.clone())
            } else {
                type_error(p, f.name, "object", errors);
                None
            }
        }
    }
}

/// Parses a request body into a JSON object, or a 2000 error.
pub fn body_object(body: &[u8]) -> Result<Map<String, Value>, crate::errors::ApiError> {
    let parsed: Result<Value, _> = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Ok(Value::Object(Map::new()))
    } else {
        serde_json::from_slice(body)
    };
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(crate::errors::ApiError::field(
            "",
            "InvalidType",
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(crate::errors::ApiError::field(
            "",
            "InvalidJson",
            format!("The request body is not valid JSON: {e}"),
        )),
    }
}

/// Fills every field of the table that is missing in `out` with JSON null.
pub fn fill_nulls(out: &mut Map<String, Value>, fields: &[Field]) {
    for f in fields {
        out.entry(f.name.to_string()).or_insert(Value::Null);
    }
}
