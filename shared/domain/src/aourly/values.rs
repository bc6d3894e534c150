//! Small parsed values of the Aourly payloads: ids, codes, e-mail, account numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid value. The `Display` text is the message of a field error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

macro_rules! string_value {
    ($(#[$doc:meta])* $ty:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let check: fn(&str) -> Result<(), InvalidValue> = $check;
                check(raw).map(|()| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({:?})"), self.0)
            }
        }
    };
}

/// 1 to 64 characters, no control characters, no leading or trailing whitespace. Ids are not
/// trimmed silently: they key idempotency and links, so they must round-trip exactly.
fn check_id(raw: &str) -> Result<(), InvalidValue> {
    if raw.trim().is_empty() {
        return Err(InvalidValue("must not be empty"));
    }
    if raw.chars().count() > 64 {
        return Err(InvalidValue("must be at most 64 characters"));
    }
    if raw.trim() != raw {
        return Err(InvalidValue("must not start or end with whitespace"));
    }
    if raw.chars().any(char::is_control) {
        return Err(InvalidValue("must not contain control characters"));
    }
    Ok(())
}

string_value!(
    /// An Aourly record id (`inv_123`, `cus_9`, `vch_7`): see `check_id`.
    AourlyId,
    check_id
);

string_value!(
    /// An Aourly webhook event id (`evt_01J...`), the idempotency key of a delivery.
    EventId,
    check_id
);

string_value!(
    /// An ISO 3166-1 alpha-2 country code: exactly two letters A-Z (`SE`).
    CountryCode,
    |raw| {
        if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(())
        } else {
            Err(InvalidValue("must be a 2-letter country code in capitals, such as \"SE\""))
        }
    }
);

string_value!(
    /// An ISO 4217 currency code: exactly three letters A-Z (`SEK`).
    CurrencyCode,
    |raw| {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(())
        } else {
            Err(InvalidValue("must be a 3-letter currency code in capitals, such as \"SEK\""))
        }
    }
);

string_value!(
    /// An e-mail address that passes a basic sanity check: at most 255 characters (Visma's
    /// limit), no whitespace or control characters, one `@` with a non-empty local part and a
    /// domain that has a dot, neither at its start nor its end. Deliverability is not checked.
    Email,
    |raw| {
        const BAD: InvalidValue = InvalidValue("must be an e-mail address such as \"name@example.se\"");
        if raw.chars().count() > 255 {
            return Err(InvalidValue("must be at most 255 characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BAD);
        }
        let Some((local, domain)) = raw.split_once('@') else {
            return Err(BAD);
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(BAD);
        }
        Ok(())
    }
);

string_value!(
    /// A ledger account number (BAS: four digits, `"1930"`). Visma accepts 1 to 9999999999, so
    /// this is 1 to 10 ASCII digits without a leading zero (a leading zero would not survive
    /// Visma's integer field, so two strings could name one account).
    AccountNumber,
    |raw| {
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        if !digits || raw.len() > 10 {
            return Err(InvalidValue("must be an account number of 1 to 10 digits, such as \"1930\""));
        }
        if raw.starts_with('0') {
            return Err(InvalidValue("must not start with 0"));
        }
        Ok(())
    }
);

impl AccountNumber {
    /// The number as Visma's `AccountNumber` (an integer).
    pub fn as_u64(&self) -> u64 {
        // Up to 10 digits without sign always fits; parse() guarantees the digits.
        self.0.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["inv_123", "evt_01J", "a", &"x".repeat(64), "ö-ä id"] {
            assert_eq!(AourlyId::parse(ok).unwrap().as_str(), ok);
            assert!(EventId::parse(ok).is_ok());
        }
        for bad in ["", "   ", " inv", "inv ", "in\nv", &"x".repeat(65)] {
            assert!(AourlyId::parse(bad).is_err(), "{bad:?}");
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<AourlyId>("\"\"").is_err());
    }

    #[test]
    fn codes() {
        assert!(CountryCode::parse("SE").is_ok());
        for bad in ["se", "S", "SWE", "S1", "ÅÄ", ""] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
        assert!(CurrencyCode::parse("SEK").is_ok());
        for bad in ["sek", "SE", "SEKK", "SE1", ""] {
            assert!(CurrencyCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        for ok in ["faktura@exempel.se", "a.b+c@sub.example.co.uk"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "faktura",
            "@exempel.se",
            "faktura@",
            "faktura@exempel",
            "faktura@.se",
            "faktura@exempel.",
            "fak tura@exempel.se",
            "a@b@c.se",
            "a@b..se",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_numbers() {
        assert_eq!(AccountNumber::parse("1930").unwrap().as_u64(), 1930);
        assert_eq!(
            AccountNumber::parse("9999999999").unwrap().as_u64(),
            9_999_999_999
        );
        assert_eq!(AccountNumber::parse("1").unwrap().as_u64(), 1);
        for bad in ["", "0", "0193", "19 30", "19a0", "-1930", "12345678901"] {
            assert!(AccountNumber::parse(bad).is_err(), "{bad}");
        }
    }
}
