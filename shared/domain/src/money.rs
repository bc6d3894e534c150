//! Amounts, quantities, percentages and VAT rates, as exact decimals (integration guide "Webhooks from Aourly").
//!
//! Every value here is parsed from a decimal *string* (`"950.00"`, `"0"`, `"-12.50"`): an
//! optional leading `-`, one or more digits, and optionally a `.` followed by one or two
//! digits. Exponents, `+`, spaces, a bare `.5` or `5.`, and more than two decimals (also
//! `"1.500"`, which is three decimals as written) are refused. Nothing here is ever a float.
//!
//! Ranges are bounded so that the invoice arithmetic of [`crate::compute_totals`] is always
//! exact in a 96-bit [`Decimal`]: money below 10^13 in size (ten thousand billion), quantities
//! below 10^7. `quantity × unit_price × (100 − discount)` then needs at most 28 digits.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Rounds to 2 decimals, half away from zero (0.125 → 0.13, −0.125 → −0.13), as Visma does.
pub fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Why a string is not a valid amount. The `Display` text is the message of a field error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must not be empty")]
    Empty,
    #[error("must be a decimal string such as \"950.00\" (digits, an optional leading '-', at most one '.')")]
    NotADecimal,
    #[error("must have at most 2 decimals")]
    TooManyDecimals,
    #[error("is too large")]
    TooLarge,
    #[error("must be between 0 and 100")]
    PercentOutOfRange,
    #[error("must be one of the VAT rates \"25\", \"12\", \"6\" or \"0\"")]
    NotAVatRate,
}

/// Parses the strict decimal-string grammar of the module docs, with at most `max_int_digits`
/// significant digits before the point. Negative zero comes back as plain zero.
fn parse_decimal(raw: &str, max_int_digits: usize) -> Result<Decimal, AmountError> {
    if raw.is_empty() {
        return Err(AmountError::Empty);
    }
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::NotADecimal);
    }
    if frac.is_some_and(|f| f.len() > 2) {
        return Err(AmountError::TooManyDecimals);
    }
    if int.trim_start_matches('0').len() > max_int_digits {
        return Err(AmountError::TooLarge);
    }
    let value = Decimal::from_str_exact(raw).map_err(|_| AmountError::TooLarge)?;
    Ok(if value.is_zero() {
        Decimal::new(0, value.scale())
    } else {
        value
    })
}

macro_rules! string_serde {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        /// Deserializes from a string only: a JSON number is refused, as the contract asks.
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $ty::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $ty {
            type Err = AmountError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                $ty::parse(raw)
            }
        }
    };
}

/// A money amount with at most 2 decimals, always held (and printed) with exactly 2:
/// `"0"` becomes `0.00`. May be negative (credit notes, corrections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(Decimal);

impl Money {
    /// Largest number of digits before the point.
    pub const MAX_INT_DIGITS: usize = 13;
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        parse_decimal(raw, Self::MAX_INT_DIGITS).map(Self::scaled)
    }

    /// Accepts a computed value when it has at most 2 decimals (trailing zeros aside) and fits.
    pub fn from_decimal(value: Decimal) -> Result<Self, AmountError> {
        let normal = value.normalize();
        if normal.scale() > 2 {
            return Err(AmountError::TooManyDecimals);
        }
        if normal.abs() >= Decimal::from_i128_with_scale(10_i128.pow(13), 0) {
            return Err(AmountError::TooLarge);
        }
        Ok(Self::scaled(normal))
    }

    fn scaled(mut value: Decimal) -> Self {
        if value.is_zero() {
            value = Decimal::ZERO;
        }
        value.rescale(2);
        Money(value)
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

string_serde!(Money);

/// A quantity with at most 2 decimals (`"12.5"` hours), below 10^7 in size. Its sign is
/// checked where it matters (positive on `invoice.created`, negative on `invoice.credited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(Decimal);

impl Quantity {
    pub const MAX_INT_DIGITS: usize = 7;

    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        parse_decimal(raw, Self::MAX_INT_DIGITS).map(Quantity)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }

    pub fn is_positive(&self) -> bool {
        self.0 > Decimal::ZERO
    }

    pub fn is_negative(&self) -> bool {
        self.0 < Decimal::ZERO
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

string_serde!(Quantity);

/// A discount percentage from 0 to 100 inclusive, at most 2 decimals (`"12.5"` = 12.5 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent(Decimal);

impl Percent {
    pub const ZERO: Percent = Percent(Decimal::ZERO);

    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        let value = parse_decimal(raw, 3)
            .map_err(|e| match e {
                AmountError::TooLarge => AmountError::PercentOutOfRange,
                other => other,
            })?
            .normalize();
        if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
            return Err(AmountError::PercentOutOfRange);
        }
        Ok(Percent(value))
    }

    /// The percentage, 0 to 100.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// The fraction Visma wants (`DiscountPercentage`), 0 to 1 with at most 4 decimals:
    /// 12.5 % → 0.125. Exact, since a percentage has at most 2 decimals.
    pub fn as_fraction(&self) -> Decimal {
        (self.0 / Decimal::ONE_HUNDRED).round_dp(4).normalize()
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

string_serde!(Percent);

/// A Swedish VAT rate. The account mapping (integration guide "Management API") is keyed by the canonical strings
/// `"25"`, `"12"`, `"6"` and `"0"`, which is also how a rate is printed and serialized.
///
/// Decision: parsing also accepts the same rate written with decimals (`"25.00"`, `"6.0"`),
/// since it is the same number and some systems always print two decimals; it still maps to
/// the one canonical key, so no mapping entry can be duplicated. Anything else (`"24"`,
/// `"25.001"`, a JSON number) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VatRate {
    Zero,
    Six,
    Twelve,
    TwentyFive,
}

impl VatRate {
    pub const ALL: [VatRate; 4] = [
        VatRate::TwentyFive,
        VatRate::Twelve,
        VatRate::Six,
        VatRate::Zero,
    ];

    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        let value = parse_decimal(raw, 3).map_err(|e| match e {
            AmountError::Empty => AmountError::Empty,
            _ => AmountError::NotAVatRate,
        })?;
        Self::ALL
            .into_iter()
            .find(|rate| rate.percent() == value)
            .ok_or(AmountError::NotAVatRate)
    }

    /// The canonical key: `"25"`, `"12"`, `"6"` or `"0"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            VatRate::TwentyFive => "25",
            VatRate::Twelve => "12",
            VatRate::Six => "6",
            VatRate::Zero => "0",
        }
    }

    /// The rate in percent (25, 12, 6 or 0).
    pub fn percent(&self) -> Decimal {
        Decimal::from(match self {
            VatRate::TwentyFive => 25,
            VatRate::Twelve => 12,
            VatRate::Six => 6,
            VatRate::Zero => 0,
        })
    }
}

impl fmt::Display for VatRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

string_serde!(VatRate);

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn round2_is_half_away_from_zero() {
        assert_eq!(round2(d("0.125")), d("0.13"));
        assert_eq!(round2(d("-0.125")), d("-0.13"));
        assert_eq!(round2(d("2.675")), d("2.68"));
        assert_eq!(round2(d("-2.675")), d("-2.68"));
        assert_eq!(round2(d("0.124999")), d("0.12"));
        assert_eq!(round2(d("-0.005")), d("-0.01"));
        assert_eq!(round2(d("0.005")), d("0.01"));
        assert_eq!(round2(d("1.5")), d("1.50"));
    }

    #[test]
    fn money_parses_the_contract_forms() {
        assert_eq!(Money::parse("950.00").unwrap().amount(), d("950.00"));
        assert_eq!(Money::parse("0").unwrap().to_string(), "0.00");
        assert_eq!(Money::parse("-0").unwrap().to_string(), "0.00");
        assert_eq!(Money::parse("-12.50").unwrap().to_string(), "-12.50");
        assert_eq!(Money::parse("12.5").unwrap().to_string(), "12.50");
        assert!(Money::parse("-12.50").unwrap().is_negative());
        assert!(!Money::parse("-0.00").unwrap().is_negative());
        assert_eq!(
            Money::parse("9999999999999.99").unwrap().to_string(),
            "9999999999999.99"
        );
    }

    #[test]
    fn money_refuses_everything_else() {
        use AmountError::*;
        for (bad, why) in [
            ("", Empty),
            ("1.234", TooManyDecimals),
            ("1.500", TooManyDecimals),
            ("1e3", NotADecimal),
            ("1E3", NotADecimal),
            ("+1", NotADecimal),
            (" 1", NotADecimal),
            ("1 ", NotADecimal),
            (".5", NotADecimal),
            ("5.", NotADecimal),
            ("-", NotADecimal),
            ("1,00", NotADecimal),
            ("--1", NotADecimal),
            ("NaN", NotADecimal),
            ("0x10", NotADecimal),
            ("١٢", NotADecimal),
            ("10000000000000", TooLarge),
        ] {
            assert_eq!(Money::parse(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn money_serde_is_string_only() {
        let m: Money = serde_json::from_str("\"950.5\"").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"950.50\"");
        assert!(serde_json::from_str::<Money>("950.5").is_err());
        assert!(serde_json::from_str::<Money>("\"950.555\"").is_err());
    }

    #[test]
    fn money_from_decimal_checks_scale_and_range() {
        assert_eq!(Money::from_decimal(d("1.500")).unwrap().to_string(), "1.50");
        assert_eq!(
            Money::from_decimal(d("1.505")),
            Err(AmountError::TooManyDecimals)
        );
        assert_eq!(
            Money::from_decimal(d("10000000000000")),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn quantity_keeps_its_sign_and_two_decimals() {
        assert_eq!(Quantity::parse("12.5").unwrap().value(), d("12.5"));
        assert!(Quantity::parse("-1").unwrap().is_negative());
        assert!(Quantity::parse("0.01").unwrap().is_positive());
        assert!(!Quantity::parse("0").unwrap().is_positive());
        assert_eq!(Quantity::parse("1.001"), Err(AmountError::TooManyDecimals));
        assert_eq!(Quantity::parse("10000000"), Err(AmountError::TooLarge));
        assert_eq!(
            serde_json::to_string(&Quantity::parse("12.5").unwrap()).unwrap(),
            "\"12.5\""
        );
    }

    #[test]
    fn percent_is_0_to_100_and_converts_to_a_fraction() {
        assert_eq!(Percent::parse("0").unwrap().as_fraction(), d("0"));
        assert_eq!(Percent::parse("10").unwrap().as_fraction(), d("0.1"));
        assert_eq!(Percent::parse("12.5").unwrap().as_fraction(), d("0.125"));
        assert_eq!(Percent::parse("33.33").unwrap().as_fraction(), d("0.3333"));
        assert_eq!(Percent::parse("100").unwrap().as_fraction(), d("1"));
        assert_eq!(
            Percent::parse("100.01"),
            Err(AmountError::PercentOutOfRange)
        );
        assert_eq!(Percent::parse("-1"), Err(AmountError::PercentOutOfRange));
        assert_eq!(Percent::parse("5000"), Err(AmountError::PercentOutOfRange));
        assert_eq!(Percent::parse("1.234"), Err(AmountError::TooManyDecimals));
    }

    #[test]
    fn vat_rates_are_the_four_swedish_ones() {
        assert_eq!(VatRate::parse("25"), Ok(VatRate::TwentyFive));
        assert_eq!(VatRate::parse("12"), Ok(VatRate::Twelve));
        assert_eq!(VatRate::parse("6"), Ok(VatRate::Six));
        assert_eq!(VatRate::parse("0"), Ok(VatRate::Zero));
        assert_eq!(VatRate::parse("25.00"), Ok(VatRate::TwentyFive));
        assert_eq!(VatRate::parse("6.0").unwrap().as_str(), "6");
        for bad in ["24", "25.001", "-25", "25%", "0.25", "abc"] {
            assert_eq!(VatRate::parse(bad), Err(AmountError::NotAVatRate), "{bad}");
        }
        assert_eq!(VatRate::parse(""), Err(AmountError::Empty));
        assert_eq!(
            serde_json::to_string(&VatRate::parse("25.00").unwrap()).unwrap(),
            "\"25\""
        );
        assert!(serde_json::from_str::<VatRate>("25").is_err());
        assert_eq!(VatRate::TwentyFive.percent(), d("25"));
    }

    proptest::proptest! {
        /// round2 against an integer model (issue 8, Visma's 2-decimal rule): any value with up
        /// to 8 decimals rounds to the nearest cent, halves away from zero, and symmetrically.
        #[test]
        fn round2_matches_an_integer_model(units in -10_i64.pow(17)..=10_i64.pow(17), scale in 0_u32..=8) {
            let value = Decimal::new(units, scale);
            let rounded = round2(value);
            proptest::prop_assert!(rounded.scale() <= 2);
            // The model: in units of 10^-scale, a cent is 10^(scale-2) units (scale >= 2).
            if scale >= 2 {
                let cent = 10_i128.pow(scale - 2);
                let n = i128::from(units);
                let (q, r) = (n / cent, n % cent);
                let cents = if 2 * r.abs() >= cent { q + n.signum() } else { q };
                proptest::prop_assert_eq!(rounded, Decimal::from_i128_with_scale(cents, 2));
            } else {
                proptest::prop_assert_eq!(rounded, value);
            }
            proptest::prop_assert_eq!(round2(-value), -rounded);
        }
    }
}
