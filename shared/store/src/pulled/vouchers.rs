//! Pulled vouchers (one version per Visma id, listed in the order they reached the service)
//! and the ids of the vouchers this service pushed.

use super::*;

#[derive(Serialize, Deserialize)]
struct VoucherPointer {
    modified_at: DateTime<Utc>,
    changed_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct PushedVoucher {
    visma_id: String,
    recorded_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct VismaIdOnly {
    #[serde(default)]
    visma_id: Option<String>,
}

/// Where `GET /vouchers` continues: the last voucher of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherPosition {
    pub changed_at: DateTime<Utc>,
    pub visma_id: String,
}

impl Pulled {
    /// The stored versions of these vouchers: Visma id → (`modified_at`, `changed_at`).
    pub async fn known_vouchers(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<HashMap<String, (DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let pk = keys::tenant_pk(tenant);
        let mut known = HashMap::new();
        for id in ids {
            let pointer: Option<Keyed<VoucherPointer>> =
                self.table.get(&pk, &keys::voucher_id_sk(id)).await?;
            if let Some(p) = pointer {
                known.insert(id.clone(), (p.value.modified_at, p.value.changed_at));
            }
        }
        Ok(known)
    }

    /// Stores a voucher version and its pointer, and removes the version it replaces, in one
    /// transaction conditional on the pointer being as the caller read it (absent for a new
    /// voucher, at `previous_changed_at` for a changed one). A concurrent pull that stored the
    /// voucher first wins and this one writes nothing ([`StoreError::ConditionFailed`]), and a
    /// crash leaves no orphan version: a voucher is never listed twice.
    pub async fn put_voucher(
        &self,
        tenant: &TenantId,
        voucher: &PulledVoucher,
        previous_changed_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let name = self.table.name();
        let version = Put::builder()
            .table_name(name)
            .set_item(Some(to_item(&keyed(
                tenant,
                keys::voucher_sk(&voucher.changed_at, &voucher.id),
                voucher,
            ))?))
            .build()
            .map_err(build_error)?;
        let pointer = Put::builder()
            .table_name(name)
            .set_item(Some(to_item(&keyed(
                tenant,
                keys::voucher_id_sk(&voucher.id),
                VoucherPointer {
                    modified_at: voucher.modified_at,
                    changed_at: voucher.changed_at,
                },
            ))?));
        let pointer = match previous_changed_at {
            None => pointer
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(previous) => pointer
                .condition_expression("#changed = :previous")
                .expression_attribute_names("#changed", "changed_at")
                .expression_attribute_values(":previous", to_value(&previous)?),
        }
        .build()
        .map_err(build_error)?;
        let mut writes = vec![
            TransactWriteItem::builder().put(version).build(),
            TransactWriteItem::builder().put(pointer).build(),
        ];
        if let Some(previous) = previous_changed_at.filter(|p| *p != voucher.changed_at) {
            let delete = Delete::builder()
                .table_name(name)
                .key(PK, AttributeValue::S(keys::tenant_pk(tenant)))
                .key(
                    SK,
                    AttributeValue::S(keys::voucher_sk(&previous, &voucher.id)),
                )
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.table.transact(writes).await
    }

    /// Up to `limit` stored vouchers in `changed_at` order, from `since` (inclusive) or after
    /// `after`, and the position to continue from when more may follow.
    pub async fn vouchers_page(
        &self,
        tenant: &TenantId,
        since: Option<DateTime<Utc>>,
        after: Option<&VoucherPosition>,
        limit: i32,
    ) -> Result<(Vec<PulledVoucher>, Option<VoucherPosition>), StoreError> {
        let pk = keys::tenant_pk(tenant);
        let lower = match (after, since) {
            (Some(p), _) => keys::voucher_sk(&p.changed_at, &p.visma_id),
            (None, Some(since)) => keys::voucher_since_bound(&since),
            (None, None) => keys::VOUCHER_PREFIX.to_owned(),
        };
        let out = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lower AND :upper")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":lower", AttributeValue::S(lower.clone()))
            .expression_attribute_values(":upper", AttributeValue::S(keys::voucher_upper_bound()))
            .limit(limit + 1)
            .consistent_read(true)
            .send()
            .await
            .or_store("Query")?;
        let mut vouchers = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
            // BETWEEN is inclusive; the cursor's own item was on the previous page.
            if after.is_some() && sk.as_deref() == Some(lower.as_str()) {
                continue;
            }
            let v: Keyed<PulledVoucher> = from_item(item)?;
            vouchers.push(v.value);
        }
        let more = vouchers.len() > usize::try_from(limit).unwrap_or(0);
        vouchers.truncate(usize::try_from(limit).unwrap_or(0));
        let next = if more {
            vouchers.last().map(|v| VoucherPosition {
                changed_at: v.changed_at,
                visma_id: v.id.clone(),
            })
        } else {
            None
        };
        Ok((vouchers, next))
    }

    /// Records a voucher this service posted to Visma, so the pull never delivers it back to
    /// Aourly as new. The push pipeline calls this right after Visma answers.
    pub async fn record_pushed_voucher(
        &self,
        tenant: &TenantId,
        visma_id: &str,
    ) -> Result<(), StoreError> {
        self.table
            .put(&keyed(
                tenant,
                keys::pushed_voucher_sk(visma_id),
                PushedVoucher {
                    visma_id: visma_id.to_owned(),
                    recorded_at: Utc::now(),
                },
            ))
            .await
    }

    /// The Visma ids of vouchers this service pushed: the `PUSHED_VOUCHER#` markers, plus the
    /// `visma_id` of every voucher sync item (read with a projection, not their payloads).
    pub async fn pushed_voucher_ids(
        &self,
        tenant: &TenantId,
    ) -> Result<HashSet<String>, StoreError> {
        let mut ids = HashSet::new();
        for prefix in [
            keys::PUSHED_VOUCHER_PREFIX.to_owned(),
            keys::item_prefix(domain::RecordKind::Voucher),
        ] {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .table
                    .client()
                    .query()
                    .table_name(self.table.name())
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", AttributeValue::S(keys::tenant_pk(tenant)))
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
                    .projection_expression("visma_id")
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .or_store("Query")?;
                for item in out.items.unwrap_or_default() {
                    let v: VismaIdOnly = from_item(item)?;
                    ids.extend(v.visma_id);
                }
                match out.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        Ok(ids)
    }
}
