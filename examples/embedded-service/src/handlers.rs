//! The handlers: parse the request, call the provisioner, answer a view.

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use dps::attribute::{AttributeDef, AttributeSchema, AttributeType};
use dps::csv::ImportOptions;
use dps::qr::ArchiveOptions;
use dps::{
    BatchReport, DeviceFilter, DeviceQuery, EventCursor, GroupId, NewGroup, NewSerial, Page,
    ReplaceRequest, Selection, SerialNumber, ValidationError,
};
use serde::Deserialize;

use crate::views::{DeviceView, EventView, GroupView, ImportView};
use crate::{ApiError, Dps, MAX_PAGE};

type Shared = State<Arc<Dps>>;

/// A text from the request as a validated dps value.
fn parse<T: FromStr<Err = ValidationError>>(text: &str) -> Result<T, ApiError> {
    Ok(text.parse()?)
}

/// An optional text from the request as a validated dps value.
fn parse_opt<T: FromStr<Err = ValidationError>>(text: Option<&str>) -> Result<Option<T>, ApiError> {
    text.map(parse).transpose()
}

/// The page size a client asked for, 100 unless given, at most [`MAX_PAGE`].
fn page_size(limit: Option<usize>) -> usize {
    limit.unwrap_or(100).clamp(1, MAX_PAGE)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateGroup {
    name: String,
    default_target: Option<String>,
    #[serde(default)]
    attributes: Vec<CreateAttribute>,
}

#[derive(Debug, Deserialize)]
struct CreateAttribute {
    id: String,
    /// `integer`, `date` or `string`.
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    required: bool,
}

impl CreateAttribute {
    fn definition(&self) -> Result<AttributeDef, ApiError> {
        let ty = match self.ty.as_str() {
            "integer" => AttributeType::Integer,
            "date" => AttributeType::Date,
            "string" => AttributeType::String { max_len: 256 },
            other => {
                return Err(ApiError::bad_request(
                    "invalid_attribute_type",
                    format!("attribute type {other:?} is not integer, date or string"),
                ));
            }
        };
        let def = AttributeDef::new(parse(&self.id)?, ty);
        Ok(if self.required { def.required() } else { def })
    }
}

pub(crate) async fn create_group(
    State(dps): Shared,
    Json(body): Json<CreateGroup>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let mut settings = NewGroup::new(parse(&body.name)?);
    settings.default_target = parse_opt(body.default_target.as_deref())?;
    let attributes = body
        .attributes
        .iter()
        .map(CreateAttribute::definition)
        .collect::<Result<Vec<_>, _>>()?;
    settings.attributes = AttributeSchema::new(attributes)?;
    let group = dps.create_group(settings).await?;
    Ok((StatusCode::CREATED, Json(GroupView::new(&group, 0))))
}

pub(crate) async fn group(
    State(dps): Shared,
    Path(group): Path<String>,
) -> Result<Json<GroupView>, ApiError> {
    let group = dps.group(parse(&group)?).await?;
    let devices = dps.count(&DeviceQuery::group(group.id())).await?;
    Ok(Json(GroupView::new(&group, devices)))
}

/// The body is in memory (axum refuses bodies over 2 MB, the CSV default limit too), so the
/// import reads it without blocking.
pub(crate) async fn import(
    State(dps): Shared,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<Json<ImportView>, ApiError> {
    let group: GroupId = parse(&group)?;
    let report = dps::csv::import(&dps, group, body.as_ref(), &ImportOptions::default()).await?;
    Ok(Json(ImportView::from(&report)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SelectionBody {
    /// These serials, or every device of the group when absent.
    serials: Option<Vec<String>>,
}

pub(crate) async fn allocate(
    State(dps): Shared,
    Path(group): Path<String>,
    Json(body): Json<SelectionBody>,
) -> Result<Json<BatchReport>, ApiError> {
    let selection = match body.serials {
        Some(serials) => {
            Selection::Serials(serials.iter().map(|s| parse(s)).collect::<Result<_, _>>()?)
        }
        None => Selection::all(),
    };
    let report = dps.allocate(parse(&group)?, &selection).await?;
    // The library's report has a documented JSON shape of its own.
    Ok(Json(report))
}

/// The filters of a device listing and of the label archive.
#[derive(Debug, Deserialize)]
pub(crate) struct DeviceParams {
    status: Option<String>,
    batch_tag: Option<String>,
    model_id: Option<String>,
    serial_prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

impl DeviceParams {
    fn filter(&self) -> Result<DeviceFilter, ApiError> {
        Ok(DeviceFilter {
            status: parse_opt(self.status.as_deref())?,
            batch_tag: parse_opt(self.batch_tag.as_deref())?,
            model_id: parse_opt(self.model_id.as_deref())?,
            serial_prefix: parse_opt(self.serial_prefix.as_deref())?,
            ..DeviceFilter::default()
        })
    }
}

pub(crate) async fn devices(
    State(dps): Shared,
    Path(group): Path<String>,
    Query(params): Query<DeviceParams>,
) -> Result<Json<Page<DeviceView, SerialNumber>>, ApiError> {
    let query = DeviceQuery::new(parse(&group)?, params.filter()?);
    let after: Option<SerialNumber> = parse_opt(params.after.as_deref())?;
    let page = dps.devices(&query, after, page_size(params.limit)).await?;
    Ok(Json(Page {
        items: page.items.iter().map(DeviceView::from).collect(),
        next: page.next,
    }))
}

pub(crate) async fn device(
    State(dps): Shared,
    Path((group, serial)): Path<(String, String)>,
) -> Result<Json<DeviceView>, ApiError> {
    let device = dps
        .device_by_serial(parse(&group)?, &parse(&serial)?)
        .await?;
    Ok(Json(DeviceView::from(&device)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReplaceBody {
    /// The new hardware's serial; one is generated when absent.
    new_serial: Option<String>,
    batch_tag: String,
    description: Option<String>,
}

pub(crate) async fn replace(
    State(dps): Shared,
    Path((group, serial)): Path<(String, String)>,
    Json(body): Json<ReplaceBody>,
) -> Result<Json<DeviceView>, ApiError> {
    let request = ReplaceRequest {
        new_serial: match body.new_serial.as_deref() {
            Some(serial) => NewSerial::Given(parse(serial)?),
            None => NewSerial::Generated,
        },
        batch_tag: parse(&body.batch_tag)?,
        description: parse_opt(body.description.as_deref())?,
    };
    let device = dps
        .replace(parse(&group)?, &parse(&serial)?, request)
        .await?;
    Ok(Json(DeviceView::from(&device)))
}

/// The async export renders labels on threads of its own, so the handler awaits it like any
/// other call and the async threads stay free for other requests.
pub(crate) async fn labels(
    State(dps): Shared,
    Path(group): Path<String>,
    Query(params): Query<DeviceParams>,
) -> Result<impl IntoResponse, ApiError> {
    let group: GroupId = parse(&group)?;
    let selection = Selection::Filter(params.filter()?);
    let mut zip = Vec::new();
    dps::qr::export_zip_async(&dps, group, &selection, &mut zip, ArchiveOptions::default()).await?;
    Ok(([(header::CONTENT_TYPE, "application/zip")], zip))
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventParams {
    after: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn events(
    State(dps): Shared,
    Query(params): Query<EventParams>,
) -> Result<Json<Page<EventView, String>>, ApiError> {
    let after: EventCursor = parse_opt(params.after.as_deref())?.unwrap_or(EventCursor::START);
    let limit = page_size(params.limit);
    let events = dps.events(after, limit).await?;
    let next = (events.len() == limit)
        .then(|| events.last().map(|e| e.cursor.to_string()))
        .flatten();
    Ok(Json(Page {
        items: events.iter().map(EventView::from).collect(),
        next,
    }))
}
