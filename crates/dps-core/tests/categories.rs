//! `Error::category` and `EventKind::name`: the facts that edges (the CLI's exit codes, its
//! event listing) read instead of parsing codes or serialised JSON.

use dps_core::{
    Category, Entity, Error, EventKind, GroupId, OperationId, StoreError, Uuid,
    bootstrap::BootstrapRefusal,
};

fn op() -> OperationId {
    OperationId::from_uuid(Uuid::from_u128(7))
}

#[test]
fn every_error_code_falls_in_the_category_its_exit_code_needs() {
    let serial: dps_core::SerialNumber = "SN-1".parse().unwrap();
    let group = GroupId::from_uuid(Uuid::from_u128(1));
    let cases: Vec<(Error, Category)> = vec![
        (
            Error::Validation("".parse::<dps_core::SerialNumber>().unwrap_err()),
            Category::Validation,
        ),
        (
            Error::MissingRequired {
                attribute: "floor".into(),
            },
            Category::Validation,
        ),
        (
            Error::AlreadyRegistered {
                group,
                serial: serial.clone(),
            },
            Category::Validation,
        ),
        (
            Error::LimitExceeded {
                what: "records",
                max: 1,
            },
            Category::Validation,
        ),
        (
            Error::NotFound {
                entity: Entity::Group,
                key: "g".into(),
            },
            Category::NotFound,
        ),
        (
            Error::Conflict {
                entity: Entity::Device,
                key: "SN-1".into(),
            },
            Category::Conflict,
        ),
        (
            Error::TryAgain {
                serial: serial.clone(),
            },
            Category::Conflict,
        ),
        (
            Error::NoTarget {
                serial: serial.clone(),
            },
            Category::Usage,
        ),
        (Error::ReprovisionDisabled { group }, Category::Usage),
        (Error::Unauthorized, Category::Usage),
        (
            Error::EnvironmentUnavailable {
                message: "down".into(),
            },
            Category::Environment,
        ),
        (
            Error::EnvironmentRejected {
                reason: "no".into(),
            },
            Category::Environment,
        ),
        (
            Error::from(StoreError::Unavailable {
                message: "busy".into(),
                source: None,
            }),
            Category::Storage,
        ),
        (
            Error::from(StoreError::SchemaTooNew {
                found: 9,
                supported: 1,
            }),
            Category::Storage,
        ),
        (
            Error::from(StoreError::DuplicateSerial {
                group,
                serial: serial.clone(),
            }),
            Category::Validation,
        ),
    ];
    for (error, category) in cases {
        assert_eq!(error.category(), category, "{} ({})", error, error.code());
    }
    assert_eq!(Category::NotFound.to_string(), "not_found");
}

#[test]
fn event_names_are_the_kind_tags_of_the_event_log() {
    let kinds = vec![
        EventKind::GroupCreated,
        EventKind::GroupEdited,
        EventKind::GroupDeleted,
        EventKind::Registered,
        EventKind::Edited,
        EventKind::AllocationStarted {
            operation: op(),
            target: "prod/acme".parse().unwrap(),
        },
        EventKind::Allocated {
            operation: op(),
            target: "prod/acme".parse().unwrap(),
            asset_id: "asset-1".parse().unwrap(),
        },
        EventKind::AllocationFailed {
            operation: None,
            code: "model_missing".into(),
            message: "m".into(),
        },
        EventKind::ResetStarted { operation: op() },
        EventKind::Reset {
            operation: op(),
            initialized: true,
        },
        EventKind::ReplaceStarted {
            operation: op(),
            old_serial: "SN-0".parse().unwrap(),
        },
        EventKind::Replaced {
            operation: op(),
            old_serial: "SN-0".parse().unwrap(),
        },
        EventKind::DeleteStarted { operation: op() },
        EventKind::Deleted,
        EventKind::OperationFailed {
            operation: op(),
            code: "environment_rejected".into(),
            message: "m".into(),
        },
        EventKind::OperationDeferred {
            operation: op(),
            message: "m".into(),
        },
        EventKind::OperationResumed {
            operation: op(),
            attempt: 2,
        },
        EventKind::Bootstrapped,
        EventKind::BootstrapRefused {
            reason: BootstrapRefusal::BadSignature,
            suppressed: 0,
        },
        EventKind::GroupSecretRotated {
            previous_kept: true,
        },
    ];
    assert_eq!(kinds.len(), 20, "one case per event kind");
    for kind in kinds {
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json["kind"], kind.name(), "{kind:?}");
    }
}
