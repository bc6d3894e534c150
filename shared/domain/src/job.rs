use serde::{Deserialize, Serialize};

use crate::TenantId;

/// The kinds of Aourly records pushed to Visma (integration guide "Management API", sync item `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Invoice,
    Customer,
    Voucher,
}

impl RecordKind {
    pub const ALL: [RecordKind; 3] = [
        RecordKind::Invoice,
        RecordKind::Customer,
        RecordKind::Voucher,
    ];

    /// The wire name (routes, sync items, events, the table's keys).
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::Invoice => "invoice",
            RecordKind::Customer => "customer",
            RecordKind::Voucher => "voucher",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of [`RecordKind`]'s wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind {0:?}")]
pub struct UnknownKind(pub String);

impl std::str::FromStr for RecordKind {
    type Err = UnknownKind;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| UnknownKind(raw.to_owned()))
    }
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
    fn kinds_round_trip_through_their_wire_names() {
        for kind in RecordKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.as_str().parse::<RecordKind>(), Ok(kind));
        }
        assert!("invoices".parse::<RecordKind>().is_err());
    }

    #[test]
    fn unknown_jobs_do_not_parse() {
        assert!(serde_json::from_str::<SyncJob>(r#"{"job":"explode","tenant":"a"}"#).is_err());
        assert!(
            serde_json::from_str::<SyncJob>(r#"{"job":"pull","tenant":"bad tenant"}"#).is_err()
        );
    }
}
