//! The `Store` port: where groups, devices and events live.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::access::{AccessToken, IdempotencyClaim, IdempotencyRecord, TokenHash};
use crate::changeset::Changeset;
use crate::device::Device;
use crate::error::StoreError;
use crate::event::Event;
use crate::group::RegistrationGroup;
use crate::id::{DeviceId, EventCursor, GroupId, JobId, Version};
use crate::job::{Job, JobStream};
use crate::state::AllocationStatus;
use crate::text::{Actor, BatchTag, ModelId, SerialNumber, Target};
use crate::time::Timestamp;

mod forward;

/// Filters on a group's devices; every filter that is set must match. The default matches
/// every device.
///
/// Its JSON has one member per filter that is set, named as the fields are; an unknown member
/// is refused, so a misspelt filter never silently matches everything:
///
/// ```
/// use dps::DeviceFilter;
/// use dps::state::AllocationStatus;
///
/// let f: DeviceFilter = serde_json::from_str(
///     r#"{"status": "allocated", "batch_tag": "2026-w07", "serial_prefix": "SN-"}"#,
/// )?;
/// assert_eq!(f.status, Some(AllocationStatus::Allocated));
/// assert_eq!(
///     serde_json::to_string(&f)?,
///     r#"{"status":"allocated","batch_tag":"2026-w07","serial_prefix":"SN-"}"#,
/// );
/// assert!(serde_json::from_str::<DeviceFilter>(r#"{"stauts": "allocated"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceFilter {
    /// Only devices with this allocation status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AllocationStatus>,
    /// Only devices with this batch tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_tag: Option<BatchTag>,
    /// Only devices of this model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<ModelId>,
    /// Only devices whose own target is this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Only devices allocated to this target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_to: Option<Target>,
    /// Only devices whose serial starts with this text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_prefix: Option<SerialNumber>,
}

impl DeviceFilter {
    /// Whether `device` matches every filter that is set.
    pub fn matches(&self, device: &Device) -> bool {
        self.status.is_none_or(|s| device.status() == s)
            && self
                .batch_tag
                .as_ref()
                .is_none_or(|t| device.batch_tag() == Some(t))
            && self
                .model_id
                .as_ref()
                .is_none_or(|m| device.model_id() == m)
            && self
                .target
                .as_ref()
                .is_none_or(|t| device.target() == Some(t))
            && self
                .allocated_to
                .as_ref()
                .is_none_or(|t| device.state().allocated().map(|a| a.target()) == Some(t))
            && self
                .serial_prefix
                .as_ref()
                .is_none_or(|p| device.serial().as_str().starts_with(p.as_str()))
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self == &DeviceFilter::default()
    }
}

/// Which devices to read: a group and a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceQuery {
    /// The group.
    pub group: GroupId,
    /// The filters.
    pub filter: DeviceFilter,
}

impl DeviceQuery {
    /// Every device of `group`.
    pub fn group(group: GroupId) -> Self {
        Self {
            group,
            filter: DeviceFilter::default(),
        }
    }

    /// The devices of `group` that match `filter`.
    pub fn new(group: GroupId, filter: DeviceFilter) -> Self {
        Self { group, filter }
    }

    /// Whether `device` is in the group and matches the filter.
    pub fn matches(&self, device: &Device) -> bool {
        device.group_id() == self.group && self.filter.matches(device)
    }
}

/// Where groups, devices and the event log live.
///
/// Reads are plain queries; the one write is [`Store::commit`]. Backends: `InMemoryStore`
/// (`dps-store-memory`), `SqliteStore` (`dps-store-sqlite`), `PgStore` (`dps-store-postgres`).
///
/// # Contract
///
/// The `dps-testkit` conformance suite checks each point; every backend runs it, directly and
/// through `Arc<dyn Store>`.
///
/// 1. **Atomic commit.** [`commit`](Store::commit) applies every change and appends every
///    event of the changeset, or none of them. A failed commit leaves the store as it was.
/// 2. **Optimistic versions.** `UpdateGroup`, `UpdateDevice`, `DeleteGroup` and `DeleteDevice`
///    apply only if the stored record is at the `expected` version; otherwise the commit fails
///    with [`StoreError::Conflict`] (or [`StoreError::NotFound`] when the record is gone).
///    The store persists records as given; the caller sets the new version.
/// 3. **Unique serials per group.** No two devices of one group share a serial; an insert or
///    update that would break this fails with [`StoreError::DuplicateSerial`]. The same
///    serial in two groups is fine.
/// 4. **Referential integrity.** `InsertDevice` into a missing group fails with
///    [`StoreError::NotFound`]; `DeleteGroup` of a group that still has devices fails with
///    [`StoreError::Conflict`]; inserting an existing identifier fails with
///    [`StoreError::AlreadyExists`].
/// 5. **Keyset paging.** [`devices`](Store::devices) returns the devices matching the query
///    with serial greater than `after`, in ascending byte order of serial, at most `limit`.
///    Following the last serial of each page visits every device that existed throughout,
///    exactly once, however many devices are inserted or deleted meanwhile.
///    [`groups`](Store::groups) and [`pending_devices`](Store::pending_devices) page the
///    same way by identifier.
/// 6. **Gap-free event log.** Events get strictly increasing cursors in commit order.
///    [`events`](Store::events) returns events with cursor greater than `after`, ascending. A
///    reader that follows the last cursor it saw never misses a committed event: no event may
///    become visible with a cursor at or below one that a reader has already been given.
/// 7. **Concurrency.** Commits behave as if executed one at a time; of two commits
///    that update one record from the same version, exactly one succeeds and the other gets
///    [`StoreError::Conflict`].
/// 8. Transient backend failures are [`StoreError::Unavailable`] and leave nothing written.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The group with this identifier.
    async fn group(&self, id: GroupId) -> Result<Option<RegistrationGroup>, StoreError>;

    /// Groups with identifier greater than `after`, ascending, at most `limit`.
    async fn groups(
        &self,
        after: Option<GroupId>,
        limit: usize,
    ) -> Result<Vec<RegistrationGroup>, StoreError>;

    /// The device with this identifier.
    async fn device(&self, id: DeviceId) -> Result<Option<Device>, StoreError>;

    /// The device of `group` with this serial.
    async fn device_by_serial(
        &self,
        group: GroupId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError>;

    /// The devices of `group` with these serials, in any order; unknown serials are left out.
    async fn devices_by_serials(
        &self,
        group: GroupId,
        serials: &[SerialNumber],
    ) -> Result<Vec<Device>, StoreError>;

    /// Devices matching `query` with serial greater than `after`, ascending, at most `limit`.
    async fn devices(
        &self,
        query: &DeviceQuery,
        after: Option<SerialNumber>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError>;

    /// How many devices match `query`.
    async fn count_devices(&self, query: &DeviceQuery) -> Result<u64, StoreError>;

    /// Pending devices of every group with identifier greater than `after`, ascending, at
    /// most `limit`.
    async fn pending_devices(
        &self,
        after: Option<DeviceId>,
        limit: usize,
    ) -> Result<Vec<Device>, StoreError>;

    /// Events with cursor greater than `after`, ascending, at most `limit`.
    async fn events(&self, after: EventCursor, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// Applies the changeset atomically; see the contract.
    async fn commit(&self, changeset: Changeset) -> Result<(), StoreError>;

    /// Every [access token](crate::access), ordered by name.
    async fn tokens(&self) -> Result<Vec<AccessToken>, StoreError>;

    /// The token whose text hashes to `hash`, if there is one.
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<AccessToken>, StoreError>;

    /// Stores a new token.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] of [`Entity::Token`](crate::Entity::Token) if a token of
    /// the same name (or hash) is stored.
    async fn insert_token(&self, token: &AccessToken) -> Result<(), StoreError>;

    /// Removes the token named `name`, so that its text is refused from then on, by every
    /// process that shares the store; whether there was one.
    async fn remove_token(&self, name: &Actor) -> Result<bool, StoreError>;

    /// Claims an idempotency key, atomically: stores `record` (whose answer is `None`) and
    /// answers [`IdempotencyClaim::Claimed`] if no record has its key, or if the record with
    /// its key has no answer yet and was created before `stale_before` (its request is taken
    /// for lost, as by a crash); otherwise leaves the stored record as it is and answers it.
    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        stale_before: Timestamp,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Stores the answer of the request that claimed `key`.
    async fn finish_idempotency(&self, key: &str, answer: &[u8]) -> Result<(), StoreError>;

    /// Removes the record of `key`, so that the request may run again (after a failure that
    /// changed nothing).
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError>;

    /// Removes the records created before `before`; how many there were.
    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Stores a new [job](crate::job).
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] of [`Entity::Job`](crate::Entity::Job) if a job with its
    /// identifier is stored.
    async fn insert_job(&self, job: &Job) -> Result<(), StoreError>;

    /// Replaces the stored job of `job`'s identifier with `job`, if the stored one is at
    /// version `expected`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when it is at another version, [`StoreError::NotFound`]
    /// when there is none.
    async fn update_job(&self, job: &Job, expected: Version) -> Result<(), StoreError>;

    /// The job with this identifier.
    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Jobs with identifier less than `before` (or every job), newest first, at most `limit`.
    async fn jobs(&self, before: Option<JobId>, limit: usize) -> Result<Vec<Job>, StoreError>;

    /// Every job that is still [running](crate::job::JobState::Running), oldest first.
    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError>;

    /// Stores `bytes` as part `index` of the job's `stream`, replacing a part stored there
    /// (a page that a runner does again writes the same part again).
    async fn put_job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError>;

    /// Part `index` of the job's `stream`, if it is stored.
    async fn job_part(
        &self,
        job: JobId,
        stream: JobStream,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}

crate::forward_store!(impl[T: Store + ?Sized] for std::sync::Arc<T> => |this| (**this));
