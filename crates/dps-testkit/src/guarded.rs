//! A store that keeps something alive (a temporary directory, a test schema) as long as itself.

use dps_core::Store;

/// A store together with a guard that must live exactly as long as the store, such as the
/// temporary directory of a test database or a value that drops a test schema. Every [`Store`]
/// call goes to the inner store.
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// `store`, keeping `guard` alive beside it.
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    /// The inner store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

dps_core::forward_store! {
    impl[S: Store, G: Send + Sync + std::fmt::Debug + 'static] for Guarded<S, G> => |this| this.store
}
