//! Wire formats Visma uses inconsistently: calendar dates arrive with or without a time part,
//! and `*Utc` timestamps with up to 7 fractional digits, with or without `Z`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Parses `2026-03-30`, `2026-08-20T00:00:00` or `2026-06-27T17:34:17.672816Z` into the date
/// part as written (no time-zone shifting: Visma's dates are calendar dates).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(dt.date());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| dt.date_naive())
}

/// Parses an RFC 3339 timestamp, or one without an offset (taken as UTC).
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|dt| dt.and_utc())
}

/// Formats a timestamp the way Visma's filters and query parameters accept it.
pub fn format_utc(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `NaiveDate` written as `YYYY-MM-DD`, read from any of the three forms.
pub mod date {
    use super::*;

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let raw = String::deserialize(d)?;
        parse_date(&raw).ok_or_else(|| serde::de::Error::custom(format!("invalid date `{raw}`")))
    }
}

/// Optional variant of [`date`]; use with `default` and `skip_serializing_if`.
pub mod date_opt {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&d.format("%Y-%m-%d")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => parse_date(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date `{raw}`"))),
        }
    }
}

/// `DateTime<Utc>` written as RFC 3339 with `Z`, read with or without an offset.
pub mod utc {
    use super::*;

    pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_utc(dt))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        parse_utc(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp `{raw}`")))
    }
}

/// Optional variant of [`utc`]; use with `default` and `skip_serializing_if`.
pub mod utc_opt {
    use super::*;

    pub fn serialize<S: Serializer>(dt: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => s.serialize_str(&format_utc(dt)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => parse_utc(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp `{raw}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    #[test]
    fn dates_in_all_three_forms() {
        let expect = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap();
        assert_eq!(parse_date("2026-03-30"), Some(expect));
        assert_eq!(parse_date("2026-03-30T00:00:00"), Some(expect));
        assert_eq!(parse_date("2026-03-30T17:34:17.672816Z"), Some(expect));
        assert_eq!(parse_date("2026-03-30T17:34:17.1234567Z"), Some(expect));
        assert_eq!(parse_date("30/03/2026"), None);
    }

    #[test]
    fn utc_with_seven_digits_with_and_without_z() {
        let a = parse_utc("2024-06-01T07:12:44.1234567Z").unwrap();
        let b = parse_utc("2024-06-01T07:12:44.1234567").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.nanosecond(), 123_456_700);
        assert_eq!(a.day(), 1);
        let c = parse_utc("2024-06-01T09:12:44+02:00").unwrap();
        assert_eq!(c.hour(), 7);
        assert_eq!(
            format_utc(&parse_utc("2024-05-02T08:15:30Z").unwrap()),
            "2024-05-02T08:15:30Z"
        );
    }
}
