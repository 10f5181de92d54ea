//! [`AttributeValues`]: the attribute values of a device, a small map sorted by identifier.

use std::borrow::Borrow;
use std::fmt;
use std::iter::FusedIterator;

use serde::{Deserialize, Serialize};

use super::{AttributeValue, MAX_ATTRIBUTES};
use crate::text::AttributeId;

/// The attribute values of a device, keyed by attribute identifier, in identifier order.
///
/// A small sorted map: the values sit in one allocation (none while the map is empty), and
/// lookups are binary searches. It reads like a `BTreeMap` (`get`,
/// `insert`, `remove`, iteration in key order, `collect`, `From` an array) and serialises as a
/// map from identifier to value. As with a `BTreeMap`, a later value for the same identifier
/// replaces an earlier one.
///
/// ```
/// use dps::{attribute::AttributeValue, attribute::AttributeValues};
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
    /// use dps::{attribute::AttributeValue, attribute::AttributeValues};
    ///
    /// let mut values = AttributeValues::with_capacity(1);
    /// values.insert("floor".parse()?, AttributeValue::Integer(3));
    /// assert_eq!(values.len(), 1);
    /// # Ok::<(), dps::ValidationError>(())
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
    #[inline]
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
