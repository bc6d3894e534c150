//! The parsers of each record in an event: customer, invoice (lines, totals), voucher (rows),
//! each recording its field errors in the collector and returning `None` after one.

use super::*;

pub(super) fn event_data(
    c: &mut Check,
    kind: EventKind,
    value: Option<Value>,
) -> Option<EventData> {
    let raw: RawData = c.object("data", value)?;
    match kind {
        EventKind::CustomerCreated | EventKind::CustomerUpdated => {
            let customer = customer(c, "data.customer", raw.customer)?;
            Some(if kind == EventKind::CustomerCreated {
                EventData::CustomerCreated(customer)
            } else {
                EventData::CustomerUpdated(customer)
            })
        }
        EventKind::InvoiceCreated => {
            invoice(c, "data.invoice", raw.invoice, kind).map(EventData::InvoiceCreated)
        }
        EventKind::InvoiceCredited => {
            let invoice = invoice(c, "data.invoice", raw.invoice, kind);
            let credits = c.value(
                "data.credits_invoice_id",
                raw.credits_invoice_id,
                parsed(AourlyId::parse),
            );
            let (invoice, credits_invoice_id) = (invoice?, credits?);
            if invoice.id == credits_invoice_id {
                c.fail(
                    "data.credits_invoice_id",
                    "must name another invoice than the credit note itself",
                );
                return None;
            }
            Some(EventData::InvoiceCredited {
                invoice,
                credits_invoice_id,
            })
        }
        EventKind::VoucherCreated => {
            voucher(c, "data.voucher", raw.voucher).map(EventData::VoucherCreated)
        }
    }
}

fn customer(c: &mut Check, path: &str, value: Option<Value>) -> Option<Customer> {
    let raw: RawCustomer = c.object(path, value)?;
    let id = c.value(&at(path, "id"), raw.id, parsed(AourlyId::parse));
    let number = c.optional(&at(path, "number"), raw.number, text_max(16));
    let name = c.value(&at(path, "name"), raw.name, text);
    let is_private_person = c.value(
        &at(path, "is_private_person"),
        raw.is_private_person,
        boolean,
    );
    let org_number = c.optional(&at(path, "org_number"), raw.org_number, text_max(20));
    let vat_number = c.optional(&at(path, "vat_number"), raw.vat_number, text_max(20));
    let email = c.optional(&at(path, "email"), raw.email, parsed(Email::parse));
    let address = address(c, &at(path, "address"), raw.address);
    let currency = c.value(
        &at(path, "currency"),
        raw.currency,
        parsed(CurrencyCode::parse),
    );
    let payment_terms_days = c.value(
        &at(path, "payment_terms_days"),
        raw.payment_terms_days,
        days,
    );
    Some(Customer {
        id: id?,
        number: number?,
        name: name?,
        is_private_person: is_private_person?,
        org_number: org_number?,
        vat_number: vat_number?,
        email: email?,
        address: address?,
        currency: currency?,
        payment_terms_days: payment_terms_days?,
    })
}

fn address(c: &mut Check, path: &str, value: Option<Value>) -> Option<Address> {
    let raw: RawAddress = c.object(path, value)?;
    let line1 = c.value(&at(path, "line1"), raw.line1, text);
    let line2 = c.optional(&at(path, "line2"), raw.line2, text);
    let postal_code = c.value(&at(path, "postal_code"), raw.postal_code, text);
    let city = c.value(&at(path, "city"), raw.city, text);
    let country_code = c.value(
        &at(path, "country_code"),
        raw.country_code,
        parsed(CountryCode::parse),
    );
    Some(Address {
        line1: line1?,
        line2: line2?,
        postal_code: postal_code?,
        city: city?,
        country_code: country_code?,
    })
}

fn invoice(c: &mut Check, path: &str, value: Option<Value>, kind: EventKind) -> Option<Invoice> {
    let raw: RawInvoice = c.object(path, value)?;
    let id = c.value(&at(path, "id"), raw.id, parsed(AourlyId::parse));
    let number = c.value(
        &at(path, "number"),
        raw.number,
        text_max(super::super::INVOICE_NUMBER_MAX),
    );
    let customer = customer(c, &at(path, "customer"), raw.customer);
    let issue_date = c.value(&at(path, "issue_date"), raw.issue_date, date);
    let due_date = c.value(&at(path, "due_date"), raw.due_date, date);
    let currency = c.value(
        &at(path, "currency"),
        raw.currency,
        parsed(CurrencyCode::parse),
    );
    let your_reference = c.optional(&at(path, "your_reference"), raw.your_reference, text);
    let our_reference = c.optional(&at(path, "our_reference"), raw.our_reference, text);

    let lines_path = at(path, "lines");
    let lines = c.array(&lines_path, raw.lines).and_then(|items| {
        if items.is_empty() {
            c.fail(&lines_path, "must have at least one line");
            return None;
        }
        let parsed: Vec<Option<InvoiceLine>> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| line(c, &format!("{lines_path}[{i}]"), item, kind))
            .collect();
        parsed.into_iter().collect::<Option<Vec<_>>>()
    });

    let totals_path = at(path, "totals");
    let totals = totals(c, &totals_path, raw.totals);
    if let Some(totals) = &totals {
        if kind == EventKind::InvoiceCreated && totals.gross.is_negative() {
            c.fail(
                &at(&totals_path, "gross"),
                "must not be negative on invoice.created",
            );
        }
    }
    if let (Some(lines), Some(given)) = (&lines, &totals) {
        check_totals(c, &totals_path, lines, given);
    }
    if let (Some(issue), Some(due)) = (issue_date, due_date) {
        if due < issue {
            c.fail(&at(path, "due_date"), "must not be before issue_date");
        }
    }

    Some(Invoice {
        id: id?,
        number: number?,
        customer: customer?,
        issue_date: issue_date?,
        due_date: due_date?,
        currency: currency?,
        your_reference: your_reference?,
        our_reference: our_reference?,
        lines: lines?,
        totals: totals?,
    })
    // The totals, gross-sign and due-date errors recorded above make the whole event invalid
    // through the collector, so such an invoice never leaves parse_event_value.
}

fn line(c: &mut Check, path: &str, value: Value, kind: EventKind) -> Option<InvoiceLine> {
    let raw: RawLine = c.object(path, Some(value))?;
    let description = c.value(&at(path, "description"), raw.description, text);
    let quantity_path = at(path, "quantity");
    let quantity = c.value(&quantity_path, raw.quantity, decimal(Quantity::parse));
    let quantity = quantity.filter(|q| match kind {
        EventKind::InvoiceCredited if !q.is_negative() => {
            c.fail(
                &quantity_path,
                "must be negative on invoice.credited (the invoice is the credit note)",
            );
            false
        }
        EventKind::InvoiceCreated if !q.is_positive() => {
            c.fail(&quantity_path, "must be positive on invoice.created");
            false
        }
        _ => true,
    });
    let unit = c.optional(&at(path, "unit"), raw.unit, text);
    let unit_price = c.value(
        &at(path, "unit_price"),
        raw.unit_price,
        decimal(Money::parse),
    );
    let vat_rate = c.value(&at(path, "vat_rate"), raw.vat_rate, decimal(VatRate::parse));
    let discount_percent = c.optional(
        &at(path, "discount_percent"),
        raw.discount_percent,
        decimal(Percent::parse),
    );

    Some(InvoiceLine {
        description: description?,
        quantity: quantity?,
        unit: unit?,
        unit_price: unit_price?,
        vat_rate: vat_rate?,
        discount_percent: discount_percent?.unwrap_or(Percent::ZERO),
    })
}

fn totals(c: &mut Check, path: &str, value: Option<Value>) -> Option<Totals> {
    let raw: RawTotals = c.object(path, value)?;
    let net = c.value(&at(path, "net"), raw.net, decimal(Money::parse));
    let vat = c.value(&at(path, "vat"), raw.vat, decimal(Money::parse));
    let gross = c.value(&at(path, "gross"), raw.gross, decimal(Money::parse));
    Some(Totals {
        net: net?,
        vat: vat?,
        gross: gross?,
    })
}

/// Each given total must equal the one computed from the lines; each mismatch names its field.
fn check_totals(c: &mut Check, path: &str, lines: &[InvoiceLine], given: &Totals) {
    let Some(expected) = compute_totals(lines) else {
        c.fail(path, "the lines add up to more than an amount can hold");
        return;
    };
    for (name, expected, given) in [
        ("net", expected.net, given.net),
        ("vat", expected.vat, given.vat),
        ("gross", expected.gross, given.gross),
    ] {
        if expected != given {
            c.fail(
                &at(path, name),
                format!("does not match the lines: expected {expected}, given {given}"),
            );
        }
    }
}

fn voucher(c: &mut Check, path: &str, value: Option<Value>) -> Option<Voucher> {
    let raw: RawVoucher = c.object(path, value)?;
    let id = c.value(&at(path, "id"), raw.id, parsed(AourlyId::parse));
    let date = c.value(&at(path, "date"), raw.date, date);
    let text = c.value(&at(path, "text"), raw.text, text);

    let rows_path = at(path, "rows");
    let rows = c.array(&rows_path, raw.rows).and_then(|items| {
        let count = items.len();
        let rows: Vec<Option<VoucherRow>> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| row(c, &format!("{rows_path}[{i}]"), item))
            .collect();
        if count < 2 {
            c.fail(&rows_path, "must have at least 2 rows");
            return None;
        }
        let rows = rows.into_iter().collect::<Option<Vec<_>>>()?;
        let debit: rust_decimal::Decimal = rows.iter().map(|r| r.debit.amount()).sum();
        let credit: rust_decimal::Decimal = rows.iter().map(|r| r.credit.amount()).sum();
        if debit != credit {
            c.fail(
                &rows_path,
                format!("must balance: total debit {debit} is not total credit {credit}"),
            );
            return None;
        }
        Some(rows)
    });

    Some(Voucher {
        id: id?,
        date: date?,
        text: text?,
        rows: rows?,
    })
}

fn row(c: &mut Check, path: &str, value: Value) -> Option<VoucherRow> {
    let raw: RawRow = c.object(path, Some(value))?;
    let account = c.value(
        &at(path, "account"),
        raw.account,
        parsed(AccountNumber::parse),
    );
    let not_negative = |m: Money| {
        if m.is_negative() {
            Err("must not be negative".to_owned())
        } else {
            Ok(m)
        }
    };
    let debit = c.value(&at(path, "debit"), raw.debit, |v| {
        decimal(Money::parse)(v).and_then(not_negative)
    });
    let credit = c.value(&at(path, "credit"), raw.credit, |v| {
        decimal(Money::parse)(v).and_then(not_negative)
    });
    let text = c.optional(&at(path, "text"), raw.text, text);
    // The debit-or-credit rule is checked even when another field of the row is bad.
    let (debit, credit) = (debit?, credit?);
    if let Err(e) = VoucherRow::check_amounts(debit, credit) {
        c.fail(path, e.to_string());
        return None;
    }
    VoucherRow::new(account?, debit, credit, text?).ok()
}
