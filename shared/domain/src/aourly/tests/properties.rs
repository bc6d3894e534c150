//! Properties of totals, vouchers and money strings.

use super::*;

/// One line as (quantity cents, unit price cents, discount hundredths of a percent, rate).
type RawLineCents = (i64, i64, i64, &'static str);

fn line_strategy() -> impl Strategy<Value = RawLineCents> {
    (
        1_i64..=1_000_000,
        0_i64..=100_000_000,
        prop_oneof![Just(0_i64), 0_i64..=10_000],
        prop::sample::select(vec!["25", "12", "6", "0"]),
    )
}

fn lines_json(lines: &[RawLineCents], sign: i64) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|(q, p, disc, rate)| {
                json!({"description": "x", "quantity": Decimal::new(q * sign, 2).to_string(),
                       "unit_price": Decimal::new(*p, 2).to_string(), "vat_rate": rate,
                       "discount_percent": Decimal::new(*disc, 2).to_string()})
            })
            .collect(),
    )
}

/// Visma's rule, independently, in integers: amounts in cents, rounding half away from zero.
fn reference_totals(lines: &[RawLineCents], sign: i64) -> (i128, i128, i128) {
    fn div_round(n: i128, d: i128) -> i128 {
        let (q, r) = (n / d, n % d);
        if 2 * r.abs() >= d {
            q + n.signum()
        } else {
            q
        }
    }
    let mut net = 0;
    let mut by_rate = std::collections::BTreeMap::<i128, i128>::new();
    for (q, p, disc, rate) in lines {
        // q, p in cents, (10000 − disc) in hundredths of a percent: 10^-8 units.
        let exact = i128::from(q * sign) * i128::from(*p) * i128::from(10_000 - disc);
        let cents = div_round(exact, 1_000_000);
        net += cents;
        *by_rate.entry(rate.parse().unwrap()).or_default() += cents;
    }
    let vat = by_rate
        .iter()
        .map(|(rate, cents)| div_round(cents * rate, 100))
        .sum::<i128>();
    (net, vat, net + vat)
}

/// Money always has scale 2, so its mantissa is in cents.
fn cents(m: Money) -> i128 {
    assert_eq!(m.amount().scale(), 2);
    m.amount().mantissa()
}

fn invoice_with(lines: &[RawLineCents], credit: bool) -> (Value, Totals) {
    let sign = if credit { -1 } else { 1 };
    let mut body = if credit {
        credit_event()
    } else {
        invoice_event()
    };
    body["data"]["invoice"]["lines"] = lines_json(lines, sign);
    // Build the lines through the parser of single values, then total them.
    let parsed: Vec<InvoiceLine> = lines
        .iter()
        .map(|(q, p, disc, rate)| InvoiceLine {
            description: "x".into(),
            quantity: Quantity::parse(&Decimal::new(q * sign, 2).to_string()).unwrap(),
            unit: None,
            unit_price: Money::parse(&Decimal::new(*p, 2).to_string()).unwrap(),
            vat_rate: VatRate::parse(rate).unwrap(),
            discount_percent: Percent::parse(&Decimal::new(*disc, 2).to_string()).unwrap(),
        })
        .collect();
    let totals = compute_totals(&parsed).unwrap();
    body["data"]["invoice"]["totals"] = serde_json::to_value(totals).unwrap();
    (body, totals)
}

proptest! {
    #[test]
    fn computed_totals_always_validate(lines in prop::collection::vec(line_strategy(), 1..8),
                                       credit in any::<bool>()) {
        let (body, totals) = invoice_with(&lines, credit);
        let (net, vat, gross) = reference_totals(&lines, if credit { -1 } else { 1 });
        prop_assert_eq!((cents(totals.net), cents(totals.vat), cents(totals.gross)), (net, vat, gross));
        let event = parse(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let invoice = match event.data() {
            EventData::InvoiceCreated(i) | EventData::InvoiceCredited { invoice: i, .. } => i,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(invoice.totals(), &totals);
    }

    #[test]
    fn a_total_off_by_one_cent_is_refused(lines in prop::collection::vec(line_strategy(), 1..8),
                                          which in prop::sample::select(vec!["net", "vat", "gross"]),
                                          up in any::<bool>(),
                                          credit in any::<bool>()) {
        let (mut body, _) = invoice_with(&lines, credit);
        let given = Decimal::from_str_exact(body["data"]["invoice"]["totals"][which].as_str().unwrap()).unwrap();
        let cent = Decimal::new(if up { 1 } else { -1 }, 2);
        body["data"]["invoice"]["totals"][which] = json!((given + cent).to_string());
        let err = parse(&body).expect_err("must be refused");
        let field = format!("data.invoice.totals.{which}");
        prop_assert!(
            err.errors.iter().any(|e| e.field == field && e.message.contains("expected")),
            "{}", err
        );
    }

    #[test]
    fn balanced_vouchers_pass_and_any_cent_breaks_them(
        debits in prop::collection::vec(100_i64..=100_000_000, 1..5),
        credit_rows in 1_usize..=4,
        change_row in any::<prop::sample::Index>(),
        change_zero_side in any::<bool>(),
        up in any::<bool>(),
    ) {
        let total: i64 = debits.iter().sum();
        let share = total / credit_rows as i64;
        let mut credits = vec![share; credit_rows];
        credits[0] += total - share * credit_rows as i64;
        let mut rows: Vec<(i64, i64)> = debits.iter().map(|d| (*d, 0)).collect();
        rows.extend(credits.iter().map(|c| (0, *c)));
        let to_json = |rows: &[(i64, i64)]| Value::Array(rows.iter().enumerate().map(|(i, (d, c))| json!({
            "account": (1000 + i).to_string(), "debit": Decimal::new(*d, 2).to_string(),
            "credit": Decimal::new(*c, 2).to_string(), "text": null})).collect());

        let mut body = voucher_event();
        body["data"]["voucher"]["rows"] = to_json(&rows);
        let event = parse(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let EventData::VoucherCreated(voucher) = event.data() else { unreachable!() };
        prop_assert_eq!(voucher.total(), Decimal::new(total, 2));

        let i = change_row.index(rows.len());
        let delta = if up { 1 } else { -1 };
        let (d, c) = &mut rows[i];
        let side = match (change_zero_side, *d == 0) {
            (false, false) | (true, true) => d,
            (false, true) | (true, false) => c,
        };
        *side += if *side == 0 { 1 } else { delta };
        body["data"]["voucher"]["rows"] = to_json(&rows);
        let err = parse(&body).expect_err("a one-cent change must be refused");
        let row_field = format!("data.voucher.rows[{i}]");
        prop_assert!(
            err.error_at("data.voucher.rows").is_some() || err.error_at(&row_field).is_some(),
            "{}", err
        );
    }

    #[test]
    fn money_strings_round_trip(cents in -999_999_999_999_999_i64..=999_999_999_999_999, short in any::<bool>()) {
        let value = Decimal::new(cents, 2);
        let text = if short { value.normalize().to_string() } else { value.to_string() };
        let money = Money::parse(&text).unwrap();
        prop_assert_eq!(money.amount(), value);
        prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
        prop_assert_eq!(Money::parse(&format!("{value}1")), Err(crate::AmountError::TooManyDecimals));
    }
}
