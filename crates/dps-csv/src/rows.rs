//! Rows of a device file: records validated into new devices or row errors.

use std::io::Read;

use dps_core::{
    BatchTag, EnvironmentId, ModelId, NewDevice, OuId, SerialNumber, Timezone, Version,
    attribute::AttributeSchema, attribute::AttributeValue, import::ImportFields,
    import::ImportRecord,
};

use crate::bytes::same_bytes;
use crate::columns::{Column, Header, Slot};
use crate::error::{CsvError, Position, RowError};
use crate::limits::{Limit, Limits};
use crate::read::{RecordInfo, RecordReader, is_pending};

mod cells;
mod row;
mod seen;

use seen::SeenSerials;

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
/// use dps::attribute::AttributeSchema;
/// use dps::csv::{DeviceReader, Limits};
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
    /// The valid serial of the row read last, kept so that a row refused for another cell
    /// still names its device.
    last_serial: Option<SerialNumber>,
    done: bool,
    /// Whether a source with no bytes yet ([`is_pending`]) leaves the file open.
    resumable: bool,
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
        let header = reader.read_record()?;
        Self::with_header(reader, header, schema, limits)
    }

    /// A reader of `reader`'s rows, whose header record (`None` for an empty file) it has just
    /// read; see [`DeviceReader::new`].
    pub(crate) fn with_header(
        mut reader: RecordReader<R>,
        header: Option<RecordInfo>,
        schema: &AttributeSchema,
        limits: Limits,
    ) -> Result<Self, CsvError> {
        let Some(info) = header else {
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
            last_serial: None,
            done: false,
            resumable: false,
        })
    }

    /// The valid serial of the row read last, also when the row was refused for another
    /// cell; `None` when its serial itself was refused.
    pub(crate) fn last_serial(&self) -> Option<&SerialNumber> {
        self.last_serial.as_ref()
    }

    /// This reader, with a source that answers [`std::io::ErrorKind::WouldBlock`] when it
    /// has no bytes yet: such an error does not end the file, and the next call goes on.
    pub(crate) fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    /// The source.
    pub(crate) fn source_mut(&mut self) -> &mut R {
        self.reader.source_mut()
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
                    self.done = !(self.resumable && is_pending(&e));
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
}

impl<R: Read> Iterator for DeviceReader<R> {
    type Item = Result<Result<Row, RowError>, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance()
    }
}
