//! The image formats of labels.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::render::{RenderOptions, render_png, render_svg};

/// The image format of the labels in an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ImageFormat {
    /// PNG, 1-bit grayscale (the default).
    #[default]
    Png,
    /// SVG, with the serial as a caption when [`RenderOptions::caption`] is set.
    Svg,
}

impl ImageFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }

    /// The label image of `payload` in this format, as an archive holds it.
    ///
    /// ```
    /// use dps::qr::{ImageFormat, Payload, RenderOptions};
    ///
    /// let group = "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?;
    /// let payload = Payload::new(group, "SN-0001".parse()?, "thermostat".parse()?);
    /// let png = ImageFormat::Png.render(&payload, &RenderOptions::default())?;
    /// assert!(png.starts_with(b"\x89PNG"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Render`] when the payload does not fit a code of the options' size (a
    /// failure of the encoder is one too).
    pub fn render(self, payload: &Payload, options: &RenderOptions) -> Result<Vec<u8>> {
        // The encoder is not ours: a panic in it fails this label, not the export.
        catch_unwind(AssertUnwindSafe(|| match self {
            ImageFormat::Png => render_png(payload, options),
            ImageFormat::Svg => render_svg(payload, options).map(String::into_bytes),
        }))
        .unwrap_or_else(|_| {
            Err(Error::Render {
                message: "the QR encoder failed on this payload".to_owned(),
            })
        })
    }
}
