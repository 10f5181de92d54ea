//! Where a device is allocated.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{EnvironmentId, OuId};
use crate::validation::{Field, Rule, ValidationError};

/// Where a device is allocated: an environment plus an organization unit.
///
/// Displayed and parsed as `environment/ou`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The environment (region or deployment).
    pub environment: EnvironmentId,
    /// The organization unit (tenant).
    pub ou: OuId,
}

impl Target {
    /// A target from its two parts.
    pub fn new(environment: EnvironmentId, ou: OuId) -> Self {
        Self { environment, ou }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.environment, self.ou)
    }
}

impl FromStr for Target {
    type Err = ValidationError;
    /// Parses `environment/ou`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((env, ou)) = s.split_once('/') else {
            return Err(ValidationError::new(
                Field::Environment,
                Rule::Format {
                    expected: "environment/ou",
                },
            ));
        };
        Ok(Target::new(EnvironmentId::new(env)?, OuId::new(ou)?))
    }
}
