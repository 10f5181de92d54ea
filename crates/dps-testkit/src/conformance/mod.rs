//! The [`Store`] conformance suite.
//!
//! Each function checks one point of the [`Store` contract](dps_core::Store#contract) (or, for
//! access tokens and idempotency records, what the methods' documentation promises) against a
//! fresh, empty store and panics with a message naming the point when the store breaks it.
//! Backends run all of them with [`store_conformance_tests!`](crate::store_conformance_tests),
//! once on the store itself and once through `Arc<dyn Store>`.

use std::future::Future;

use dps_core::{Change, Changeset, Device, DeviceQuery, EventCursor, Store, StoreError, Timestamp};

use crate::fixtures::EPOCH;

mod access;
mod events;
mod jobs;
mod listing;
mod pages;
mod records;
mod sealed;

pub use access::{
    idempotency_claims, idempotency_concurrent_claims, idempotency_purge, idempotency_stale_claims,
    tokens_crud, tokens_round_trip, tokens_unique,
};
pub use events::{events_gap_free_under_concurrency, events_only_changesets, events_ordered};
pub use jobs::{job_parts, jobs_crud};
pub use listing::{filters, keyset_paging_under_inserts, pending_listing};
pub use pages::page_changesets;
pub use records::{
    atomic_changesets, concurrent_writers_one_device, crud_devices, crud_groups,
    referential_integrity, serial_unique_per_group, version_conflicts,
};
pub use sealed::sealed_secrets;

/// Runs a conformance future on a fresh two-worker Tokio runtime.
///
/// # Panics
///
/// When the runtime cannot be built.
pub fn run<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a Tokio runtime: {e}"));
    rt.block_on(f);
}

pub(crate) async fn commit<S: Store + ?Sized>(
    store: &S,
    changes: Vec<Change>,
) -> Result<(), StoreError> {
    let mut cs = Changeset::new();
    for c in changes {
        cs.push(c);
    }
    store.commit(cs).await
}

pub(crate) async fn must_commit<S: Store + ?Sized>(store: &S, changes: Vec<Change>, what: &str) {
    if let Err(e) = commit(store, changes).await {
        panic!("{what}: commit failed: {e}");
    }
}

/// Inserts `group`, which must succeed.
pub(crate) async fn insert_group<S: Store + ?Sized>(
    store: &S,
    group: &dps_core::RegistrationGroup,
) {
    must_commit(
        store,
        vec![Change::InsertGroup(group.clone())],
        "insert group",
    )
    .await;
}

/// Every event in the store (the suite writes far fewer than a thousand).
pub(crate) async fn all_events<S: Store + ?Sized>(store: &S) -> Vec<dps_core::Event> {
    store
        .events(EventCursor::START, 1000)
        .await
        .unwrap_or_else(|e| panic!("read events: {e}"))
}

/// How many devices `group` has.
pub(crate) async fn device_count<S: Store + ?Sized>(
    store: &S,
    group: &dps_core::RegistrationGroup,
) -> u64 {
    store
        .count_devices(&DeviceQuery::group(group.id()))
        .await
        .unwrap_or_else(|e| panic!("count devices: {e}"))
}

pub(crate) fn update(old: &Device, new: Device) -> Change {
    Change::UpdateDevice {
        expected: old.version(),
        device: new,
    }
}

pub(crate) fn renamed(group: &dps_core::RegistrationGroup, d: &Device, name: &str) -> Device {
    let edit = dps_core::DeviceEdit {
        name: Some(Some(name.parse().unwrap_or_else(|e| panic!("name: {e}")))),
        ..Default::default()
    };
    dps_core::lifecycle::edit(
        d,
        group,
        &edit,
        Timestamp::from_unix_millis(EPOCH.unix_millis() + 1),
    )
    .unwrap_or_else(|e| panic!("edit: {e}"))
}

/// The names of every conformance check, for reports.
pub const ALL: &[&str] = &[
    "crud_groups",
    "crud_devices",
    "serial_unique_per_group",
    "version_conflicts",
    "atomic_changesets",
    "referential_integrity",
    "keyset_paging_under_inserts",
    "filters",
    "pending_listing",
    "events_ordered",
    "events_only_changesets",
    "events_gap_free_under_concurrency",
    "concurrent_writers_one_device",
    "page_changesets",
    "tokens_crud",
    "tokens_unique",
    "tokens_round_trip",
    "idempotency_claims",
    "idempotency_purge",
    "idempotency_concurrent_claims",
    "idempotency_stale_claims",
    "sealed_secrets",
    "jobs_crud",
    "job_parts",
];

/// Generates one `#[test]` per conformance check for a store, twice: in a module `direct` on
/// the store type itself and in a module `dyn_store` through `Arc<dyn Store>`.
///
/// The argument is an async function (or closure) that returns a fresh, empty store; it is
/// resolved from inside the generated modules, which `use super::*`. For a backend that needs
/// a server, write `maybe fresh` with a `fresh` that returns `Option<Store>`: `None` makes
/// each test print that it was skipped (say why in `fresh`) and pass.
///
/// ```
/// use dps_store_memory::InMemoryStore;
///
/// async fn fresh() -> InMemoryStore {
///     InMemoryStore::new()
/// }
///
/// dps_testkit::store_conformance_tests!(fresh);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@names
            || async { ::std::option::Option::Some(($make)().await) });
    };
    (maybe $make:expr) => {
        $crate::store_conformance_tests!(@names $make);
    };
    (@names $make:expr) => {
        $crate::store_conformance_tests!(@each $make;
            crud_groups, crud_devices, serial_unique_per_group, version_conflicts,
            atomic_changesets, referential_integrity, keyset_paging_under_inserts, filters,
            pending_listing, events_ordered, events_only_changesets,
            events_gap_free_under_concurrency, concurrent_writers_one_device, page_changesets,
            tokens_crud, tokens_unique, tokens_round_trip, idempotency_claims, idempotency_purge,
            idempotency_concurrent_claims, idempotency_stale_claims, sealed_secrets, jobs_crud,
            job_parts
        );
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        mod direct {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::run(async {
                        let Some(store) = ($make)().await else { return };
                        $crate::conformance::$name(::std::sync::Arc::new(store)).await;
                    });
                }
            )+
        }
        mod dyn_store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::conformance::run(async {
                        let Some(store) = ($make)().await else { return };
                        let store: ::std::sync::Arc<dyn $crate::__private::Store> =
                            ::std::sync::Arc::new(store);
                        $crate::conformance::$name(store).await;
                    });
                }
            )+
        }
    };
}
