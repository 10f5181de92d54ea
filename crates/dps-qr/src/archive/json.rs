//! The JSON form of label reports: outcomes name their file or carry their error as
//! `{"code": …, "message": …}`.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{LabelOutcome, LabelReport};
use crate::error::Error;

/// An error as a report carries it: its stable code and its message.
struct ErrorJson<'a>(&'a Error);

impl Serialize for ErrorJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Error", 2)?;
        out.serialize_field("code", self.0.code())?;
        out.serialize_field("message", &self.0.to_string())?;
        out.end()
    }
}

/// An outcome whose success is named `key`: `file` in an archive, `label` on a sheet.
pub(crate) struct OutcomeJson<'a>(pub(crate) &'a LabelOutcome, pub(crate) &'static str);

impl Serialize for OutcomeJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self(outcome, key) = self;
        let mut out = serializer.serialize_struct("LabelOutcome", 3)?;
        out.serialize_field("serial", outcome.serial.as_str())?;
        out.serialize_field(
            "device_id",
            &outcome.device_id.as_ref().map(ToString::to_string),
        )?;
        match &outcome.result {
            Ok(file) => out.serialize_field(key, file)?,
            Err(error) => out.serialize_field("error", &ErrorJson(error))?,
        }
        out.end()
    }
}

impl Serialize for LabelOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        OutcomeJson(self, "file").serialize(serializer)
    }
}

impl Serialize for LabelReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("LabelReport", 3)?;
        out.serialize_field("succeeded", &self.succeeded())?;
        out.serialize_field("failed", &self.failed())?;
        out.serialize_field("outcomes", &self.outcomes)?;
        out.end()
    }
}
