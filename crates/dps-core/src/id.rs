//! Record identifiers, versions and cursors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{Field, Rule, ValidationError};

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        // Ordered as the UUID's bytes are, compared as one big-endian number: time-ordered
        // identifiers are map keys, and this is one comparison instead of a call to `memcmp`.
        impl Ord for $name {
            #[inline]
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.as_u128().cmp(&other.0.as_u128())
            }
        }

        impl PartialOrd for $name {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self).map_err(|_| {
                    ValidationError::new(Field::Id, Rule::Format { expected: "a UUID" })
                })
            }
        }
    };
}

uuid_id! {
    /// The identifier of a registration group (a UUID v7 from the injected
    /// [`IdGen`](crate::inject::IdGen)).
    GroupId
}

uuid_id! {
    /// The identifier of a device (a UUID v7 from the injected [`IdGen`](crate::inject::IdGen)). It
    /// stays the same when the device's hardware is replaced.
    DeviceId
}

uuid_id! {
    /// The identifier of one environment operation (onboard, offboard, reissue). It is
    /// committed with the pending state before the environment is called and passed to the
    /// environment as its idempotency key, so that a re-driven operation is recognised.
    OperationId
}

uuid_id! {
    /// The identifier of a [`Job`](crate::job::Job) (a UUID v7 from the injected
    /// [`IdGen`](crate::inject::IdGen), so that jobs list in the order they were started).
    JobId
}

/// The optimistic-concurrency version of a record: 1 when created, one more on every change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Version(u64);

impl Version {
    /// The version of a newly created record.
    pub const INITIAL: Version = Version(1);

    /// A version from its number.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The version's number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A position in the event log: the sequence number of the last event a reader has seen.
///
/// [`EventCursor::START`] is before the first event. Cursors are totally ordered and a store
/// never hands out an event at or before a cursor that a reader could already have passed (see
/// the [`Store`](crate::Store) contract).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EventCursor(u64);

impl EventCursor {
    /// Before the first event.
    pub const START: EventCursor = EventCursor(0);

    /// A cursor from its sequence number.
    pub const fn new(seq: u64) -> Self {
        Self(seq)
    }

    /// The sequence number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for EventCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for EventCursor {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(EventCursor).map_err(|_| {
            ValidationError::new(
                Field::Id,
                Rule::Format {
                    expected: "an event sequence number",
                },
            )
        })
    }
}
