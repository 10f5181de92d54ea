//! The files of export and label jobs: each page's part as the job stores it, and the file
//! a client downloads, made of the parts in order; and a job's results as CSV.
//!
//! An export's part is its CSV rows (the first part starts with the byte order mark and the
//! header). A label job's part holds each label already rendered, framed as
//! `payload length, payload, image length, image` (lengths as 4 big-endian bytes); the
//! download writes them into the ZIP archive, with its manifest and directory, as it goes.

use axum::body::{Body, Bytes};
use dps_core::Device;
use dps_core::job::{FilePage, Job, JobFailure, JobFile, JobKind};
use dps_csv::{DeviceWriter, ExportOptions, JobResultsWriter};
use dps_qr::{ArchiveOptions, AsyncLabelArchive, Payload};

use crate::Api;

/// Writes the pages of the export and label jobs of a provisioner.
pub(crate) struct Files {
    pub(crate) api: Api,
}

#[async_trait::async_trait]
impl JobFile for Files {
    async fn page(&self, job: &Job, devices: Vec<Device>) -> dps_core::Result<FilePage> {
        match job.kind() {
            JobKind::Labels => labels_page(devices).await,
            _ => {
                let group = self.api.provisioner().group(job.group_id()).await?;
                Ok(csv_page(group.attributes(), job.pages() == 0, &devices))
            }
        }
    }

    async fn import(
        &self,
        job: &Job,
        _index: u32,
        part: Vec<u8>,
        resumed_since: Option<dps_core::Timestamp>,
    ) -> dps_core::Result<dps_core::job::ImportPage> {
        super::import::import_part(&self.api, job, part, resumed_since).await
    }
}

/// The CSV rows of `devices`, after the byte order mark and the header when `first`.
fn csv_page(
    schema: &dps_core::attribute::AttributeSchema,
    first: bool,
    devices: &[Device],
) -> FilePage {
    let options = ExportOptions::default();
    let writer = if first {
        DeviceWriter::new(Vec::new(), schema, &options)
    } else {
        DeviceWriter::continuing(Vec::new(), schema, &options)
    };
    let mut failures = Vec::new();
    let Ok(mut writer) = writer else {
        // A writer into memory without secrets does not fail to start.
        return FilePage::default();
    };
    for device in devices {
        if let Err(e) = writer.write(device) {
            failures.push(failure(device, e.code(), e.to_string()));
        }
    }
    FilePage {
        bytes: writer.finish().unwrap_or_default(),
        failures,
    }
}

/// The labels of `devices`, rendered on a blocking thread.
async fn labels_page(devices: Vec<Device>) -> dps_core::Result<FilePage> {
    let serials: Vec<_> = devices.iter().map(|d| d.serial().clone()).collect();
    let rendered = tokio::task::spawn_blocking(move || {
        let options = ArchiveOptions::default();
        let mut page = FilePage::default();
        for device in &devices {
            let payload = Payload::of(device);
            match options.format.render(&payload, &options.render) {
                Ok(image) => push_label(&mut page.bytes, &payload.render(), &image),
                Err(e) => page.failures.push(failure(device, e.code(), e.to_string())),
            }
        }
        page
    })
    .await;
    // The rendering thread stopped (the runtime is shutting down): no label of the page.
    Ok(rendered.unwrap_or_else(|e| FilePage {
        bytes: Vec::new(),
        failures: serials
            .into_iter()
            .map(|serial| JobFailure {
                serial,
                code: "render_failed".to_owned(),
                message: format!("the label rendering stopped: {e}"),
            })
            .collect(),
    }))
}

fn failure(device: &Device, code: &str, message: String) -> JobFailure {
    JobFailure {
        serial: device.serial().clone(),
        code: code.to_owned(),
        message,
    }
}

fn push_label(out: &mut Vec<u8>, payload: &str, image: &[u8]) {
    for bytes in [payload.as_bytes(), image] {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
}

/// The labels of a stored part, in order; `None` when the part is damaged.
fn labels_of(mut part: &[u8]) -> Option<Vec<(Payload, Vec<u8>)>> {
    let mut labels = Vec::new();
    let take = |part: &mut &[u8]| -> Option<Vec<u8>> {
        let (len, rest) = part.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let bytes = rest.get(..len)?.to_vec();
        *part = &rest[len..];
        Some(bytes)
    };
    while !part.is_empty() {
        let payload = String::from_utf8(take(&mut part)?).ok()?;
        let image = take(&mut part)?;
        labels.push((Payload::parse(&payload).ok()?, image));
    }
    Some(labels)
}

/// The file of a finished export, label or import job (the report of its refused records),
/// made of its parts as it is sent.
pub(crate) fn file_body(api: Api, job: Job) -> Body {
    if job.kind() == JobKind::Labels {
        return crate::routes::transfer::streamed(move |writer| async move {
            let mut archive = AsyncLabelArchive::new(writer, ArchiveOptions::default())?;
            for index in 0..job.pages() {
                let part = api.provisioner().job_output(&job, index).await?;
                let labels = part
                    .as_deref()
                    .and_then(labels_of)
                    .ok_or_else(|| damaged(&job, index))?;
                for (payload, image) in labels {
                    archive.push_image(payload, None, image).await?;
                }
            }
            archive.finish().await.map(drop)
        });
    }
    // An import's report starts with its header; an export's first part has it.
    let first = if job.kind() == JobKind::Import {
        Some(report_header())
    } else {
        None
    };
    let parts = futures_util::stream::unfold(Some((0, first)), move |state| {
        let (api, job) = (api.clone(), job.clone());
        async move {
            let (index, first) = state?;
            if let Some(first) = first {
                return Some((first.map(Bytes::from), Some((index, None))));
            }
            if index == 0 && job.pages() == 0 && job.kind() != JobKind::Import {
                // No device: the header alone, as an export of nothing writes it.
                let header = empty_export(&api, &job).await;
                return Some((header.map(Bytes::from), None));
            }
            if index >= job.pages() {
                return None;
            }
            match api.provisioner().job_output(&job, index).await {
                Ok(Some(part)) => Some((Ok(Bytes::from(part)), Some((index + 1, None)))),
                // A part the job counts and the store does not have: the file breaks off.
                Ok(None) => Some((Err(std::io::Error::other(damaged(&job, index))), None)),
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        }
    });
    Body::from_stream(parts)
}

fn report_header() -> std::io::Result<Vec<u8>> {
    dps_csv::ErrorReportWriter::new(Vec::new())?.finish()
}

async fn empty_export(api: &Api, job: &Job) -> std::io::Result<Vec<u8>> {
    let group = api
        .provisioner()
        .group(job.group_id())
        .await
        .map_err(std::io::Error::other)?;
    DeviceWriter::new(Vec::new(), group.attributes(), &ExportOptions::default())
        .map_err(std::io::Error::other)?
        .finish()
}

fn damaged(job: &Job, index: u32) -> dps_qr::Error {
    dps_qr::Error::Io(std::io::Error::other(format!(
        "part {index} of job {} does not decode",
        job.id()
    )))
}

/// The outcome of every device the job did so far, as CSV (see [`JobResultsWriter`]).
pub(crate) fn results_body(api: Api, job: Job) -> Body {
    let parts = futures_util::stream::unfold(
        (0, JobResultsWriter::new(Vec::new()).ok()),
        move |(index, writer)| {
            let (api, job) = (api.clone(), job.clone());
            async move {
                let mut writer = writer?;
                if index >= job.pages() {
                    // The header when there is no part.
                    let rest = writer.finish();
                    return Some((rest.map(Bytes::from), (index, None)));
                }
                let chunk = async {
                    for outcome in api
                        .provisioner()
                        .job_results(&job, index)
                        .await
                        .map_err(std::io::Error::other)?
                    {
                        writer.write(&outcome)?;
                    }
                    writer.take()
                }
                .await;
                // After a failure the body breaks off.
                let next = chunk.is_ok().then_some(writer);
                Some((chunk.map(Bytes::from), (index + 1, next)))
            }
        },
    );
    Body::from_stream(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_part_reads_back_as_it_was_written() -> Result<(), Box<dyn std::error::Error>> {
        let group = "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?;
        let payload = Payload::new(group, "SN-0001".parse()?, "thermostat".parse()?);
        let mut part = Vec::new();
        push_label(&mut part, &payload.render(), b"image");
        push_label(&mut part, &payload.render(), b"");
        let labels = labels_of(&part).ok_or("part does not decode")?;
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[0].0, payload);
        assert_eq!(labels[0].1, b"image");
        assert!(labels[1].1.is_empty());
        // A cut part is refused, never misread.
        assert!(labels_of(&part[..part.len() - 1]).is_none());
        assert!(labels_of(&part[..3]).is_none());
        Ok(())
    }
}
