//! A target as a record names it.

use dps_core::Target;
use serde::Serialize;

/// A target as `{"environment", "ou"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TargetRef<'a> {
    environment: &'a str,
    ou: &'a str,
}

impl<'a> From<&'a Target> for TargetRef<'a> {
    fn from(t: &'a Target) -> Self {
        Self {
            environment: t.environment.as_str(),
            ou: t.ou.as_str(),
        }
    }
}
