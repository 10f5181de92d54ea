//! A registration group and its attribute schema.

use dps_core::{
    RegistrationGroup, attribute::AttributeDef, attribute::AttributeType, attribute::AttributeValue,
};
use serde::Serialize;

/// A group's settings and schema (never its secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupView<'a> {
    id: String,
    name: &'a str,
    description: Option<&'a str>,
    /// The default target's environment.
    environment: Option<&'a str>,
    /// The default target's OU.
    ou: Option<&'a str>,
    model_type: &'static str,
    reprovision: &'static str,
    auto_activation: bool,
    attributes: Vec<AttributeOut<'a>>,
    version: u64,
    created_at: String,
}

impl<'a> From<&'a RegistrationGroup> for GroupView<'a> {
    fn from(g: &'a RegistrationGroup) -> Self {
        Self {
            id: g.id().to_string(),
            name: g.name().as_str(),
            description: g.description().map(|d| d.as_str()),
            environment: g.default_target().map(|t| t.environment.as_str()),
            ou: g.default_target().map(|t| t.ou.as_str()),
            model_type: g.model_type().as_str(),
            reprovision: g.reprovision().as_str(),
            auto_activation: g.auto_activation(),
            attributes: g.attributes().attributes().iter().map(Into::into).collect(),
            version: g.version().get(),
            created_at: g.created_at().to_string(),
        }
    }
}

/// One attribute of a schema: `{"id", "name", "type", …, "required", "default"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AttributeOut<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(flatten)]
    ty: AttributeTypeOut<'a>,
    required: bool,
    default: Option<AttributeValueOut<'a>>,
}

impl<'a> From<&'a AttributeDef> for AttributeOut<'a> {
    fn from(a: &'a AttributeDef) -> Self {
        Self {
            id: a.id.as_str(),
            name: a.name.as_str(),
            ty: (&a.ty).into(),
            required: a.required,
            default: a.default.as_ref().map(Into::into),
        }
    }
}

/// An attribute's type: `"type"` and, for strings and enums, its bounds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AttributeTypeOut<'a> {
    Integer,
    String { max_len: u32 },
    Enum { items: &'a [String] },
    Date,
}

impl<'a> From<&'a AttributeType> for AttributeTypeOut<'a> {
    fn from(t: &'a AttributeType) -> Self {
        match t {
            AttributeType::Integer => Self::Integer,
            AttributeType::String { max_len } => Self::String { max_len: *max_len },
            AttributeType::Enum { items } => Self::Enum { items },
            AttributeType::Date => Self::Date,
        }
    }
}

/// A default value: `{"type", "value"}`, an integer's value a number, the others text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
enum AttributeValueOut<'a> {
    Integer(i64),
    String(&'a str),
    Enum(&'a str),
    Date(String),
}

impl<'a> From<&'a AttributeValue> for AttributeValueOut<'a> {
    fn from(v: &'a AttributeValue) -> Self {
        match v {
            AttributeValue::Integer(i) => Self::Integer(*i),
            AttributeValue::String(s) => Self::String(s),
            AttributeValue::Enum(s) => Self::Enum(s),
            AttributeValue::Date(d) => Self::Date(d.to_string()),
        }
    }
}
