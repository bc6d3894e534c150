//! Small helpers: timestamps, dates, decimals as JSON numbers, random tokens.

use std::str::FromStr;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rand::RngCore;
use rust_decimal::Decimal;
use serde_json::{Number, Value};

/// `2026-06-27T17:34:17.672816Z` (microseconds, trailing Z), as the sandbox answers `*Utc` fields.
pub fn fmt_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `2026-03-30`
pub fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Parses `yyyy-MM-dd`, `yyyy-MM-ddTHH:mm:ss[.fff]` and RFC 3339 with offset/Z.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        return Some(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    None
}

/// The calendar date of any accepted date/date-time form.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    parse_datetime(s).map(|t| t.date_naive())
}

/// A decimal from a JSON number (exact thanks to `arbitrary_precision`).
pub fn json_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .ok()
                .or_else(|| Decimal::from_scientific(&s).ok())
        }
        _ => None,
    }
}

/// Number of decimals actually used (trailing zeros do not count).
pub fn decimals(d: Decimal) -> u32 {
    d.normalize().scale()
}

/// A JSON number with exactly `dp` decimals (money: 2).
pub fn num_dp(d: Decimal, dp: u32) -> Value {
    let mut r = d.round_dp(dp);
    r.rescale(dp);
    num_str(&r.to_string())
}

/// A JSON number with the decimal's natural representation (trailing zeros dropped).
pub fn num(d: Decimal) -> Value {
    num_str(&d.normalize().to_string())
}

pub fn money(d: Decimal) -> Value {
    num_dp(d, 2)
}

fn num_str(s: &str) -> Value {
    Number::from_str(s)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Round half away from zero to 2 decimals (Visma rounds money this way).
pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// A random opaque token (256 bits, base64url).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON response with the given status and Visma's content type.
pub fn json_response(status: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Luhn (mod 10) check digit, used for OCR payment references.
pub fn luhn_digit(digits: &str) -> u32 {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - (sum % 10)) % 10
}

/// String value of a JSON field, if it is a string.
pub fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}
