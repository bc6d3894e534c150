use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn ts(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn year(id: &str, start: &str, end: &str, locked: bool) -> FiscalYear {
    FiscalYear {
        id: id.into(),
        start_date: d(start),
        end_date: d(end),
        locked,
    }
}

fn voucher(id: &str, modified: &str, voucher_type: i32) -> PulledVoucher {
    PulledVoucher {
        id: id.into(),
        number: None,
        date: d("2026-03-01"),
        text: "x".into(),
        voucher_type: Some(voucher_type),
        rows: vec![],
        modified_at: ts(modified),
        changed_at: ts(modified),
        origin: VoucherOrigin::Visma,
    }
}

#[test]
fn open_years_are_unlocked_and_not_older_than_last_year() {
    let today = d("2026-05-10");
    assert!(is_open(
        &year("a", "2026-01-01", "2026-12-31", false),
        today
    ));
    assert!(is_open(
        &year("b", "2025-01-01", "2025-12-31", false),
        today
    ));
    assert!(is_open(
        &year("f", "2027-01-01", "2027-12-31", false),
        today
    ));
    assert!(!is_open(
        &year("c", "2025-01-01", "2025-12-31", true),
        today
    ));
    assert!(!is_open(
        &year("d", "2024-01-01", "2024-12-31", false),
        today
    ));
    // A broken year ending in last year's first months is still open.
    assert!(is_open(
        &year("e", "2024-07-01", "2025-06-30", false),
        today
    ));
}

#[test]
fn charts_are_pulled_in_full_once_then_incrementally_while_open() {
    let today = d("2026-05-10");
    let years = vec![
        year("old", "2024-01-01", "2024-12-31", false),
        year("locked", "2025-01-01", "2025-12-31", true),
        year("now", "2026-01-01", "2026-12-31", false),
    ];
    let mark = ts("2026-05-10T08:00:00Z");
    let mut marks = BTreeMap::new();
    assert_eq!(
        charts_to_pull(&years, &marks, today),
        vec![
            ("old".into(), ChartPull::Full),
            ("locked".into(), ChartPull::Full),
            ("now".into(), ChartPull::Full)
        ]
    );
    for y in &years {
        marks.insert(y.id.clone(), mark);
    }
    assert_eq!(
        charts_to_pull(&years, &marks, today),
        vec![("now".into(), ChartPull::ChangedSince(mark - OVERLAP))]
    );
}

#[test]
fn the_current_year_contains_today_or_is_the_latest_started() {
    let years = vec![
        year("a", "2025-01-01", "2025-12-31", true),
        year("b", "2026-01-01", "2026-12-31", false),
    ];
    assert_eq!(
        current_fiscal_year(&years, d("2026-02-01")).unwrap().id,
        "b"
    );
    assert_eq!(
        current_fiscal_year(&years, d("2025-02-01")).unwrap().id,
        "a"
    );
    assert_eq!(
        current_fiscal_year(&years, d("2027-02-01")).unwrap().id,
        "b"
    );
    assert_eq!(
        current_fiscal_year(&years, d("2020-02-01")).unwrap().id,
        "a"
    );
    assert!(current_fiscal_year(&[], d("2020-02-01")).is_none());
}

#[test]
fn vouchers_are_de_duplicated_by_id_across_the_overlap() {
    let stored_at = ts("2026-05-10T08:00:05Z");
    let known: HashMap<_, _> = [("seen".to_owned(), (ts("2026-05-10T07:59:00Z"), stored_at))]
        .into_iter()
        .collect();
    let pulled = vec![
        voucher("seen", "2026-05-10T07:59:00Z", 2),
        voucher("new", "2026-05-10T08:01:00Z", 2),
        voucher("new", "2026-05-10T08:01:00Z", 2),
    ];
    let writes = plan_voucher_writes(pulled, &known);
    assert_eq!(writes.len(), 1);
    assert!(matches!(&writes[0], VoucherWrite::New(v) if v.id == "new"));

    let newer = vec![voucher("seen", "2026-05-10T08:03:00Z", 2)];
    let writes = plan_voucher_writes(newer, &known);
    assert!(matches!(
        &writes[0],
        VoucherWrite::Changed { previous_changed_at, .. } if *previous_changed_at == stored_at
    ));
}

#[test]
fn our_own_and_invoice_vouchers_are_recognised() {
    let pushed: HashSet<String> = ["p1".to_owned()].into_iter().collect();
    assert_eq!(
        voucher_origin("p1", Some(2), None, &pushed),
        VoucherOrigin::Pushed
    );
    assert_eq!(
        voucher_origin("x", Some(14), None, &pushed),
        VoucherOrigin::Invoice
    );
    assert_eq!(
        voucher_origin("x", Some(15), None, &pushed),
        VoucherOrigin::Invoice
    );
    assert_eq!(
        voucher_origin("x", Some(2), None, &pushed),
        VoucherOrigin::Visma
    );
    assert_eq!(
        voucher_origin("x", None, Some("Hyra november"), &pushed),
        VoucherOrigin::Visma
    );
}

#[test]
fn a_voucher_tagged_by_a_push_whose_answer_was_lost_is_ours() {
    let none = HashSet::new();
    let tagged = format!("Utlägg tåg {}", pushed_voucher_tag("vch_7"));
    assert_eq!(
        voucher_origin("x", Some(2), Some(&tagged), &none),
        VoucherOrigin::Pushed
    );
    for text in [
        "Utlägg [Aourly vch_7] rättat",
        "[Aourly]",
        "[Aourly ]",
        "Aourly vch_7",
    ] {
        assert_eq!(
            voucher_origin("x", Some(2), Some(text), &none),
            VoucherOrigin::Visma,
            "{text}"
        );
    }
}

#[test]
fn changes_carried_over_merge_with_the_next_pull_s() {
    let mut carried = PullChanges {
        fiscal_years: true,
        accounts: vec!["fy1".into()],
        vouchers_for_aourly: 2,
        ..PullChanges::default()
    };
    assert!(!carried.is_empty());
    carried.merge(&PullChanges {
        accounts: vec!["fy1".into(), "fy2".into()],
        codings: true,
        vouchers_for_aourly: 3,
        ..PullChanges::default()
    });
    assert_eq!(
        carried,
        PullChanges {
            fiscal_years: true,
            accounts: vec!["fy1".into(), "fy2".into()],
            codings: true,
            vat_codes: false,
            vouchers_for_aourly: 5,
        }
    );
    assert!(PullChanges::default().is_empty());
}

#[test]
fn a_pull_announces_only_what_changed() {
    assert!(events_for(&PullChanges::default()).is_empty());
    let all = PullChanges {
        fiscal_years: true,
        accounts: vec!["fy".into()],
        codings: false,
        vat_codes: false,
        vouchers_for_aourly: 2,
    };
    assert_eq!(
        events_for(&all),
        vec![
            OutboundType::AccountsUpdated,
            OutboundType::FiscalYearsUpdated,
            OutboundType::VouchersPulled
        ]
    );
    let codings_only = PullChanges {
        codings: true,
        ..PullChanges::default()
    };
    assert!(events_for(&codings_only).is_empty());
}

#[test]
fn chart_merges_report_real_changes_only() {
    let a = |n: &str, name: &str| Account {
        number: n.into(),
        name: name.into(),
        vat_code: None,
        active: true,
    };
    let stored = vec![a("1930", "Bank"), a("3001", "Tjänster")];
    let (same, changed) = merge_chart(&stored, vec![a("1930", "Bank")]);
    assert!(!changed);
    assert_eq!(same, stored);
    let (merged, changed) = merge_chart(&stored, vec![a("1000", "Ny"), a("100000", "Sex")]);
    assert!(changed);
    let numbers: Vec<_> = merged.iter().map(|a| a.number.as_str()).collect();
    assert_eq!(numbers, vec!["1000", "1930", "3001", "100000"]);
}

#[test]
fn terms_are_the_exact_days_else_the_nearest_longer_else_the_longest() {
    let t = |days: i32, id: &str| SalesTerms {
        days,
        id: id.into(),
    };
    let terms = vec![t(30, "t30"), t(10, "t10"), t(60, "t60"), t(20, "t20")];
    let pick = |days| terms_for_days(&terms, days).map(|t| t.id.as_str());
    assert_eq!(pick(30), Some("t30"));
    assert_eq!(pick(15), Some("t20"));
    assert_eq!(pick(0), Some("t10"));
    assert_eq!(pick(90), Some("t60"));
    assert_eq!(terms_for_days(&[], 30), None);
}

#[test]
fn the_customer_index_has_each_key_once_and_skips_empty_numbers() {
    let c = |id: &str, number: Option<&str>, org: Option<&str>| IndexedCustomer {
        visma_id: id.into(),
        number: number.map(Into::into),
        org_number: org.map(Into::into),
    };
    let entries = customer_index_entries(&[
        c("a", Some("1001"), Some("556677-8899")),
        c("b", Some("1002"), Some("556677-8899")),
        c("c", None, Some("")),
        c("a", Some("1001"), Some("556677-8899")),
        c("d", Some("556677-8899"), None),
    ]);
    assert_eq!(
        entries,
        vec![
            (CustomerKey::Number, "1001".into(), "a".into()),
            (CustomerKey::OrgNumber, "556677-8899".into(), "a".into()),
            (CustomerKey::Number, "1002".into(), "b".into()),
            (CustomerKey::Number, "556677-8899".into(), "d".into()),
        ]
    );
}

#[test]
fn each_customer_is_written_once_and_its_entries_agree_with_its_current_keys() {
    let c = |id: &str, number: Option<&str>, org: Option<&str>| IndexedCustomer {
        visma_id: id.into(),
        number: number.map(Into::into),
        org_number: org.map(Into::into),
    };
    // "a" is listed twice (it changed while the list was read): the first version wins,
    // for its entries and its current keys alike.
    let customers = [
        c("a", Some("1001"), Some("556677-8899")),
        c("b", Some("1002"), None),
        c("a", Some("1001"), Some("551111-1111")),
    ];
    let distinct: Vec<&str> = distinct_customers(&customers)
        .iter()
        .map(|c| c.org_number.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(distinct, ["556677-8899", "-"]);
    assert!(!customer_index_entries(&customers)
        .iter()
        .any(|(_, value, _)| value == "551111-1111"));
    assert_eq!(c("x", Some(""), None).value(CustomerKey::Number), None);
    assert_eq!(
        c("x", None, Some("556677-8899")).value(CustomerKey::OrgNumber),
        Some("556677-8899")
    );
}

#[test]
fn an_index_entry_holds_only_while_its_customer_still_has_that_key() {
    use CustomerKey::{Number, OrgNumber};
    let now = IndexedCustomer {
        visma_id: "x".into(),
        number: Some("1001".into()),
        org_number: Some("556677-0000".into()),
    };
    assert!(index_entry_is_current(Number, "1001", "x", Some(&now)));
    assert!(index_entry_is_current(
        OrgNumber,
        "556677-0000",
        "x",
        Some(&now)
    ));
    // The org number was corrected from 556677-8899: the old entry is stale.
    assert!(!index_entry_is_current(
        OrgNumber,
        "556677-8899",
        "x",
        Some(&now)
    ));
    // The customer number was changed in Visma.
    assert!(!index_entry_is_current(Number, "1000", "x", Some(&now)));
    // A number entry is not vouched for by the same text as an org number, nor by another
    // customer's keys, nor by none.
    assert!(!index_entry_is_current(
        Number,
        "556677-0000",
        "x",
        Some(&now)
    ));
    assert!(!index_entry_is_current(Number, "1001", "y", Some(&now)));
    assert!(!index_entry_is_current(Number, "1001", "x", None));
    let without_org = IndexedCustomer {
        org_number: Some(String::new()),
        ..now.clone()
    };
    assert!(!index_entry_is_current(
        OrgNumber,
        "",
        "x",
        Some(&without_org)
    ));
}

#[test]
fn coding_rates_read_labels_and_fractions() {
    use rust_decimal::Decimal;
    assert_eq!(
        coding_vat_rate(Some("25%"), None),
        Some(VatRate::TwentyFive)
    );
    assert_eq!(coding_vat_rate(Some("12 %"), None), Some(VatRate::Twelve));
    assert_eq!(
        coding_vat_rate(None, Some(Decimal::new(6, 2))),
        Some(VatRate::Six)
    );
    assert_eq!(
        coding_vat_rate(Some("weird"), Some(Decimal::new(25, 0))),
        Some(VatRate::TwentyFive)
    );
    assert_eq!(coding_vat_rate(Some("0%"), None), Some(VatRate::Zero));
    assert_eq!(coding_vat_rate(None, Some(Decimal::new(24, 2))), None);
    assert_eq!(coding_vat_rate(None, None), None);
}

#[test]
fn a_report_changed_pulled_data_when_a_block_could_clear() {
    let mut report = PullReport::default();
    assert!(!report.changed_pulled_data());
    // New vouchers and VAT codes clear no block.
    report.changes.vouchers_for_aourly = 3;
    report.changes.vat_codes = true;
    assert!(!report.changed_pulled_data());
    for changed in [
        PullReport {
            mapping_proposed: true,
            ..PullReport::default()
        },
        PullReport {
            changes: PullChanges {
                fiscal_years: true,
                ..PullChanges::default()
            },
            ..PullReport::default()
        },
        PullReport {
            changes: PullChanges {
                codings: true,
                ..PullChanges::default()
            },
            ..PullReport::default()
        },
        PullReport {
            changes: PullChanges {
                accounts: vec!["fy".into()],
                ..PullChanges::default()
            },
            ..PullReport::default()
        },
    ] {
        assert!(changed.changed_pulled_data(), "{changed:?}");
    }
}
