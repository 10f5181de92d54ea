//! Validating the record just read into a row.

use std::io::Read;
use std::str::FromStr;

use dps_core::{
    BatchTag, Description, DeviceName, EnvironmentId, ModelId, NewDevice, OuId, SerialNumber,
    Target, Timezone, ValidationError, Version, attribute::AttributeSchema,
    attribute::AttributeType, attribute::AttributeValues,
};

use super::cells::Cells;
use super::seen::SeenSerials;
use super::{DeviceReader, Repeats, Row};
use crate::columns::{Column, Header, Slot};
use crate::error::RowError;
use crate::read::{RecordInfo, RecordReader};

impl<R: Read> DeviceReader<R> {
    /// Validates the record just read, described by `info`, into a row.
    #[inline]
    pub(super) fn row(&mut self, info: RecordInfo) -> Result<Row, RowError> {
        let Self {
            reader,
            header,
            schema,
            plan,
            attribute_columns,
            seen,
            repeats,
            last_serial,
            ..
        } = self;
        *last_serial = None;
        check_shape(reader, header, &info)?;
        let cells = Cells::new(reader, header, info.line);
        let serial = read_serial(&cells, header, seen, info.line)?;
        *last_serial = Some(serial.clone());
        // A row has at most one value per attribute column, so the map allocates once.
        let mut draft = Draft::new(AttributeValues::with_capacity(*attribute_columns));
        for &(i, slot) in plan.iter() {
            match slot {
                // The plan leaves ignored columns out.
                Slot::Ignored => {}
                Slot::Field(column) => draft.field(&cells, repeats, i, column)?,
                Slot::Attribute(a) => draft.attribute(&cells, schema, repeats, i, a)?,
            }
        }
        draft.finish(&cells, schema, header, serial, info.line)
    }
}

/// Refuses a record whose last quoted cell is not closed, or that has more or fewer cells
/// than the header (cells beyond the header's that are blank are allowed).
#[inline]
fn check_shape<R: Read>(
    reader: &RecordReader<R>,
    header: &Header,
    info: &RecordInfo,
) -> Result<(), RowError> {
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
    Ok(())
}

/// The row's serial, refused when it is missing, invalid or repeats an earlier row's.
#[inline]
fn read_serial<R: Read>(
    cells: &Cells<'_, R>,
    header: &Header,
    seen: &mut SeenSerials,
    line: u64,
) -> Result<SerialNumber, RowError> {
    let serial_index = header.index_of(Column::Serial).unwrap_or(0);
    let Some(serial_text) = cells.cell(serial_index, false)? else {
        return Err(cells.missing(Column::Serial));
    };
    let serial =
        SerialNumber::new(serial_text).map_err(|e| cells.invalid(serial_index, serial_text, e))?;
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
    Ok(serial)
}

/// The values of a row read so far, besides its serial.
struct Draft {
    name: Option<DeviceName>,
    timezone: Option<Timezone>,
    batch_tag: Option<BatchTag>,
    description: Option<Description>,
    attributes: AttributeValues,
    model: Option<ModelId>,
    environment: Option<EnvironmentId>,
    ou: Option<OuId>,
    version: Option<Version>,
}

impl Draft {
    fn new(attributes: AttributeValues) -> Self {
        Self {
            name: None,
            timezone: None,
            batch_tag: None,
            description: None,
            attributes,
            model: None,
            environment: None,
            ou: None,
            version: None,
        }
    }

    /// Reads cell `i`, the value of the attribute `a` of the schema.
    #[inline]
    fn attribute<R: Read>(
        &mut self,
        cells: &Cells<'_, R>,
        schema: &AttributeSchema,
        repeats: &mut Repeats,
        i: usize,
        a: usize,
    ) -> Result<(), RowError> {
        let (Some(def), Some(repeat)) = (schema.attributes().get(a), repeats.attributes.get_mut(a))
        else {
            return Ok(());
        };
        let allow_empty = matches!(def.ty, AttributeType::String { .. });
        if let Some(text) = cells.cell(i, allow_empty)? {
            let value = repeat
                .value(text, |t| def.parse_value(t))
                .map_err(|e| cells.refused(i, text, e.code(), e.to_string()))?;
            self.attributes.insert(def.id.clone(), value);
        }
        Ok(())
    }

    /// Reads cell `i`, the value of `column`.
    #[inline]
    fn field<R: Read>(
        &mut self,
        cells: &Cells<'_, R>,
        r: &mut Repeats,
        i: usize,
        column: Column,
    ) -> Result<(), RowError> {
        let Some(text) = cells.cell(i, column == Column::Description)? else {
            return Ok(());
        };
        let err = |e: ValidationError| cells.invalid(i, text, e);
        match column {
            Column::DeviceName => self.name = Some(DeviceName::new(text).map_err(err)?),
            Column::ModelId => {
                self.model = Some(r.model.value(text, ModelId::from_str).map_err(err)?);
            }
            Column::Timezone => {
                self.timezone = Some(r.timezone.value(text, Timezone::new).map_err(err)?);
            }
            Column::BatchTag => {
                self.batch_tag = Some(r.batch_tag.value(text, BatchTag::from_str).map_err(err)?);
            }
            Column::Description => {
                self.description = Some(Description::new(text).map_err(err)?);
            }
            Column::Environment => {
                let value = r.environment.value(text, EnvironmentId::from_str);
                self.environment = Some(value.map_err(err)?);
            }
            Column::Ou => self.ou = Some(r.ou.value(text, OuId::from_str).map_err(err)?),
            Column::Version => {
                let n = text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    cells.refused(
                        i,
                        text,
                        "invalid_version",
                        "the version must be a positive whole number",
                    )
                })?;
                self.version = Some(Version::new(n));
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
        Ok(())
    }

    /// The row, once every cell is read: refused when the model, half of the target or a
    /// required attribute is missing.
    #[inline]
    fn finish<R: Read>(
        self,
        cells: &Cells<'_, R>,
        schema: &AttributeSchema,
        header: &Header,
        serial: SerialNumber,
        line: u64,
    ) -> Result<Row, RowError> {
        let model_id = self.model.ok_or_else(|| cells.missing(Column::ModelId))?;
        let target = match (self.environment, self.ou) {
            (Some(e), Some(o)) => Some(Target::new(e, o)),
            (None, None) => None,
            (Some(_), None) => return Err(cells.missing(Column::Ou)),
            (None, Some(_)) => return Err(cells.missing(Column::Environment)),
        };
        for (def, index) in schema.attributes().iter().zip(&header.attributes) {
            if def.required && def.default.is_none() && !self.attributes.contains_key(&def.id) {
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
                name: self.name,
                timezone: self.timezone,
                batch_tag: self.batch_tag,
                description: self.description,
                target,
                attributes: self.attributes,
            },
            version: self.version,
        })
    }
}
