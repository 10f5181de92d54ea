//! The JSON documents of the service: what the HTTP API answers and what `dps --json`
//! prints, one shape for both.
//!
//! Each view borrows the domain record it shows and decides its own field names, so that
//! the domain types stay free to change. No view carries a group secret; a device's secret
//! appears only in [`DeviceView::with_secret`] and in the device's own
//! [`BootstrapView`].

mod batch;
mod bootstrap;
mod device;
mod error;
mod event;
mod group;
mod import;
mod job;
mod target;

use serde::Serialize;

pub use batch::{BatchView, CountsView, GroupDeleteView, LeasedView, RecoverView, ResultView};
pub use bootstrap::BootstrapView;
pub use device::DeviceView;
pub use error::ErrorView;
pub use event::EventView;
pub use group::GroupView;
pub use import::ImportView;
pub use job::JobView;
pub use target::TargetRef;

/// A page of a listing: `{"items": [...], "next_cursor": ...}`; pass `next_cursor` back to
/// read the next page, which exists when it is not `null`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageView<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> PageView<T> {
    /// The page of `items`, continued after `next_cursor` when there are more.
    pub fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Self { items, next_cursor }
    }

    /// All of the items, with no page after them.
    pub fn complete(items: Vec<T>) -> Self {
        Self::new(items, None)
    }
}
