//! The vouchers Aourly reads (`GET /vouchers`): the ones booked in Visma, in the order they
//! reached the service, a page at a time.

use chrono::{DateTime, Utc};
use domain::pull::{PulledVoucher, VoucherOrigin};
use domain::TenantId;
use store::{StoreError, VoucherPosition};

use crate::Deps;

/// Vouchers per page.
pub const PAGE_SIZE: usize = 100;

/// Whether Aourly gets `v`: booked in Visma (not an invoice's voucher), and not one this
/// service pushed (`pushed`: their Visma ids).
pub fn is_for_aourly(v: &PulledVoucher, pushed: &std::collections::HashSet<String>) -> bool {
    v.origin == VoucherOrigin::Visma && !pushed.contains(&v.id)
}

/// One page of the tenant's vouchers for Aourly, changed at or after `since` (inclusive), or
/// after `position` (a previous page's end, which wins), oldest first; with the position the
/// next page starts after, when there is one.
pub async fn page(
    deps: &Deps,
    tenant: &TenantId,
    since: Option<DateTime<Utc>>,
    mut position: Option<VoucherPosition>,
) -> Result<(Vec<PulledVoucher>, Option<VoucherPosition>), StoreError> {
    let pushed = deps.pulled.pushed_voucher_ids(tenant).await?;
    let limit = i32::try_from(PAGE_SIZE).unwrap_or(100);
    let mut out = Vec::new();
    // Stored pages hold vouchers Aourly does not get: read on until a page is full.
    let next = 'pages: loop {
        let (stored, more) = deps
            .pulled
            .vouchers_page(tenant, since, position.as_ref(), limit)
            .await?;
        let count = stored.len();
        for (i, v) in stored.into_iter().enumerate() {
            position = Some(VoucherPosition {
                changed_at: v.changed_at,
                visma_id: v.id.clone(),
            });
            if is_for_aourly(&v, &pushed) {
                out.push(v);
            }
            if out.len() == PAGE_SIZE {
                let rest = i + 1 < count || more.is_some();
                break 'pages if rest { position } else { None };
            }
        }
        if more.is_none() {
            break None;
        }
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher(id: &str, origin: VoucherOrigin) -> PulledVoucher {
        PulledVoucher {
            id: id.into(),
            number: None,
            date: chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
            text: "x".into(),
            voucher_type: None,
            rows: Vec::new(),
            modified_at: Utc::now(),
            changed_at: Utc::now(),
            origin,
        }
    }

    #[test]
    fn aourly_gets_only_what_was_booked_in_visma_and_not_by_us() {
        let pushed = std::collections::HashSet::from(["ours".to_owned()]);
        assert!(is_for_aourly(&voucher("v1", VoucherOrigin::Visma), &pushed));
        assert!(!is_for_aourly(
            &voucher("ours", VoucherOrigin::Visma),
            &pushed
        ));
        assert!(!is_for_aourly(
            &voucher("inv", VoucherOrigin::Invoice),
            &pushed
        ));
    }
}
