//! The stored form of a registration group and its attribute schema.

use serde::{Deserialize, Serialize};

use super::device::StoredValue;
use super::secret::StoredSecret;
use super::{Record, StoredTarget, Versioned, decode, encode, invalid, unversioned};
use crate::attribute::{AttributeDef, AttributeSchema, AttributeType};
use crate::error::StoreError;
use crate::group::{ModelType, RegistrationGroup, ReprovisionMethod};
use crate::id::{GroupId, Version};
use crate::text::{AttributeId, AttributeName, Description, GroupName};
use crate::time::Timestamp;

/// A registration group as a backend stores it; see the [module documentation](super).
///
/// Convert with `StoredGroup::from(&group)` (or from an owned group) and
/// [`StoredGroup::into_group`]; [`StoredGroup::to_json`] and [`StoredGroup::from_json`] are
/// the JSON text that the SQL backends keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGroup {
    #[serde(default = "unversioned")]
    format: u64,
    id: GroupId,
    name: GroupName,
    description: Option<Description>,
    default_target: Option<StoredTarget>,
    model_type: StoredModelType,
    reprovision: StoredReprovision,
    auto_activation: bool,
    secret: StoredSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_secret: Option<StoredSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_rotated_at: Option<Timestamp>,
    attributes: Vec<StoredAttributeDef>,
    version: Version,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl Versioned for StoredGroup {
    const RECORD: Record = Record::Group;
    fn format(&self) -> u64 {
        self.format
    }
    fn holds_clear_secret(&self) -> bool {
        self.secret.is_clear()
            || self
                .previous_secret
                .as_ref()
                .is_some_and(StoredSecret::is_clear)
    }
}

impl StoredGroup {
    /// The record as JSON text.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if it does not serialise, which does not happen.
    pub fn to_json(&self) -> Result<String, StoreError> {
        encode(Record::Group, self)
    }

    /// A record from JSON text of any format version this code reads.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] for text that does not decode, and for a newer format version
    /// (its source is an [`UnsupportedFormat`](super::UnsupportedFormat)).
    pub fn from_json(data: &str) -> Result<Self, StoreError> {
        decode(data)
    }

    /// The format version the record was written in.
    pub fn format_version(&self) -> u64 {
        self.format
    }

    /// The group this record holds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the stored attribute schema is not a valid schema.
    pub fn into_group(self) -> Result<RegistrationGroup, StoreError> {
        let defs = self
            .attributes
            .into_iter()
            .map(AttributeDef::from)
            .collect();
        let attributes = AttributeSchema::new(defs).map_err(|e| invalid(Record::Group, e))?;
        Ok(RegistrationGroup {
            id: self.id,
            name: self.name,
            description: self.description,
            default_target: self.default_target.map(Into::into),
            model_type: self.model_type.into(),
            reprovision: self.reprovision.into(),
            auto_activation: self.auto_activation,
            secret: self.secret.into(),
            previous_secret: self.previous_secret.map(Into::into),
            secret_rotated_at: self.secret_rotated_at,
            attributes,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Decodes a group from its stored JSON text.
///
/// # Errors
///
/// As [`StoredGroup::from_json`] and [`StoredGroup::into_group`].
pub fn decode_group(data: &str) -> Result<RegistrationGroup, StoreError> {
    StoredGroup::from_json(data)?.into_group()
}

impl From<RegistrationGroup> for StoredGroup {
    fn from(g: RegistrationGroup) -> Self {
        let clear =
            !g.secret.is_sealed() || g.previous_secret.as_ref().is_some_and(|s| !s.is_sealed());
        Self {
            format: super::format_for(clear),
            id: g.id,
            name: g.name,
            description: g.description,
            default_target: g.default_target.map(Into::into),
            model_type: g.model_type.into(),
            reprovision: g.reprovision.into(),
            auto_activation: g.auto_activation,
            secret: g.secret.into(),
            previous_secret: g.previous_secret.map(Into::into),
            secret_rotated_at: g.secret_rotated_at,
            attributes: Vec::from(g.attributes)
                .into_iter()
                .map(StoredAttributeDef::from)
                .collect(),
            version: g.version,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

impl From<&RegistrationGroup> for StoredGroup {
    fn from(g: &RegistrationGroup) -> Self {
        Self::from(g.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredModelType {
    Public,
    Private,
}

impl From<ModelType> for StoredModelType {
    fn from(m: ModelType) -> Self {
        match m {
            ModelType::Public => StoredModelType::Public,
            ModelType::Private => StoredModelType::Private,
        }
    }
}

impl From<StoredModelType> for ModelType {
    fn from(m: StoredModelType) -> Self {
        match m {
            StoredModelType::Public => ModelType::Public,
            StoredModelType::Private => ModelType::Private,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredReprovision {
    Migrate,
    Initialize,
    Disabled,
}

impl From<ReprovisionMethod> for StoredReprovision {
    fn from(r: ReprovisionMethod) -> Self {
        match r {
            ReprovisionMethod::Migrate => StoredReprovision::Migrate,
            ReprovisionMethod::Initialize => StoredReprovision::Initialize,
            ReprovisionMethod::Disabled => StoredReprovision::Disabled,
        }
    }
}

impl From<StoredReprovision> for ReprovisionMethod {
    fn from(r: StoredReprovision) -> Self {
        match r {
            StoredReprovision::Migrate => ReprovisionMethod::Migrate,
            StoredReprovision::Initialize => ReprovisionMethod::Initialize,
            StoredReprovision::Disabled => ReprovisionMethod::Disabled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAttributeDef {
    id: AttributeId,
    name: AttributeName,
    #[serde(flatten)]
    ty: StoredAttributeType,
    required: bool,
    default: Option<StoredValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StoredAttributeType {
    Integer,
    String { max_len: u32 },
    Enum { items: Vec<String> },
    Date,
}

impl From<AttributeDef> for StoredAttributeDef {
    fn from(d: AttributeDef) -> Self {
        Self {
            id: d.id,
            name: d.name,
            ty: match d.ty {
                AttributeType::Integer => StoredAttributeType::Integer,
                AttributeType::String { max_len } => StoredAttributeType::String { max_len },
                AttributeType::Enum { items } => StoredAttributeType::Enum { items },
                AttributeType::Date => StoredAttributeType::Date,
            },
            required: d.required,
            default: d.default.map(Into::into),
        }
    }
}

impl From<StoredAttributeDef> for AttributeDef {
    fn from(d: StoredAttributeDef) -> Self {
        Self {
            id: d.id,
            name: d.name,
            ty: match d.ty {
                StoredAttributeType::Integer => AttributeType::Integer,
                StoredAttributeType::String { max_len } => AttributeType::String { max_len },
                StoredAttributeType::Enum { items } => AttributeType::Enum { items },
                StoredAttributeType::Date => AttributeType::Date,
            },
            required: d.required,
            default: d.default.map(Into::into),
        }
    }
}
