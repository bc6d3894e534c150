//! Manual vouchers: checked against the pulled fiscal years and chart of accounts before any
//! Visma call, then created with the `[Aourly <id>]` tag that finds them again.

use domain::connection::VismaPlan;
use domain::pull::{Account, FiscalYear};
use domain::{ItemCode, ItemError, Voucher};
use visma::{ListQuery, VismaApi, VoucherOptions};

use super::outcome::{blocked, from_visma, Attempt, Stop};
use super::ClaimedPush;
use crate::tokens::TenantTokens;
use crate::translate;

/// The tag in a pushed voucher's text that identifies its Aourly voucher.
pub fn voucher_tag(voucher: &Voucher) -> String {
    domain::pull::pushed_voucher_tag(voucher.id().as_str())
}

/// Manual vouchers need a plan that has them: Visma's Invoicing plan has none. An unknown plan
/// (not read yet) is let through: Visma's own answer decides.
pub(crate) fn plan_takes_vouchers(plan: Option<VismaPlan>) -> Result<(), Stop> {
    match plan {
        Some(VismaPlan::Invoicing) => Err(blocked(
            ItemCode::VismaPlanNoVouchers,
            "the Visma company is on the Invoicing plan, which has no manual vouchers; book this voucher in Visma by hand, or move to a plan with bookkeeping and retry it",
        )),
        _ => Ok(()),
    }
}

/// The pulled fiscal year the voucher falls in: it must exist and be open.
pub(crate) fn fiscal_year_for<'y>(
    voucher: &Voucher,
    years: &'y [FiscalYear],
) -> Result<&'y FiscalYear, Stop> {
    let year = years.iter().find(|y| y.contains(voucher.date())).ok_or_else(|| {
        blocked(
            ItemCode::FiscalYearMissing,
            format!(
                "no fiscal year containing {} has been pulled from Visma; create it in Visma if it is missing (the next pull resumes this record)",
                voucher.date()
            ),
        )
    })?;
    if year.locked {
        return Err(blocked(
            ItemCode::FiscalYearLocked,
            format!(
                "the fiscal year containing {} is locked in Visma",
                voucher.date()
            ),
        ));
    }
    Ok(year)
}

/// Every account the voucher names must be active in the year's chart.
pub(crate) fn check_accounts(
    voucher: &Voucher,
    year: &FiscalYear,
    chart: &[Account],
) -> Result<(), Stop> {
    let unknown: Vec<&str> = voucher
        .rows()
        .iter()
        .map(|r| r.account().as_str())
        .filter(|number| !chart.iter().any(|a| a.number == *number && a.active))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(blocked(
        ItemCode::AccountMissing,
        format!(
            "account {} does not exist or is inactive in Visma's fiscal year {}–{}",
            unknown.join(", "),
            year.start_date,
            year.end_date
        ),
    ))
}

impl ClaimedPush<'_> {
    pub(super) async fn voucher(&self, voucher: &Voucher) -> Attempt {
        let (deps, api, tenant) = (self.deps, self.api, self.tenant);
        plan_takes_vouchers(self.plan)?;
        let years = deps.pulled.fiscal_years(tenant).await?;
        let year = fiscal_year_for(voucher, &years)?;
        let chart = deps.pulled.chart(tenant, &year.id).await?.ok_or_else(|| {
            blocked(
                ItemCode::AccountsNotPulled,
                "the chart of accounts for this fiscal year has not been pulled yet; run a sync",
            )
        })?;
        check_accounts(voucher, year, &chart)?;
        let tag = voucher_tag(voucher);
        if self.look_first {
            if let Some(found) = find_voucher(api, voucher, &tag).await? {
                return Ok(found);
            }
        }
        let created = api
            .vouchers()
            .create(
                &translate::voucher_body(voucher, &tag),
                VoucherOptions::default(),
            )
            .await
            .map_err(|e| from_visma(e, "creating the voucher"))?;
        let id = created.id.ok_or_else(|| {
            Stop::Failed(ItemError::new(
                ItemCode::VismaRejected,
                "Visma returned no voucher id",
            ))
        })?;
        // So the pull does not hand our own voucher back to Aourly as new.
        deps.pulled
            .record_pushed_voucher(tenant, &id.to_string())
            .await?;
        Ok((id.to_string(), created.number_and_number_series))
    }
}

async fn find_voucher(
    api: &VismaApi<'_, TenantTokens<'_>>,
    voucher: &Voucher,
    tag: &str,
) -> Result<Option<(String, Option<String>)>, Stop> {
    let day = voucher.date();
    let query = ListQuery::new().filter(format!(
        "VoucherDate ge {day}T00:00:00Z and VoucherDate le {day}T23:59:59Z"
    ));
    let found = api
        .vouchers()
        .list_all(&query)
        .await
        .map_err(|e| from_visma(e, "looking the voucher up"))?;
    Ok(found
        .items
        .into_iter()
        .find(|v| v.voucher_text.ends_with(tag))
        .and_then(|v| v.id.map(|id| (id.to_string(), v.number_and_number_series))))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn voucher(date: &str) -> Voucher {
        let sample = include_str!("../../../../events/webhooks/voucher.created.json");
        let event = domain::parse_event(
            sample
                .replace(r#""date": "2026-11-21""#, &format!(r#""date": "{date}""#))
                .as_bytes(),
        )
        .expect("a valid voucher event");
        match event.data() {
            domain::EventData::VoucherCreated(v) => v.clone(),
            other => panic!("not a voucher: {other:?}"),
        }
    }

    fn year(start: &str, end: &str, locked: bool) -> FiscalYear {
        FiscalYear {
            id: format!("fy-{start}"),
            start_date: NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap(),
            end_date: NaiveDate::parse_from_str(end, "%Y-%m-%d").unwrap(),
            locked,
        }
    }

    fn code(stop: Stop) -> ItemCode {
        match stop {
            Stop::Blocked(e) | Stop::Failed(e) => e.code,
            Stop::Retry(r) => panic!("not a block: {r}"),
        }
    }

    #[test]
    fn a_voucher_needs_an_open_pulled_year() {
        let years = [
            year("2025-01-01", "2025-12-31", true),
            year("2026-01-01", "2026-12-31", false),
        ];
        let found = fiscal_year_for(&voucher("2026-03-01"), &years).unwrap();
        assert_eq!(found.id, "fy-2026-01-01");
        let locked = fiscal_year_for(&voucher("2025-06-30"), &years).unwrap_err();
        assert_eq!(code(locked), ItemCode::FiscalYearLocked);
        let missing = fiscal_year_for(&voucher("2027-01-01"), &years).unwrap_err();
        assert_eq!(code(missing), ItemCode::FiscalYearMissing);
    }

    #[test]
    fn only_the_invoicing_plan_refuses_manual_vouchers() {
        let refused = plan_takes_vouchers(Some(VismaPlan::Invoicing)).unwrap_err();
        assert_eq!(code(refused), ItemCode::VismaPlanNoVouchers);
        for plan in [
            VismaPlan::Standard,
            VismaPlan::Pro,
            VismaPlan::Bookkeeping,
            VismaPlan::Solo,
        ] {
            assert!(plan_takes_vouchers(Some(plan)).is_ok(), "{plan:?}");
        }
        assert!(
            plan_takes_vouchers(None).is_ok(),
            "not read yet: Visma decides"
        );
    }

    #[test]
    fn every_account_must_be_active_in_the_chart() {
        let fy = year("2026-01-01", "2026-12-31", false);
        let account = |number: &str, active: bool| Account {
            number: number.into(),
            name: "x".into(),
            vat_code: None,
            active,
        };
        let v = voucher("2026-03-01");
        let all = [
            account("5800", true),
            account("2641", true),
            account("1930", true),
        ];
        assert!(check_accounts(&v, &fy, &all).is_ok());
        let Err(Stop::Blocked(e)) = check_accounts(
            &v,
            &fy,
            &[
                account("5800", false),
                account("2641", true),
                account("1930", true),
            ],
        ) else {
            panic!("an inactive account blocks")
        };
        assert_eq!(e.code, ItemCode::AccountMissing);
        assert!(e.detail.unwrap().starts_with("account 5800 "));
    }
}
