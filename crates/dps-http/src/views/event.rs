//! An event of the event log.

use dps_core::{Event, EventKind, OperationId, bootstrap::BootstrapRefusal};
use serde::Serialize;

use super::target::TargetRef;

/// A committed event: `{"cursor", "at", "actor", "group_id", "device_id", "serial", "kind"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView<'a> {
    cursor: u64,
    /// Milliseconds since the Unix epoch.
    at: i64,
    /// Who made the change (a token's name, or `cli`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    group_id: String,
    device_id: Option<String>,
    serial: Option<&'a str>,
    /// What happened: `{"kind": NAME, …the kind's details}`.
    #[schema(value_type = Object)]
    kind: KindOut<'a>,
}

impl<'a> From<&'a Event> for EventView<'a> {
    fn from(e: &'a Event) -> Self {
        Self {
            cursor: e.cursor.get(),
            at: e.at.unix_millis(),
            actor: e.actor.as_ref().map(|a| a.as_str()),
            group_id: e.group_id.to_string(),
            device_id: e.device_id.map(|d| d.to_string()),
            serial: e.serial.as_ref().map(|s| s.as_str()),
            kind: (&e.kind).into(),
        }
    }
}

/// What happened: `{"kind": NAME, …the kind's details}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KindOut<'a> {
    kind: &'static str,
    #[serde(flatten)]
    details: Details<'a>,
}

/// The details of each kind of event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum Details<'a> {
    Operation {
        operation: String,
    },
    AllocationStarted {
        operation: String,
        target: TargetRef<'a>,
    },
    Allocated {
        operation: String,
        target: TargetRef<'a>,
        asset_id: &'a str,
    },
    AllocationFailed {
        operation: Option<String>,
        code: &'a str,
        message: &'a str,
    },
    Reset {
        operation: String,
        initialized: bool,
    },
    Replace {
        operation: String,
        old_serial: &'a str,
    },
    OperationFailed {
        operation: String,
        code: &'a str,
        message: &'a str,
    },
    OperationDeferred {
        operation: String,
        message: &'a str,
    },
    OperationResumed {
        operation: String,
        attempt: u32,
    },
    BootstrapRefused {
        reason: RefusalOut,
        #[serde(skip_serializing_if = "is_zero")]
        suppressed: u64,
    },
    GroupSecretRotated {
        previous_kept: bool,
    },
    None {},
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn op(o: &OperationId) -> String {
    o.to_string()
}

impl<'a> From<&'a EventKind> for KindOut<'a> {
    fn from(kind: &'a EventKind) -> Self {
        let details = match kind {
            EventKind::ResetStarted { operation } | EventKind::DeleteStarted { operation } => {
                Details::Operation {
                    operation: op(operation),
                }
            }
            EventKind::AllocationStarted { operation, target } => Details::AllocationStarted {
                operation: op(operation),
                target: target.into(),
            },
            EventKind::Allocated {
                operation,
                target,
                asset_id,
            } => Details::Allocated {
                operation: op(operation),
                target: target.into(),
                asset_id: asset_id.as_str(),
            },
            EventKind::AllocationFailed {
                operation,
                code,
                message,
            } => Details::AllocationFailed {
                operation: operation.as_ref().map(op),
                code,
                message,
            },
            EventKind::Reset {
                operation,
                initialized,
            } => Details::Reset {
                operation: op(operation),
                initialized: *initialized,
            },
            EventKind::ReplaceStarted {
                operation,
                old_serial,
            }
            | EventKind::Replaced {
                operation,
                old_serial,
            } => Details::Replace {
                operation: op(operation),
                old_serial: old_serial.as_str(),
            },
            EventKind::OperationFailed {
                operation,
                code,
                message,
            } => Details::OperationFailed {
                operation: op(operation),
                code,
                message,
            },
            EventKind::OperationDeferred { operation, message } => Details::OperationDeferred {
                operation: op(operation),
                message,
            },
            EventKind::OperationResumed { operation, attempt } => Details::OperationResumed {
                operation: op(operation),
                attempt: *attempt,
            },
            EventKind::BootstrapRefused { reason, suppressed } => Details::BootstrapRefused {
                reason: reason.into(),
                suppressed: *suppressed,
            },
            EventKind::GroupSecretRotated { previous_kept } => Details::GroupSecretRotated {
                previous_kept: *previous_kept,
            },
            // Kinds without details, and kinds this version does not know the details of.
            _ => Details::None {},
        };
        Self {
            kind: kind.name(),
            details,
        }
    }
}

/// Why a bootstrap was refused: `{"code"}`, with the clock skew of a stale timestamp.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RefusalOut {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    skew_seconds: Option<i64>,
}

impl From<&BootstrapRefusal> for RefusalOut {
    fn from(r: &BootstrapRefusal) -> Self {
        Self {
            code: r.code(),
            skew_seconds: match r {
                BootstrapRefusal::StaleTimestamp { skew_seconds } => Some(*skew_seconds),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use dps_core::{EventCursor, GroupId, Timestamp, Uuid};
    use serde_json::json;

    use super::*;

    fn op() -> OperationId {
        OperationId::from_uuid(Uuid::from_u128(7))
    }

    const OP: &str = "00000000-0000-0000-0000-000000000007";

    fn kind_json(kind: EventKind) -> serde_json::Value {
        serde_json::to_value(KindOut::from(&kind)).unwrap()
    }

    #[test]
    fn kinds_print_their_name_and_their_details() {
        let cases = vec![
            (EventKind::Registered, json!({"kind": "registered"})),
            (
                EventKind::OperationFailed {
                    operation: op(),
                    code: "environment_rejected".into(),
                    message: "no".into(),
                },
                json!({"kind": "operation_failed", "operation": OP,
                       "code": "environment_rejected", "message": "no"}),
            ),
            (
                EventKind::OperationDeferred {
                    operation: op(),
                    message: "down".into(),
                },
                json!({"kind": "operation_deferred", "operation": OP, "message": "down"}),
            ),
            (
                EventKind::OperationResumed {
                    operation: op(),
                    attempt: 2,
                },
                json!({"kind": "operation_resumed", "operation": OP, "attempt": 2}),
            ),
            (
                EventKind::AllocationFailed {
                    operation: Some(op()),
                    code: "environment_rejected".into(),
                    message: "no".into(),
                },
                json!({"kind": "allocation_failed", "operation": OP,
                       "code": "environment_rejected", "message": "no"}),
            ),
            (
                EventKind::BootstrapRefused {
                    reason: BootstrapRefusal::StaleTimestamp { skew_seconds: -42 },
                    suppressed: 3,
                },
                json!({"kind": "bootstrap_refused", "suppressed": 3,
                       "reason": {"code": "stale_timestamp", "skew_seconds": -42}}),
            ),
            (
                EventKind::BootstrapRefused {
                    reason: BootstrapRefusal::UnknownGroup,
                    suppressed: 0,
                },
                json!({"kind": "bootstrap_refused", "reason": {"code": "unknown_group"}}),
            ),
            (
                EventKind::BootstrapRefused {
                    reason: BootstrapRefusal::BadSignature,
                    suppressed: 0,
                },
                json!({"kind": "bootstrap_refused", "reason": {"code": "bad_signature"}}),
            ),
        ];
        for (kind, expected) in cases {
            assert_eq!(kind_json(kind), expected);
        }
    }

    #[test]
    fn an_event_prints_its_instant_in_milliseconds() {
        let event = Event {
            cursor: EventCursor::new(9),
            at: Timestamp::from_unix_millis(1_700_000_000_123),
            actor: None,
            group_id: GroupId::from_uuid(Uuid::from_u128(1)),
            device_id: None,
            serial: None,
            kind: EventKind::GroupCreated,
        };
        assert_eq!(
            serde_json::to_value(EventView::from(&event)).unwrap(),
            json!({"cursor": 9, "at": 1_700_000_000_123_i64,
                   "group_id": "00000000-0000-0000-0000-000000000001",
                   "device_id": null, "serial": null, "kind": {"kind": "group_created"}})
        );
    }
}
