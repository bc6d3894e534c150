use serde::{Deserialize, Serialize};

use crate::TenantId;

/// The kinds of Aourly records pushed to Visma (CONTRACT §4, sync item `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Invoice,
    Customer,
    Voucher,
}

/// One unit of work on the sync queue. The body of every SQS message is one of these, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum SyncJob {
    /// Pull accounts, fiscal years, codings and vouchers for one tenant.
    Pull { tenant: TenantId },
    /// Push one stored Aourly record (by kind and Aourly id) to Visma.
    Push {
        tenant: TenantId,
        kind: RecordKind,
        id: String,
    },
    /// Deliver one outbound event to `AOURLY_EVENTS_URL`; queued again until Aourly answers
    /// 2xx (after 72 hours the dead-letter queue keeps it).
    Emit {
        event: crate::outbound::OutboundEvent,
    },
}

impl SyncJob {
    pub fn tenant(&self) -> &TenantId {
        match self {
            SyncJob::Pull { tenant } | SyncJob::Push { tenant, .. } => tenant,
            SyncJob::Emit { event } => &event.tenant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_stable() {
        let job = SyncJob::Push {
            tenant: TenantId::parse("acme").unwrap(),
            kind: RecordKind::Invoice,
            id: "inv_1".into(),
        };
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(
            json,
            r#"{"job":"push","tenant":"acme","kind":"invoice","id":"inv_1"}"#
        );
        assert_eq!(serde_json::from_str::<SyncJob>(&json).unwrap(), job);
    }

    #[test]
    fn unknown_jobs_do_not_parse() {
        assert!(serde_json::from_str::<SyncJob>(r#"{"job":"explode","tenant":"a"}"#).is_err());
        assert!(
            serde_json::from_str::<SyncJob>(r#"{"job":"pull","tenant":"bad tenant"}"#).is_err()
        );
    }
}
