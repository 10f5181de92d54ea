//! A group's attribute schema ("master data") and the values devices carry for it.

use std::borrow::Borrow;
use std::fmt;
use std::iter::FusedIterator;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::text::{AttributeId, AttributeName};
use crate::time::Date;

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

/// The attribute values of a device, keyed by attribute identifier, in identifier order.
///
/// A small sorted map: the values sit in one allocation (none while the map is empty), and
/// lookups are binary searches. It reads like a `BTreeMap` (`get`,
/// `insert`, `remove`, iteration in key order, `collect`, `From` an array) and serialises as a
/// map from identifier to value. As with a `BTreeMap`, a later value for the same identifier
/// replaces an earlier one.
///
/// ```
/// use dps_core::{AttributeValue, AttributeValues};
/// let mut values: AttributeValues = [
///     ("room".parse()?, AttributeValue::String("4.12".into())),
///     ("floor".parse()?, AttributeValue::Integer(3)),
/// ]
/// .into();
/// assert_eq!(values.get("floor"), Some(&AttributeValue::Integer(3)));
/// values.insert("floor".parse()?, AttributeValue::Integer(4));
/// let ids: Vec<&str> = values.keys().map(|id| id.as_str()).collect();
/// assert_eq!(ids, ["floor", "room"]);
/// assert_eq!(values.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttributeValues {
    /// Sorted by identifier, without repeats.
    entries: Vec<(AttributeId, AttributeValue)>,
}

impl AttributeValues {
    /// No values.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// No values, with room for `capacity` of them before the map allocates again.
    ///
    /// ```
    /// use dps_core::{AttributeValue, AttributeValues};
    ///
    /// let mut values = AttributeValues::with_capacity(1);
    /// values.insert("floor".parse()?, AttributeValue::Integer(3));
    /// assert_eq!(values.len(), 1);
    /// # Ok::<(), dps_core::ValidationError>(())
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find<Q>(&self, id: &Q) -> std::result::Result<usize, usize>
    where
        AttributeId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries
            .binary_search_by(|(k, _)| Borrow::<Q>::borrow(k).cmp(id))
    }

    /// The value of the attribute `id`.
    pub fn get<Q>(&self, id: &Q) -> Option<&AttributeValue>
    where
        AttributeId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(id).ok().map(|i| &self.entries[i].1)
    }

    /// The value of the attribute `id`, to change it.
    pub fn get_mut<Q>(&mut self, id: &Q) -> Option<&mut AttributeValue>
    where
        AttributeId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(id).ok().map(|i| &mut self.entries[i].1)
    }

    /// Whether the attribute `id` has a value.
    pub fn contains_key<Q>(&self, id: &Q) -> bool
    where
        AttributeId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(id).is_ok()
    }

    /// Sets the value of `id`; returns the value it replaced.
    #[inline(always)]
    pub fn insert(&mut self, id: AttributeId, value: AttributeValue) -> Option<AttributeValue> {
        // Values inserted in identifier order go at the end without a search.
        if self
            .entries
            .last()
            .is_none_or(|(last, _)| last.as_str() < id.as_str())
        {
            self.entries.push((id, value));
            return None;
        }
        self.insert_sorted(id, value)
    }

    /// [`insert`](Self::insert) of an identifier that does not sort after every other.
    fn insert_sorted(&mut self, id: AttributeId, value: AttributeValue) -> Option<AttributeValue> {
        match self.find(id.as_str()) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (id, value));
                None
            }
        }
    }

    /// Removes the value of `id`; returns it.
    pub fn remove<Q>(&mut self, id: &Q) -> Option<AttributeValue>
    where
        AttributeId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(id).ok().map(|i| self.entries.remove(i).1)
    }

    /// The identifiers and values, in identifier order.
    pub fn iter(&self) -> AttributeIter<'_> {
        AttributeIter {
            inner: self.entries.iter(),
        }
    }

    /// The identifiers, in order.
    pub fn keys(
        &self,
    ) -> impl DoubleEndedIterator<Item = &AttributeId>
    + ExactSizeIterator
    + FusedIterator
    + Clone
    + fmt::Debug {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in identifier order.
    pub fn values(
        &self,
    ) -> impl DoubleEndedIterator<Item = &AttributeValue>
    + ExactSizeIterator
    + FusedIterator
    + Clone
    + fmt::Debug {
        self.iter().map(|(_, v)| v)
    }

    /// The map of `entries`, of which a later one replaces an earlier one with the same
    /// identifier.
    fn from_entries(mut entries: Vec<(AttributeId, AttributeValue)>) -> Self {
        // Reversed, a stable sort puts later entries first among equal identifiers, and
        // `dedup_by` keeps the first of each run.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        Self { entries }
    }
}

/// An iterator over the identifiers and values of [`AttributeValues`], in identifier order.
#[derive(Debug, Clone)]
pub struct AttributeIter<'a> {
    inner: std::slice::Iter<'a, (AttributeId, AttributeValue)>,
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = (&'a AttributeId, &'a AttributeValue);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for AttributeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for AttributeIter<'_> {}

impl FusedIterator for AttributeIter<'_> {}

/// The value of an attribute, as `values["floor"]`.
///
/// # Panics
///
/// When the attribute has no value, as a map's index does; [`AttributeValues::get`] returns
/// an `Option` instead.
impl<Q> std::ops::Index<&Q> for AttributeValues
where
    AttributeId: Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = AttributeValue;

    fn index(&self, id: &Q) -> &AttributeValue {
        match self.get(id) {
            Some(value) => value,
            None => panic!("no value for this attribute"),
        }
    }
}

impl fmt::Debug for AttributeValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a AttributeValues {
    type Item = (&'a AttributeId, &'a AttributeValue);
    type IntoIter = AttributeIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for AttributeValues {
    type Item = (AttributeId, AttributeValue);
    type IntoIter = std::vec::IntoIter<(AttributeId, AttributeValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(AttributeId, AttributeValue)> for AttributeValues {
    fn from_iter<I: IntoIterator<Item = (AttributeId, AttributeValue)>>(iter: I) -> Self {
        Self::from_entries(iter.into_iter().collect())
    }
}

impl<const N: usize> From<[(AttributeId, AttributeValue); N]> for AttributeValues {
    fn from(entries: [(AttributeId, AttributeValue); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl Extend<(AttributeId, AttributeValue)> for AttributeValues {
    fn extend<I: IntoIterator<Item = (AttributeId, AttributeValue)>>(&mut self, iter: I) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.extend(iter);
        *self = Self::from_entries(entries);
    }
}

impl Serialize for AttributeValues {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for AttributeValues {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AttributeValues;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from attribute identifier to value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<AttributeValues, A::Error> {
                let mut values = AttributeValues::new();
                values
                    .entries
                    .reserve(map.size_hint().unwrap_or(0).min(MAX_ATTRIBUTES));
                while let Some((id, value)) = map.next_entry()? {
                    values.insert(id, value);
                }
                Ok(values)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A group's attribute schema: typed custom fields that every device of the group carries.
///
/// ```
/// use dps_core::{AttributeDef, AttributeSchema, AttributeType, AttributeValue};
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
