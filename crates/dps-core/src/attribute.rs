//! A group's attribute schema ("master data") and the values devices carry for it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::text::{AttributeId, AttributeName};
use crate::time::Date;

mod values;

pub use values::{AttributeIter, AttributeValues};

/// The type of a schema attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttributeType {
    /// A 64-bit signed integer.
    Integer,
    /// Text of at most `max_len` characters.
    String {
        /// The largest number of characters allowed (1 to 4096).
        max_len: u32,
    },
    /// One of a fixed list of items.
    Enum {
        /// The allowed items, non-empty and distinct.
        items: Vec<String>,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

impl AttributeType {
    /// The type's name: `integer`, `string`, `enum` or `date`.
    pub fn name(&self) -> &'static str {
        match self {
            AttributeType::Integer => "integer",
            AttributeType::String { .. } => "string",
            AttributeType::Enum { .. } => "enum",
            AttributeType::Date => "date",
        }
    }
}

/// A value of a schema attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AttributeValue {
    /// An integer value.
    Integer(i64),
    /// A text value.
    String(String),
    /// An enum item.
    Enum(String),
    /// A date value.
    Date(Date),
}

impl fmt::Display for AttributeValue {
    /// The value's text form, as written in CSV cells and accepted by
    /// [`AttributeDef::parse_value`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Integer(i) => fmt::Display::fmt(i, f),
            AttributeValue::String(s) | AttributeValue::Enum(s) => f.write_str(s),
            AttributeValue::Date(d) => fmt::Display::fmt(d, f),
        }
    }
}

/// One attribute of a group's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeDef {
    /// The identifier, unique in the schema; also the CSV column header.
    pub id: AttributeId,
    /// A human-readable name.
    pub name: AttributeName,
    /// The value type.
    #[serde(flatten)]
    pub ty: AttributeType,
    /// Whether every device must have a value (given, or the default).
    pub required: bool,
    /// The value a device gets when it gives none.
    pub default: Option<AttributeValue>,
}

impl AttributeDef {
    /// An optional attribute without a default, named after its identifier.
    pub fn new(id: AttributeId, ty: AttributeType) -> Self {
        let name = AttributeName::from(&id);
        Self {
            id,
            name,
            ty,
            required: false,
            default: None,
        }
    }

    /// Makes the attribute required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the default value.
    #[must_use]
    pub fn with_default(mut self, value: AttributeValue) -> Self {
        self.default = Some(value);
        self
    }

    /// Parses a value from its text form (a CSV cell, a command-line argument).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAttribute`] when the text does not fit the type.
    pub fn parse_value(&self, text: &str) -> Result<AttributeValue> {
        // An integer or a date that parses fits its type; text is checked as a value.
        match &self.ty {
            AttributeType::Integer => text
                .parse::<i64>()
                .map(AttributeValue::Integer)
                .map_err(|_| self.invalid(format!("{} is not an integer", quote(text)))),
            AttributeType::Date => text
                .parse::<Date>()
                .map(AttributeValue::Date)
                .map_err(|_| self.invalid(format!("{} is not a date YYYY-MM-DD", quote(text)))),
            AttributeType::String { .. } => {
                let value = AttributeValue::String(text.to_owned());
                self.check(&value)?;
                Ok(value)
            }
            AttributeType::Enum { .. } => {
                let value = AttributeValue::Enum(text.to_owned());
                self.check(&value)?;
                Ok(value)
            }
        }
    }

    /// Checks that `value` fits this attribute's type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAttribute`] naming the attribute and the reason.
    pub fn check(&self, value: &AttributeValue) -> Result<()> {
        match (&self.ty, value) {
            (AttributeType::Integer, AttributeValue::Integer(_))
            | (AttributeType::Date, AttributeValue::Date(_)) => Ok(()),
            (AttributeType::String { max_len }, AttributeValue::String(s)) => {
                let n = s.chars().count();
                if n > *max_len as usize {
                    Err(self.invalid(format!("is {n} characters, at most {max_len} allowed")))
                } else if s
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    Err(self.invalid("contains a control character".to_owned()))
                } else {
                    Ok(())
                }
            }
            (AttributeType::Enum { items }, AttributeValue::Enum(s)) => {
                if items.iter().any(|i| i == s) {
                    Ok(())
                } else {
                    Err(self.invalid(format!("{} is not one of {}", quote(s), items.join(", "))))
                }
            }
            (
                AttributeType::Integer
                | AttributeType::String { .. }
                | AttributeType::Enum { .. }
                | AttributeType::Date,
                _,
            ) => Err(self.invalid(format!("expects a value of type {}", self.ty.name()))),
        }
    }

    #[cold]
    fn invalid(&self, reason: String) -> Error {
        Error::InvalidAttribute {
            attribute: self.id.to_string(),
            reason,
        }
    }
}

fn quote(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    format!("{cut:?}")
}

/// A group's attribute schema: typed custom fields that every device of the group carries.
///
/// ```
/// use dps::{attribute::AttributeDef, attribute::AttributeSchema, attribute::AttributeType, attribute::AttributeValue};
/// let schema = AttributeSchema::new(vec![
///     AttributeDef::new("floor".parse()?, AttributeType::Integer).required(),
///     AttributeDef::new("color".parse()?, AttributeType::Enum { items: vec!["red".into(), "blue".into()] })
///         .with_default(AttributeValue::Enum("red".into())),
/// ])?;
/// let values = schema.resolve([("floor".parse()?, AttributeValue::Integer(3))].into())?;
/// assert_eq!(values.len(), 2); // the default colour was filled in
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<AttributeDef>", into = "Vec<AttributeDef>")]
pub struct AttributeSchema {
    attributes: Vec<AttributeDef>,
}

/// The most attributes a schema may have.
pub const MAX_ATTRIBUTES: usize = 100;

impl AttributeSchema {
    /// A schema from its attributes, in column order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSchema`] when identifiers repeat, an enum has no items or repeated
    /// items, a string's `max_len` is outside 1 to 4096, a default does not fit its type, or
    /// there are more than [`MAX_ATTRIBUTES`].
    pub fn new(attributes: Vec<AttributeDef>) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidSchema { reason };
        if attributes.len() > MAX_ATTRIBUTES {
            return Err(invalid(format!(
                "{} attributes, at most {MAX_ATTRIBUTES} allowed",
                attributes.len()
            )));
        }
        for (i, def) in attributes.iter().enumerate() {
            if attributes[..i].iter().any(|d| d.id == def.id) {
                return Err(invalid(format!("attribute {} is defined twice", def.id)));
            }
            match &def.ty {
                AttributeType::String { max_len } if !(1..=4096).contains(max_len) => {
                    return Err(invalid(format!(
                        "attribute {}: max_len must be 1 to 4096",
                        def.id
                    )));
                }
                AttributeType::Enum { items } => {
                    if items.is_empty() {
                        return Err(invalid(format!("attribute {}: enum has no items", def.id)));
                    }
                    for (j, item) in items.iter().enumerate() {
                        if items[..j].contains(item) {
                            return Err(invalid(format!(
                                "attribute {}: item {item:?} appears twice",
                                def.id
                            )));
                        }
                        if item.is_empty() || item.chars().count() > 64 || item.trim() != item {
                            return Err(invalid(format!(
                                "attribute {}: items must be 1 to 64 characters without surrounding white space",
                                def.id
                            )));
                        }
                    }
                }
                AttributeType::String { .. } | AttributeType::Integer | AttributeType::Date => {}
            }
            if let Some(default) = &def.default {
                def.check(default).map_err(|e| invalid(e.to_string()))?;
            }
        }
        Ok(Self { attributes })
    }

    /// The attributes, in column order.
    pub fn attributes(&self) -> &[AttributeDef] {
        &self.attributes
    }

    /// The attribute with this identifier.
    pub fn get(&self, id: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|d| d.id.as_str() == id)
    }

    /// Whether the schema has no attributes.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// Checks a device's given values against the schema and fills in defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAttribute`] for an unknown attribute or a value of the wrong type,
    /// [`Error::MissingRequired`] for a required attribute with neither value nor default.
    pub fn resolve(&self, mut given: AttributeValues) -> Result<AttributeValues> {
        if let Some(unknown) = given.keys().find(|k| self.get(k.as_str()).is_none()) {
            return Err(Error::InvalidAttribute {
                attribute: unknown.to_string(),
                reason: "is not in the group's attribute schema".to_owned(),
            });
        }
        for def in &self.attributes {
            match given.get(&def.id) {
                Some(v) => def.check(v)?,
                None => match &def.default {
                    Some(d) => {
                        given.insert(def.id.clone(), d.clone());
                    }
                    None if def.required => {
                        return Err(Error::MissingRequired {
                            attribute: def.id.to_string(),
                        });
                    }
                    None => {}
                },
            }
        }
        Ok(given)
    }

    /// The values a device gets when its attributes are initialised: every default.
    pub fn defaults(&self) -> AttributeValues {
        self.attributes
            .iter()
            .filter_map(|d| d.default.clone().map(|v| (d.id.clone(), v)))
            .collect()
    }
}

impl TryFrom<Vec<AttributeDef>> for AttributeSchema {
    type Error = Error;
    fn try_from(v: Vec<AttributeDef>) -> Result<Self> {
        AttributeSchema::new(v)
    }
}

impl From<AttributeSchema> for Vec<AttributeDef> {
    fn from(s: AttributeSchema) -> Self {
        s.attributes
    }
}
