//! Rows of a device file: records validated into new devices or row errors.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::io::Read;
use std::str::FromStr;

use dps_core::{
    AttributeSchema, AttributeType, AttributeValue, AttributeValues, BatchTag, Description,
    DeviceName, EnvironmentId, ImportFields, ImportRecord, ModelId, NewDevice, OuId, SerialNumber,
    Target, Timezone, ValidationError, Version,
};

use crate::columns::{Column, Header, Slot};
use crate::error::{CsvError, Position, RowError};
use crate::formula;
use crate::limits::{Limit, Limits};
use crate::read::{FieldSpan, RecordReader};

/// The most columns a header may have.
pub const MAX_COLUMNS: usize = 1024;

/// A row that passed validation: a device to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line the row starts on, counting from 1.
    pub line: u64,
    /// The device's fields; attributes hold only the values the row gives (defaults are
    /// filled in when the device is registered).
    pub device: NewDevice,
    /// The `Version` cell, when the file has that column and the cell is not empty.
    pub version: Option<Version>,
}

impl Row {
    /// The row as a record for [`Provisioner::plan_import`](dps_core::Provisioner::plan_import).
    pub fn into_record(self) -> ImportRecord {
        ImportRecord {
            device: self.device,
            expected_version: self.version,
        }
    }
}

/// Reads a device file row by row: each row becomes a validated [`Row`] or a [`RowError`].
///
/// The header is read and mapped when the reader is created (a missing required column, an
/// unknown or repeated column is a [`CsvError`]); every later call reads one record. A
/// [`CsvError`] (a limit, an I/O failure) ends the file: the iterator yields it once and then
/// nothing.
///
/// Cells are read like this: an unquoted cell is trimmed; the [formula guard](crate::formula)
/// is stripped; an empty cell is an absent value, except that a quoted empty cell (`""`) is an
/// empty text for a description or a string attribute. Rows whose cells are all blank are
/// skipped. A serial that appeared in an earlier row is refused as `duplicate_in_file`.
///
/// Memory is one 64 KiB input buffer, one record, and 16 bytes per row for finding duplicate
/// serials (a seeded 64-bit fingerprint and the line; two different serials of one file collide
/// with a probability of about n²/2⁶⁵, below 10⁻⁷ for a million rows).
///
/// ```
/// use dps_core::AttributeSchema;
/// use dps_csv::{DeviceReader, Limits};
///
/// let file = "\u{feff}serial_number;MODEL;Timezone\nSN-1;m1;+01:00\nSN 2;m1;\n";
/// let mut rows = DeviceReader::new(file.as_bytes(), &AttributeSchema::default(), Limits::default())?;
/// let first = rows.next().unwrap()?.unwrap();
/// assert_eq!(first.device.serial, "SN-1");
/// let second = rows.next().unwrap()?.unwrap_err();
/// assert_eq!((second.line, second.code), (3, "invalid_serial"));
/// assert!(rows.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeviceReader<R> {
    reader: RecordReader<R>,
    header: Header,
    schema: AttributeSchema,
    limits: Limits,
    /// The cells a row is read from besides the serial, in file order: the columns and
    /// attributes an import takes (ignored and read-only columns left out).
    plan: Vec<(usize, Slot)>,
    /// How many attribute columns the file has: the most values a row's attributes hold.
    attribute_columns: usize,
    seen: SeenSerials,
    repeats: Repeats,
    done: bool,
}

/// The last cell of each column whose values files tend to repeat from row to row (model,
/// timezone, batch tag, target, attributes), with its validated value once a row repeated
/// it: a run of equal cells is validated once.
#[derive(Debug, Default)]
struct Repeats {
    model: Repeat<ModelId>,
    timezone: Repeat<Timezone>,
    batch_tag: Repeat<BatchTag>,
    environment: Repeat<EnvironmentId>,
    ou: Repeat<OuId>,
    /// One per attribute of the schema.
    attributes: Vec<Repeat<AttributeValue>>,
}

/// The last cell of one column and, when the row after it repeated it, its validated value.
#[derive(Debug)]
struct Repeat<T> {
    text: String,
    value: Option<T>,
}

impl<T> Default for Repeat<T> {
    fn default() -> Self {
        Self {
            text: String::new(),
            value: None,
        }
    }
}

impl<T: Clone> Repeat<T> {
    /// The value of `text`: a copy of the last one when `text` repeats the last cell, else
    /// `validate(text)`. A value is kept only from the first repetition on, so that a column
    /// of distinct cells costs one copy of each cell's text and no more.
    #[inline]
    fn value<E>(
        &mut self,
        text: &str,
        validate: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, E> {
        if same_bytes(self.text.as_bytes(), text.as_bytes()) {
            if let Some(value) = &self.value {
                return Ok(value.clone());
            }
            let value = validate(text)?;
            self.value = Some(value.clone());
            return Ok(value);
        }
        self.value = None;
        self.text.clear();
        self.text.push_str(text);
        validate(text)
    }
}

impl<R: Read> DeviceReader<R> {
    /// Reads and maps the header of `reader` for a group with `schema`.
    ///
    /// # Errors
    ///
    /// A [`CsvError`] when the file is empty, not UTF-8, crosses a limit in its header, lacks
    /// a required column (the serial, the model ID, `OU` when `Environment` is given and the
    /// other way round, or a required attribute without a default), or has an unknown or
    /// repeated column.
    pub fn new(reader: R, schema: &AttributeSchema, limits: Limits) -> Result<Self, CsvError> {
        let mut reader = RecordReader::new(reader, limits, MAX_COLUMNS + 1)?;
        let Some(info) = reader.read_record()? else {
            return Err(CsvError::Empty);
        };
        if info.fields > MAX_COLUMNS {
            return Err(CsvError::LimitExceeded {
                limit: Limit::Columns,
                max: MAX_COLUMNS as u64,
                position: reader.position(),
            });
        }
        let mut names = Vec::with_capacity(reader.fields.len());
        for span in &reader.fields {
            let text = std::str::from_utf8(reader.field(*span)).map_err(|_| {
                CsvError::InvalidEncoding {
                    reason: "a header is not valid UTF-8",
                }
            })?;
            names.push(if span.quoted { text } else { text.trim() }.to_owned());
        }
        let header = Header::new(names, schema)?;
        reader.set_max_fields(header.slots.len() + 1);
        let plan = header
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| match **slot {
                Slot::Ignored | Slot::Field(Column::Serial) => false,
                Slot::Field(c) => !c.is_read_only() || c == Column::Version,
                Slot::Attribute(_) => true,
            })
            .map(|(i, slot)| (i, *slot))
            .collect();
        let attribute_columns = header.attributes.iter().filter(|c| c.is_some()).count();
        Ok(Self {
            reader,
            header,
            plan,
            attribute_columns,
            schema: schema.clone(),
            limits,
            seen: SeenSerials::new(),
            repeats: Repeats {
                attributes: schema
                    .attributes()
                    .iter()
                    .map(|_| Repeat::default())
                    .collect(),
                ..Repeats::default()
            },
            done: false,
        })
    }

    /// The headers as written in the file, trimmed.
    pub fn headers(&self) -> &[String] {
        &self.header.names
    }

    /// The delimiter detected from the header line (`,` or `;`).
    pub fn delimiter(&self) -> u8 {
        self.reader.delimiter()
    }

    /// Which editable fields the file carries; an upsert leaves the others as they are.
    pub fn fields(&self) -> ImportFields {
        self.header.fields(&self.schema)
    }

    /// Whether the file has a `Version` column.
    pub fn has_version(&self) -> bool {
        self.header.index_of(Column::Version).is_some()
    }

    /// The column header of `column` in this file (the template's name when it is absent).
    pub fn column_name(&self, column: Column) -> String {
        self.header.name_of(column)
    }

    /// The column header of the attribute `id` in this file (its identifier when absent).
    pub fn attribute_column_name(&self, id: &str) -> String {
        match self
            .schema
            .attributes()
            .iter()
            .position(|d| d.id.as_str() == id)
        {
            Some(i) => self.header.attribute_name(&self.schema, i),
            None => id.to_owned(),
        }
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    /// Reads the next row: `Ok(None)` at the end of the file, `Ok(Some(Err(_)))` for a
    /// refused row.
    ///
    /// # Errors
    ///
    /// A [`CsvError`] for a crossed limit or a failed read; the file ends there.
    pub fn next_row(&mut self) -> Result<Option<Result<Row, RowError>>, CsvError> {
        self.advance().transpose()
    }

    /// Reads the next row in the shape the iterator yields, which spares a copy of each row.
    #[inline]
    fn advance(&mut self) -> Option<Result<Result<Row, RowError>, CsvError>> {
        if self.done {
            return None;
        }
        loop {
            let info = match self.reader.read_record() {
                Ok(Some(info)) => info,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let fields = &self.reader.fields;
            let blank = !info.extra_content
                && fields.iter().all(|f| {
                    !f.quoted
                        && self
                            .reader
                            .field(*f)
                            .iter()
                            .all(|b| b.is_ascii_whitespace())
                });
            if blank {
                continue;
            }
            self.reader.records += 1;
            if self.reader.records > self.limits.max_records {
                self.done = true;
                return Some(Err(CsvError::LimitExceeded {
                    limit: Limit::Records,
                    max: self.limits.max_records,
                    position: Position {
                        line: info.line,
                        byte: info.byte,
                        record: self.limits.max_records,
                    },
                }));
            }
            return Some(Ok(self.row(info)));
        }
    }

    #[inline(always)]
    fn row(&mut self, info: crate::read::RecordInfo) -> Result<Row, RowError> {
        let Self {
            reader,
            header,
            schema,
            plan,
            attribute_columns,
            seen,
            repeats,
            ..
        } = self;
        let line = info.line;
        let expected = header.slots.len();
        let fields = &reader.fields;
        if info.unterminated {
            let last = fields.len().saturating_sub(1);
            return Err(RowError::new(
                line,
                header.names.get(last).cloned(),
                &String::from_utf8_lossy(fields.last().map_or(&[][..], |f| reader.field(*f))),
                "unterminated_quote",
                "a quoted cell is not closed before the end of the file",
            ));
        }
        let extra_blank = fields.len() >= expected
            && !info.extra_content
            && fields[expected..]
                .iter()
                .all(|f| !f.quoted && reader.field(*f).iter().all(u8::is_ascii_whitespace));
        if info.fields < expected || (info.fields > expected && !extra_blank) {
            return Err(RowError::new(
                line,
                None,
                "",
                "wrong_field_count",
                format!(
                    "the row has {} cells, the header has {expected}",
                    info.fields
                ),
            ));
        }
        // One UTF-8 check for the whole record; cells are then slices of it (a cell whose
        // bounds split a character, or a record that is not UTF-8, is checked on its own).
        let (bytes, offset) = reader.record_bytes();
        let cells = Cells {
            reader,
            header,
            record: std::str::from_utf8(bytes).ok().map(|text| (text, offset)),
            line,
        };
        let serial_index = header.index_of(Column::Serial).unwrap_or(0);
        let Some(serial_text) = cells.cell(serial_index, false)? else {
            return Err(cells.missing(Column::Serial));
        };
        let serial = SerialNumber::new(serial_text)
            .map_err(|e| cells.invalid(serial_index, serial_text, e))?;
        // The cell's text is the serial's: read from the record, not from the copy just made.
        if let Some(first) = seen.insert(serial_text, line) {
            return Err(RowError::new(
                line,
                Some(header.names[serial_index].clone()),
                serial.as_str(),
                "duplicate_in_file",
                format!("serial {serial} already appears on line {first}"),
            ));
        }
        let mut name = None;
        let mut timezone = None;
        let mut batch_tag = None;
        let mut description = None;
        // A row has at most one value per attribute column, so the map allocates once.
        let mut attributes = AttributeValues::with_capacity(*attribute_columns);
        let mut model = None;
        let mut environment = None;
        let mut ou = None;
        let mut version = None;
        for &(i, slot) in plan.iter() {
            let column = match slot {
                // The plan leaves ignored columns out.
                Slot::Ignored => continue,
                Slot::Field(c) => c,
                Slot::Attribute(a) => {
                    let (Some(def), Some(repeat)) =
                        (schema.attributes().get(a), repeats.attributes.get_mut(a))
                    else {
                        continue;
                    };
                    let allow_empty = matches!(def.ty, AttributeType::String { .. });
                    if let Some(text) = cells.cell(i, allow_empty)? {
                        let value = repeat
                            .value(text, |t| def.parse_value(t))
                            .map_err(|e| cells.refused(i, text, e.code(), e.to_string()))?;
                        attributes.insert(def.id.clone(), value);
                    }
                    continue;
                }
            };
            let Some(text) = cells.cell(i, column == Column::Description)? else {
                continue;
            };
            let err = |e: ValidationError| cells.invalid(i, text, e);
            let r = &mut *repeats;
            match column {
                Column::DeviceName => name = Some(DeviceName::new(text).map_err(err)?),
                Column::ModelId => {
                    model = Some(r.model.value(text, ModelId::from_str).map_err(err)?)
                }
                Column::Timezone => {
                    timezone = Some(r.timezone.value(text, Timezone::new).map_err(err)?);
                }
                Column::BatchTag => {
                    batch_tag = Some(r.batch_tag.value(text, BatchTag::from_str).map_err(err)?);
                }
                Column::Description => description = Some(Description::new(text).map_err(err)?),
                Column::Environment => {
                    environment = Some(
                        r.environment
                            .value(text, EnvironmentId::from_str)
                            .map_err(err)?,
                    );
                }
                Column::Ou => ou = Some(r.ou.value(text, OuId::from_str).map_err(err)?),
                Column::Version => {
                    let n = text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        cells.refused(
                            i,
                            text,
                            "invalid_version",
                            "the version must be a positive whole number",
                        )
                    })?;
                    version = Some(Version::new(n));
                }
                Column::Serial
                | Column::AllocationStatus
                | Column::AllocatedEnvironment
                | Column::AllocatedOu
                | Column::AssetId
                | Column::ProductKey
                | Column::DeviceKey
                | Column::DeviceSecret
                | Column::DeviceBootstrapKey
                | Column::LastAllocationError
                | Column::CreatedAt
                | Column::UpdatedAt => {}
            }
        }
        let model_id = model.ok_or_else(|| cells.missing(Column::ModelId))?;
        let target = match (environment, ou) {
            (Some(e), Some(o)) => Some(Target::new(e, o)),
            (None, None) => None,
            (Some(_), None) => return Err(cells.missing(Column::Ou)),
            (None, Some(_)) => return Err(cells.missing(Column::Environment)),
        };
        for (def, index) in schema.attributes().iter().zip(&header.attributes) {
            if def.required && def.default.is_none() && !attributes.contains_key(&def.id) {
                return Err(RowError::new(
                    line,
                    Some(index.map_or_else(|| def.id.to_string(), |i| header.names[i].clone())),
                    "",
                    "missing_required",
                    format!("attribute {} is required", def.id),
                ));
            }
        }
        Ok(Row {
            line,
            device: NewDevice {
                serial,
                model_id,
                name,
                timezone,
                batch_tag,
                description,
                target,
                attributes,
            },
            version,
        })
    }
}

/// The cells of the record being read, with what their errors need.
struct Cells<'a, R> {
    reader: &'a RecordReader<R>,
    header: &'a Header,
    /// The whole record as text, with the offset of field spans in it; `None` when the
    /// record is not UTF-8 as a whole.
    record: Option<(&'a str, usize)>,
    line: u64,
}

impl<'a, R: Read> Cells<'a, R> {
    /// The text of cell `index`: decoded, trimmed when unquoted, unguarded; `None` (absent)
    /// when empty, unless it was quoted and `allow_empty`.
    #[inline(always)]
    fn cell(&self, index: usize, allow_empty: bool) -> Result<Option<&'a str>, RowError> {
        let Some(&span) = self.reader.fields.get(index) else {
            return Ok(None);
        };
        let text = match self
            .record
            .and_then(|(r, offset)| r.get(span.start - offset..span.end - offset))
        {
            Some(text) => text,
            None => std::str::from_utf8(self.reader.field(span))
                .map_err(|e| self.utf8_error(index, span, e.valid_up_to()))?,
        };
        let text = if span.quoted { text } else { trim(text) };
        // Only a cell starting with `'` can carry the export's guard.
        let text = if text.starts_with('\'') {
            formula::unguard(text)
        } else {
            text
        };
        if text.is_empty() && !(span.quoted && allow_empty) {
            Ok(None)
        } else {
            Ok(Some(text))
        }
    }

    #[cold]
    #[inline(never)]
    fn utf8_error(&self, index: usize, span: FieldSpan, valid_up_to: usize) -> RowError {
        self.refused(
            index,
            &String::from_utf8_lossy(self.reader.field(span)),
            "invalid_utf8",
            format!("the cell is not valid UTF-8 (byte {})", valid_up_to + 1),
        )
    }

    #[cold]
    fn invalid(&self, index: usize, value: &str, error: ValidationError) -> RowError {
        self.refused(index, value, error.code(), error.to_string())
    }

    #[cold]
    fn refused(
        &self,
        index: usize,
        value: &str,
        code: &'static str,
        message: impl Into<String>,
    ) -> RowError {
        RowError::new(
            self.line,
            self.header.names.get(index).cloned(),
            value,
            code,
            message,
        )
    }

    #[cold]
    fn missing(&self, column: Column) -> RowError {
        RowError::new(
            self.line,
            Some(self.header.name_of(column)),
            "",
            "missing_required",
            format!("{} is required", column.header()),
        )
    }
}

impl<R: Read> Iterator for DeviceReader<R> {
    type Item = Result<Result<Row, RowError>, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance()
    }
}

/// The serials seen so far, to find duplicates within a file.
///
/// It keeps a 64-bit seeded fingerprint and the line of each serial (16 bytes per row). While
/// serials arrive in ascending order, as vendor files list them, no lookup is needed: they
/// are appended to a list. The first serial out of order turns the list into a hash index.
#[derive(Debug)]
struct SeenSerials {
    hasher: foldhash::quality::RandomState,
    /// While the serials are in ascending order: every fingerprint and line so far.
    ascending: Option<Ascending>,
    index: HashMap<u64, u64, BuildHasherDefault<Fingerprint>>,
}

/// The serials of a file so far, while they are in ascending order.
#[derive(Debug, Default)]
struct Ascending {
    /// Fingerprint and line of each.
    seen: Vec<(u64, u64)>,
    /// The last serial.
    last: Vec<u8>,
}

impl SeenSerials {
    fn new() -> Self {
        Self {
            hasher: foldhash::quality::RandomState::default(),
            ascending: Some(Ascending::default()),
            index: HashMap::default(),
        }
    }

    /// Records `serial` on `line`; returns the line of its first occurrence when it was
    /// seen before.
    fn insert(&mut self, serial: &str, line: u64) -> Option<u64> {
        let fp = {
            let mut hasher = self.hasher.build_hasher();
            hasher.write(serial.as_bytes());
            hasher.finish()
        };
        if let Some(asc) = &mut self.ascending {
            if asc.seen.is_empty() || sorts_after(serial.as_bytes(), &asc.last) {
                asc.seen.push((fp, line));
                set_bytes(&mut asc.last, serial.as_bytes());
                return None;
            }
            let seen = self.ascending.take().map(|a| a.seen).unwrap_or_default();
            self.index.reserve(seen.len());
            for (fp, line) in seen {
                self.index.entry(fp).or_insert(line);
            }
        }
        match self.index.entry(fp) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(line);
                None
            }
        }
    }
}

/// The hasher of the duplicate index, whose keys are already randomly seeded hashes of the
/// serials (foldhash's quality variant): it passes them through.
///
/// The index keeps 64-bit fingerprints instead of the serials (16 bytes per row); two
/// different serials of one file share a fingerprint with a probability of about
/// n² / 2⁶⁵ (below 10⁻⁷ for a million rows). The seed differs from file to file but does
/// not come from the operating system's random source, and the hash is not cryptographic:
/// someone who set out to find two serials that collide could at worst have a row of their
/// own file refused as a duplicate.
#[derive(Debug, Default, Clone, Copy)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Whether `a` and `b` are equal, compared inline: the cells compared here are mostly a few
/// bytes long, for which a call to `memcmp` costs more than the comparison.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_ne_bytes(w)
    };
    let half = |s: &[u8], i: usize| {
        let mut w = [0; 4];
        w.copy_from_slice(&s[i..i + 4]);
        u32::from_ne_bytes(w)
    };
    // Two words that overlap when the length is not twice a word cover every byte.
    let last = a.len().saturating_sub(8);
    let last_half = a.len().saturating_sub(4);
    match a.len() {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => half(a, 0) == half(b, 0) && half(a, last_half) == half(b, last_half),
        8..=16 => word(a, 0) == word(b, 0) && word(a, last) == word(b, last),
        _ => a == b,
    }
}

/// Whether `a` sorts after `b` byte by byte. Serials of one file mostly have one length, and
/// two of the same length up to 16 bytes compare as two big-endian words read inline (which
/// may overlap: the shared bytes are equal by then).
#[inline]
fn sorts_after(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n == b.len() && (8..=16).contains(&n) {
        let word = |s: &[u8], i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&s[i..i + 8]);
            u64::from_be_bytes(w)
        };
        let (x, y) = (word(a, 0), word(b, 0));
        return if x == y {
            word(a, n - 8) > word(b, n - 8)
        } else {
            x > y
        };
    }
    a > b
}

/// Makes `to` a copy of `from`: inline, in overlapping words, when the length stays the same
/// and is at most 16 bytes, as it mostly does from one cell of a column to the next.
#[inline]
fn set_bytes(to: &mut Vec<u8>, from: &[u8]) {
    let n = from.len();
    if to.len() != n || n > 16 {
        to.clear();
        to.extend_from_slice(from);
        return;
    }
    match n {
        0..4 => to.iter_mut().zip(from).for_each(|(t, f)| *t = *f),
        4..8 => {
            to[..4].copy_from_slice(&from[..4]);
            to[n - 4..].copy_from_slice(&from[n - 4..]);
        }
        _ => {
            to[..8].copy_from_slice(&from[..8]);
            to[n - 8..].copy_from_slice(&from[n - 8..]);
        }
    }
}

/// Trims white space: ASCII first, Unicode only when a non-ASCII character is at an end.
#[inline]
fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    if let (Some(a), Some(b)) = (bytes.first(), bytes.last())
        && a.is_ascii_graphic()
        && b.is_ascii_graphic()
    {
        return text;
    }
    let t = text.trim_ascii();
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(a), Some(b)) if !a.is_ascii() || !b.is_ascii() => t.trim(),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::{same_bytes, set_bytes, sorts_after};

    #[test]
    fn same_bytes_sees_a_difference_at_every_position_and_length() {
        for len in 0..=24 {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "equal, length {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "differs at {at} of {len}");
            }
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(!same_bytes(&a, &longer), "lengths {len} and {}", len + 1);
        }
    }

    #[test]
    fn sorts_after_orders_as_byte_slices_do() {
        let words: Vec<Vec<u8>> = [
            "",
            "a",
            "ab",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "abcdefgi0",
            "SN-00000001",
            "SN-00000002",
            "SN-00000010",
            "SN-0000001",
            "SN-10000000",
            "zzzzzzzzzzzzzzzz",
            "zzzzzzzzzzzzzzzy",
            "yzzzzzzzzzzzzzzz",
            "zzzzzzzzzzzzzzzzz",
        ]
        .iter()
        .map(|w| w.as_bytes().to_vec())
        .chain([vec![0xff; 12], vec![0; 12], vec![0x80; 9]])
        .collect();
        for a in &words {
            for b in &words {
                assert_eq!(sorts_after(a, b), a > b, "{a:?} after {b:?}");
                let mut copy = b.clone();
                set_bytes(&mut copy, a);
                assert_eq!(&copy, a);
            }
        }
    }
}
