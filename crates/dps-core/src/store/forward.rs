//! [`forward_store!`](crate::forward_store): a [`Store`](crate::Store) made of another.

/// Implements [`Store`](crate::Store) for a wrapper by forwarding every call to the store it
/// wraps, optionally all calls but [`commit`](crate::Store::commit), which the wrapper writes
/// itself: the shape of a store that keeps a guard alive beside another, counts or checks
/// commits, or injects a fault into them.
///
/// The wrapper is named as `impl[generics] for Type`, the inner store as a closure-like
/// `|this| expression` from the wrapper (`this`) to a value whose methods are the inner
/// store's (a `&S`, an `Arc<S>`, a `Box<dyn Store>`). When the [`Store`](crate::Store) port
/// gains a call, this macro gains it too, so every wrapper made this way forwards it without
/// an edit of its own.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use dps::memory::InMemoryStore;
/// use dps::{Changeset, Store, StoreError};
///
/// /// Counts the commits that reach `inner`.
/// #[derive(Debug)]
/// struct Counted<S> {
///     inner: S,
///     commits: AtomicU64,
/// }
///
/// dps::forward_store! {
///     impl[S: Store] for Counted<S> => |this| this.inner;
///     async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
///         self.commits.fetch_add(1, Ordering::Relaxed);
///         self.inner.commit(changeset).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Counted { inner: InMemoryStore::new(), commits: AtomicU64::new(0) };
/// store.commit(Changeset::new()).await?;
/// assert_eq!(store.commits.load(Ordering::Relaxed), 1);
/// assert!(store.groups(None, 10).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! forward_store {
    (impl[$($generics:tt)*] for $wrapper:ty => |$this:ident| $inner:expr $(;)?) => {
        $crate::forward_store! {
            impl[$($generics)*] for $wrapper => |$this| $inner;
            async fn commit(
                &self,
                changeset: $crate::Changeset,
            ) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.commit(changeset).await
            }
        }
    };
    (impl[$($generics:tt)*] for $wrapper:ty => |$this:ident| $inner:expr; $($commit:tt)+) => {
        #[$crate::__private::async_trait]
        impl<$($generics)*> $crate::Store for $wrapper {
            async fn group(&self, id: $crate::GroupId) -> ::std::result::Result<::std::option::Option<$crate::RegistrationGroup>, $crate::StoreError> {
                let $this = self;
                $inner.group(id).await
            }
            async fn groups(&self, after: ::std::option::Option<$crate::GroupId>, limit: usize) -> ::std::result::Result<::std::vec::Vec<$crate::RegistrationGroup>, $crate::StoreError> {
                let $this = self;
                $inner.groups(after, limit).await
            }
            async fn device(&self, id: $crate::DeviceId) -> ::std::result::Result<::std::option::Option<$crate::Device>, $crate::StoreError> {
                let $this = self;
                $inner.device(id).await
            }
            async fn device_by_serial(&self, group: $crate::GroupId, serial: &$crate::SerialNumber) -> ::std::result::Result<::std::option::Option<$crate::Device>, $crate::StoreError> {
                let $this = self;
                $inner.device_by_serial(group, serial).await
            }
            async fn devices_by_serials(&self, group: $crate::GroupId, serials: &[$crate::SerialNumber]) -> ::std::result::Result<::std::vec::Vec<$crate::Device>, $crate::StoreError> {
                let $this = self;
                $inner.devices_by_serials(group, serials).await
            }
            async fn devices(&self, query: &$crate::DeviceQuery, after: ::std::option::Option<$crate::SerialNumber>, limit: usize) -> ::std::result::Result<::std::vec::Vec<$crate::Device>, $crate::StoreError> {
                let $this = self;
                $inner.devices(query, after, limit).await
            }
            async fn count_devices(&self, query: &$crate::DeviceQuery) -> ::std::result::Result<u64, $crate::StoreError> {
                let $this = self;
                $inner.count_devices(query).await
            }
            async fn pending_devices(&self, after: ::std::option::Option<$crate::DeviceId>, limit: usize) -> ::std::result::Result<::std::vec::Vec<$crate::Device>, $crate::StoreError> {
                let $this = self;
                $inner.pending_devices(after, limit).await
            }
            async fn events(&self, after: $crate::EventCursor, limit: usize) -> ::std::result::Result<::std::vec::Vec<$crate::Event>, $crate::StoreError> {
                let $this = self;
                $inner.events(after, limit).await
            }
            async fn tokens(&self) -> ::std::result::Result<::std::vec::Vec<$crate::access::AccessToken>, $crate::StoreError> {
                let $this = self;
                $inner.tokens().await
            }
            async fn token_by_hash(&self, hash: &$crate::access::TokenHash) -> ::std::result::Result<::std::option::Option<$crate::access::AccessToken>, $crate::StoreError> {
                let $this = self;
                $inner.token_by_hash(hash).await
            }
            async fn insert_token(&self, token: &$crate::access::AccessToken) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.insert_token(token).await
            }
            async fn remove_token(&self, name: &$crate::Actor) -> ::std::result::Result<bool, $crate::StoreError> {
                let $this = self;
                $inner.remove_token(name).await
            }
            async fn claim_idempotency(&self, record: &$crate::access::IdempotencyRecord, stale_before: $crate::Timestamp) -> ::std::result::Result<$crate::access::IdempotencyClaim, $crate::StoreError> {
                let $this = self;
                $inner.claim_idempotency(record, stale_before).await
            }
            async fn finish_idempotency(&self, key: &str, answer: &[u8]) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.finish_idempotency(key, answer).await
            }
            async fn release_idempotency(&self, key: &str) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.release_idempotency(key).await
            }
            async fn purge_idempotency(&self, before: $crate::Timestamp) -> ::std::result::Result<u64, $crate::StoreError> {
                let $this = self;
                $inner.purge_idempotency(before).await
            }
            async fn insert_job(&self, job: &$crate::job::Job) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.insert_job(job).await
            }
            async fn update_job(&self, job: &$crate::job::Job, expected: $crate::Version) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.update_job(job, expected).await
            }
            async fn job(&self, id: $crate::job::JobId) -> ::std::result::Result<::std::option::Option<$crate::job::Job>, $crate::StoreError> {
                let $this = self;
                $inner.job(id).await
            }
            async fn jobs(&self, before: ::std::option::Option<$crate::job::JobId>, limit: usize) -> ::std::result::Result<::std::vec::Vec<$crate::job::Job>, $crate::StoreError> {
                let $this = self;
                $inner.jobs(before, limit).await
            }
            async fn running_jobs(&self) -> ::std::result::Result<::std::vec::Vec<$crate::job::Job>, $crate::StoreError> {
                let $this = self;
                $inner.running_jobs().await
            }
            async fn put_job_part(&self, job: $crate::job::JobId, stream: $crate::job::JobStream, index: u32, bytes: &[u8]) -> ::std::result::Result<(), $crate::StoreError> {
                let $this = self;
                $inner.put_job_part(job, stream, index, bytes).await
            }
            async fn job_part(&self, job: $crate::job::JobId, stream: $crate::job::JobStream, index: u32) -> ::std::result::Result<::std::option::Option<::std::vec::Vec<u8>>, $crate::StoreError> {
                let $this = self;
                $inner.job_part(job, stream, index).await
            }
            $($commit)+
        }
    };
}
