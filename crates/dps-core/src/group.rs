//! Registration groups.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::attribute::AttributeSchema;
use crate::id::{GroupId, Version};
use crate::seal::SealedSecret;
use crate::text::{Description, GroupName, Target};
use crate::time::Timestamp;
use crate::validation::{Field, Rule, ValidationError};

/// Whether a group's devices use a public or a private model.
///
/// A private-model device may never be allocated to a target other than its first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    /// The model may exist in any target.
    #[default]
    Public,
    /// The model belongs to the device's first target only.
    Private,
}

/// What resetting a device's allocation does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReprovisionMethod {
    /// Reset keeps the device's attributes.
    #[default]
    Migrate,
    /// Reset sets the device's attributes back to the schema defaults.
    Initialize,
    /// Reset is refused.
    Disabled,
}

macro_rules! keyword_enum {
    ($ty:ident, $field:expr, $expected:literal, $($variant:ident => $text:literal),+) => {
        impl $ty {
            /// The keyword, as written in configuration and on the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(ValidationError::new($field, Rule::Format { expected: $expected })),
                }
            }
        }
    };
}

keyword_enum!(ModelType, Field::ModelType, "public or private", Public => "public", Private => "private");
keyword_enum!(
    ReprovisionMethod, Field::Reprovision, "migrate, initialize or disabled",
    Migrate => "migrate", Initialize => "initialize", Disabled => "disabled"
);

/// The settings of a new registration group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGroup {
    /// The group's name.
    pub name: GroupName,
    /// A description.
    pub description: Option<Description>,
    /// Where devices without a target of their own are allocated.
    pub default_target: Option<Target>,
    /// Public or private model.
    pub model_type: ModelType,
    /// What reset does.
    pub reprovision: ReprovisionMethod,
    /// Whether a device's first bootstrap allocates it when it is not allocated yet.
    pub auto_activation: bool,
    /// The typed custom fields of the group's devices.
    pub attributes: AttributeSchema,
}

impl NewGroup {
    /// A group with this name and default settings: no default target, public model,
    /// `migrate` on reset, no auto-activation, no attributes.
    pub fn new(name: GroupName) -> Self {
        Self {
            name,
            description: None,
            default_target: None,
            model_type: ModelType::Public,
            reprovision: ReprovisionMethod::Migrate,
            auto_activation: false,
            attributes: AttributeSchema::default(),
        }
    }
}

/// Changes to a group's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEdit {
    /// A new name.
    pub name: Option<GroupName>,
    /// A new description, or `Some(None)` to clear it.
    pub description: Option<Option<Description>>,
    /// A new default target, or `Some(None)` to clear it.
    pub default_target: Option<Option<Target>>,
    /// A new model type.
    pub model_type: Option<ModelType>,
    /// A new reprovision method.
    pub reprovision: Option<ReprovisionMethod>,
    /// Turns auto-activation on or off.
    pub auto_activation: Option<bool>,
    /// A new attribute schema. Existing devices keep their values; values are checked against
    /// the new schema when a device is next edited.
    pub attributes: Option<AttributeSchema>,
    /// When set, the edit applies only if the group is still at this version.
    pub expected_version: Option<Version>,
}

/// A registration group: a container of devices with shared settings.
///
/// `Serialize` leaves the group secret and the previous secret out (every device's bootstrap
/// key derives from them); [`RegistrationGroup::secret`] hands the secret to code that asks
/// for it by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationGroup {
    pub(crate) id: GroupId,
    pub(crate) name: GroupName,
    pub(crate) description: Option<Description>,
    pub(crate) default_target: Option<Target>,
    pub(crate) model_type: ModelType,
    pub(crate) reprovision: ReprovisionMethod,
    pub(crate) auto_activation: bool,
    #[serde(skip)]
    pub(crate) secret: SealedSecret,
    #[serde(skip)]
    pub(crate) previous_secret: Option<SealedSecret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret_rotated_at: Option<Timestamp>,
    pub(crate) attributes: AttributeSchema,
    pub(crate) version: Version,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

impl RegistrationGroup {
    /// A new group at version 1, with `secret` (sealed for this group's `id`) as its group
    /// secret.
    pub fn new(id: GroupId, new: NewGroup, secret: SealedSecret, now: Timestamp) -> Self {
        Self {
            id,
            name: new.name,
            description: new.description,
            default_target: new.default_target,
            model_type: new.model_type,
            reprovision: new.reprovision,
            auto_activation: new.auto_activation,
            secret,
            previous_secret: None,
            secret_rotated_at: None,
            attributes: new.attributes,
            version: Version::INITIAL,
            created_at: now,
            updated_at: now,
        }
    }

    /// This group with `edit` applied, at the next version.
    #[must_use]
    pub fn edited(&self, edit: GroupEdit, now: Timestamp) -> Self {
        let mut g = self.clone();
        if let Some(v) = edit.name {
            g.name = v;
        }
        if let Some(v) = edit.description {
            g.description = v;
        }
        if let Some(v) = edit.default_target {
            g.default_target = v;
        }
        if let Some(v) = edit.model_type {
            g.model_type = v;
        }
        if let Some(v) = edit.reprovision {
            g.reprovision = v;
        }
        if let Some(v) = edit.auto_activation {
            g.auto_activation = v;
        }
        if let Some(v) = edit.attributes {
            g.attributes = v;
        }
        g.version = self.version.next();
        g.updated_at = now;
        g
    }

    /// This group with `secret` as its new group secret, at the next version.
    ///
    /// With `keep_previous`, the replaced secret becomes the
    /// [previous secret](RegistrationGroup::previous_secret_at), which keeps verifying
    /// bootstrap requests for a grace period after `now`; without it, the replaced secret
    /// stops verifying at once. Only one previous secret is kept: rotating again drops the
    /// one before.
    #[must_use]
    pub fn with_rotated_secret(
        &self,
        secret: SealedSecret,
        keep_previous: bool,
        now: Timestamp,
    ) -> Self {
        let mut g = self.clone();
        g.previous_secret = keep_previous.then(|| self.secret.clone());
        g.secret = secret;
        g.secret_rotated_at = Some(now);
        g.version = self.version.next();
        g.updated_at = now;
        g
    }

    /// The group's identifier.
    pub fn id(&self) -> GroupId {
        self.id
    }
    /// The group's name.
    pub fn name(&self) -> &GroupName {
        &self.name
    }
    /// The description.
    pub fn description(&self) -> Option<&Description> {
        self.description.as_ref()
    }
    /// Where devices without a target of their own are allocated.
    pub fn default_target(&self) -> Option<&Target> {
        self.default_target.as_ref()
    }
    /// Public or private model.
    pub fn model_type(&self) -> ModelType {
        self.model_type
    }
    /// What reset does.
    pub fn reprovision(&self) -> ReprovisionMethod {
        self.reprovision
    }
    /// Whether a device's first bootstrap allocates it.
    pub fn auto_activation(&self) -> bool {
        self.auto_activation
    }
    /// The sealed group secret, from which device bootstrap keys are derived.
    pub fn secret(&self) -> &SealedSecret {
        &self.secret
    }
    /// The secret that the last rotation replaced, if it was kept; see
    /// [`RegistrationGroup::previous_secret_at`] for whether it still verifies.
    pub fn previous_secret(&self) -> Option<&SealedSecret> {
        self.previous_secret.as_ref()
    }
    /// When the group secret was last rotated, if ever.
    pub fn secret_rotated_at(&self) -> Option<Timestamp> {
        self.secret_rotated_at
    }
    /// The previous group secret if it still verifies at `now`: it was kept at the last
    /// rotation and less than `grace` has passed since.
    pub fn previous_secret_at(&self, now: Timestamp, grace: Duration) -> Option<&SealedSecret> {
        let rotated_at = self.secret_rotated_at?;
        (now < rotated_at.saturating_add(grace))
            .then_some(self.previous_secret.as_ref())
            .flatten()
    }
    /// The attribute schema.
    pub fn attributes(&self) -> &AttributeSchema {
        &self.attributes
    }
    /// The optimistic-concurrency version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// When the group was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// When the group last changed.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
}
