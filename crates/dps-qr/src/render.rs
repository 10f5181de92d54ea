//! QR encoding and the PNG and SVG renderers.

use std::fmt;
use std::fmt::Write as _;

use crate::caption::Line;
use crate::error::{Error, Result};
use crate::payload::Payload;

/// A QR error-correction level: how much of a damaged or dirty code can still be read, paid
/// for with a larger code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EcLevel {
    /// About 7 % of the code can be restored.
    L,
    /// About 15 % of the code can be restored (the default).
    #[default]
    M,
    /// About 25 % of the code can be restored.
    Q,
    /// About 30 % of the code can be restored.
    H,
}

impl EcLevel {
    fn to_fast_qr(self) -> fast_qr::ECL {
        match self {
            EcLevel::L => fast_qr::ECL::L,
            EcLevel::M => fast_qr::ECL::M,
            EcLevel::Q => fast_qr::ECL::Q,
            EcLevel::H => fast_qr::ECL::H,
        }
    }
}

impl fmt::Display for EcLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EcLevel::L => "L",
            EcLevel::M => "M",
            EcLevel::Q => "Q",
            EcLevel::H => "H",
        })
    }
}

/// How labels are drawn.
///
/// Build it from [`RenderOptions::default`] and the `with_` methods; the renderers check the
/// ranges and answer [`Error::InvalidOption`] for a value outside them.
///
/// ```
/// use dps::qr::{EcLevel, RenderOptions};
/// let options = RenderOptions::default()
///     .with_ec_level(EcLevel::Q)
///     .with_module_size(4)
///     .with_caption(true);
/// assert_eq!(options.quiet_zone, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// The error-correction level. Default: [`EcLevel::M`].
    pub ec_level: EcLevel,
    /// The side of one module: pixels in a PNG, user units (px) in an SVG. 1 to 32; default 8.
    pub module_size: u32,
    /// The blank margin around the code, in modules. 0 to 16; default 4, which the QR
    /// standard asks for.
    pub quiet_zone: u32,
    /// The largest QR version (1 to 40; version `v` is `17 + 4v` modules wide) a label may
    /// take, for labels of a fixed size; a payload that needs more is refused with
    /// [`Error::PayloadTooLong`]. Default: 40, the largest there is.
    pub max_version: u8,
    /// Whether a label shows readable text under the code: the serial and the model on a
    /// PNG, the serial on an SVG. Default: yes, so that a person can check a printed label;
    /// without it, the image is the code and its quiet zone alone.
    pub caption: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            ec_level: EcLevel::M,
            module_size: 8,
            quiet_zone: 4,
            max_version: 40,
            caption: true,
        }
    }
}

impl RenderOptions {
    /// The range of [`RenderOptions::module_size`].
    pub const MODULE_SIZE: std::ops::RangeInclusive<u32> = 1..=32;
    /// The range of [`RenderOptions::quiet_zone`].
    pub const QUIET_ZONE: std::ops::RangeInclusive<u32> = 0..=16;
    /// The range of [`RenderOptions::max_version`].
    pub const VERSION: std::ops::RangeInclusive<u8> = 1..=40;

    /// These options with another error-correction level.
    #[must_use]
    pub fn with_ec_level(mut self, ec_level: EcLevel) -> Self {
        self.ec_level = ec_level;
        self
    }

    /// These options with another module size.
    #[must_use]
    pub fn with_module_size(mut self, module_size: u32) -> Self {
        self.module_size = module_size;
        self
    }

    /// These options with another quiet zone.
    #[must_use]
    pub fn with_quiet_zone(mut self, quiet_zone: u32) -> Self {
        self.quiet_zone = quiet_zone;
        self
    }

    /// These options with another largest QR version.
    #[must_use]
    pub fn with_max_version(mut self, max_version: u8) -> Self {
        self.max_version = max_version;
        self
    }

    /// These options with or without the caption under the code.
    #[must_use]
    pub fn with_caption(mut self, caption: bool) -> Self {
        self.caption = caption;
        self
    }

    /// Checks every option against its range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first option out of range.
    pub fn validate(&self) -> Result<()> {
        if !Self::MODULE_SIZE.contains(&self.module_size) {
            return Err(Error::InvalidOption {
                option: "module_size",
                range: "1 to 32",
            });
        }
        if !Self::QUIET_ZONE.contains(&self.quiet_zone) {
            return Err(Error::InvalidOption {
                option: "quiet_zone",
                range: "0 to 16",
            });
        }
        if !Self::VERSION.contains(&self.max_version) {
            return Err(Error::InvalidOption {
                option: "max_version",
                range: "1 to 40",
            });
        }
        Ok(())
    }
}

/// An encoded QR code: the square matrix of dark and light modules, without quiet zone.
///
/// The renderers below draw it; a caller with another output (a label printer's language,
/// say) can draw it from [`Symbol::is_dark`].
#[derive(Clone, PartialEq, Eq)]
pub struct Symbol {
    version: u8,
    size: usize,
    dark: Vec<bool>,
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Symbol")
            .field("version", &self.version)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Symbol {
    /// Encodes a payload in the smallest QR version that holds it at the options'
    /// error-correction level.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLong`] when that version is above
    /// [`RenderOptions::max_version`], [`Error::InvalidOption`] for options out of range.
    pub fn for_payload(payload: &Payload, options: &RenderOptions) -> Result<Self> {
        options.validate()?;
        Self::encode(&payload.render(), options.ec_level, options.max_version)
    }

    /// Encodes `text` (never empty) in the smallest version that holds it.
    pub(crate) fn encode(text: &str, ec_level: EcLevel, max_version: u8) -> Result<Self> {
        let too_long = || Error::PayloadTooLong {
            len: text.chars().count(),
            ec_level,
            max_version,
        };
        if text.is_empty() {
            return Err(Error::Render {
                message: "empty payload".to_owned(),
            });
        }
        let qr = fast_qr::QRBuilder::new(text.as_bytes())
            .ecl(ec_level.to_fast_qr())
            .build()
            .map_err(|_| too_long())?;
        let size = qr.size;
        let version = size.saturating_sub(17) / 4;
        if size < 21 || (size - 17) % 4 != 0 || version > 40 {
            return Err(Error::Render {
                message: format!("the encoder returned a code of {size} modules"),
            });
        }
        let version = version as u8;
        if version > max_version {
            return Err(too_long());
        }
        let dark = qr.data[..size * size].iter().map(|m| m.value()).collect();
        Ok(Self {
            version,
            size,
            dark,
        })
    }

    /// The QR version, 1 to 40.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The number of modules on each side: `17 + 4 × version`.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module in column `x`, row `y` is dark; `false` outside the code.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.dark[y * self.size + x]
    }

    /// The side of the image in pixels (PNG) or user units (SVG), quiet zone included.
    fn side(&self, options: &RenderOptions) -> u32 {
        (self.size as u32 + 2 * options.quiet_zone) * options.module_size
    }

    /// A PNG of the code alone: 1-bit grayscale, `module_size` pixels per module, the quiet
    /// zone around, whatever [`RenderOptions::caption`] says.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for options out of range, [`Error::Render`] if the PNG
    /// encoder fails.
    pub fn to_png(&self, options: &RenderOptions) -> Result<Vec<u8>> {
        self.to_png_with_caption(options, &[])
    }

    /// A PNG of the code with `caption` under it, one line of readable text per item (the
    /// serial, then the model, for [`render_png`]); with no lines, the same as
    /// [`Symbol::to_png`].
    ///
    /// The text is drawn in an 8×8 bitmap font built into the crate, scaled by whole pixels
    /// up to `module_size` for the first line and half of it for the others, so that a
    /// line fits the width of the image less one module on each side. Printable ASCII is
    /// drawn as it is and any other character as `?`; a line too long to fit at one pixel per
    /// font pixel is cut and ends in an ellipsis. The lines sit below the quiet zone, one
    /// module apart, so the code keeps its quiet zone and still decodes.
    ///
    /// ```
    /// use dps::qr::{Payload, RenderOptions, Symbol};
    ///
    /// let payload = Payload::new(
    ///     "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?,
    ///     "SN-0001".parse()?,
    ///     "thermostat".parse()?,
    /// );
    /// let options = RenderOptions::default();
    /// let symbol = Symbol::for_payload(&payload, &options)?;
    /// let png = symbol.to_png_with_caption(&options, &["SN-0001", "thermostat"])?;
    /// assert!(png.len() > symbol.to_png(&options)?.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Symbol::to_png`].
    pub fn to_png_with_caption(
        &self,
        options: &RenderOptions,
        caption: &[&str],
    ) -> Result<Vec<u8>> {
        options.validate()?;
        let side = self.side(options);
        let width = side as usize;
        let row_bytes = width.div_ceil(8);
        let module = options.module_size as usize;
        let mut pixels = self.code_rows(options.module_size, options.quiet_zone);

        // The caption: a line of up to `module_size` pixels per font pixel, the others half
        // that, each one module below the one before.
        let room = width.saturating_sub(2 * module);
        let lines: Vec<Line> = caption
            .iter()
            .enumerate()
            .filter_map(|(i, text)| {
                let max_scale = if i == 0 { module } else { module / 2 };
                Line::fit(text, room, max_scale)
            })
            .collect();
        if !lines.is_empty() {
            let band: usize = lines.iter().map(|l| l.height() + module).sum::<usize>() + module;
            let mut top = pixels.len() / row_bytes + module;
            pixels.resize(pixels.len() + band * row_bytes, 0xFF);
            for line in &lines {
                line.draw(&mut pixels, row_bytes, width, top);
                top += line.height() + module;
            }
        }
        let height = u32::try_from(pixels.len() / row_bytes).map_err(|_| Error::Render {
            message: "the label is too tall".to_owned(),
        })?;

        let mut out = Vec::with_capacity(256 + pixels.len() / 8);
        let render_err = |e: png::EncodingError| Error::Render {
            message: e.to_string(),
        };
        let mut encoder = png::Encoder::new(&mut out, side, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        encoder.set_filter(png::Filter::Up);
        let mut writer = encoder.write_header().map_err(render_err)?;
        writer.write_image_data(&pixels).map_err(render_err)?;
        writer.finish().map_err(render_err)?;
        Ok(out)
    }

    /// The code as packed 1-bit rows, most significant bit first and 1 for white: `module`
    /// pixels per module, `quiet` modules of white around, `side` rows of `side.div_ceil(8)`
    /// bytes where `side` is `(size + 2 × quiet) × module`.
    pub(crate) fn code_rows(&self, module: u32, quiet: u32) -> Vec<u8> {
        let module = module as usize;
        let quiet = quiet as usize;
        let width = (self.size + 2 * quiet) * module;
        let row_bytes = width.div_ceil(8);

        // Every pixel row of a module row is the same, so build it once.
        let mut pixels = vec![0u8; row_bytes * width];
        let mut row = vec![0u8; row_bytes];
        let white_row = vec![0xFFu8; row_bytes];
        for (module_y, band) in pixels.chunks_exact_mut(row_bytes * module).enumerate() {
            let y = module_y.wrapping_sub(quiet);
            let src = if y < self.size {
                row.fill(0xFF);
                for x in 0..self.size {
                    if self.dark[y * self.size + x] {
                        let start = (quiet + x) * module;
                        clear_bits(&mut row, start, start + module);
                    }
                }
                &row
            } else {
                &white_row
            };
            for line in band.chunks_exact_mut(row_bytes) {
                line.copy_from_slice(src);
            }
        }
        pixels
    }

    /// An SVG: one path for the dark modules over a white square, `module_size` user units
    /// per module, the quiet zone around and, when asked for, `caption` centred under it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for options out of range.
    pub fn to_svg(&self, options: &RenderOptions, caption: Option<&str>) -> Result<String> {
        options.validate()?;
        let quiet = options.quiet_zone as usize;
        let side = self.size + 2 * quiet;
        // The caption sits below the quiet zone, in a band of its own.
        let font = 3usize.max(side / 12);
        let band = if caption.is_some() { font * 2 } else { 0 };
        let unit = options.module_size as usize;
        let mut svg = String::with_capacity(512 + self.size * self.size * 3);
        // Writing to a String cannot fail.
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {side} {vh}\" shape-rendering=\"crispEdges\">\
             <rect width=\"{side}\" height=\"{vh}\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
            w = side * unit,
            h = (side + band) * unit,
            vh = side + band,
        );
        for y in 0..self.size {
            let mut x = 0;
            while x < self.size {
                if !self.dark[y * self.size + x] {
                    x += 1;
                    continue;
                }
                let run = self.dark[y * self.size + x..(y + 1) * self.size]
                    .iter()
                    .take_while(|d| **d)
                    .count();
                let _ = write!(svg, "M{},{}h{run}v1h-{run}z", x + quiet, y + quiet);
                x += run;
            }
        }
        svg.push_str("\"/>");
        if let Some(text) = caption {
            let chars = text.chars().count();
            // Monospace glyphs are about 0.6 em wide; squeeze a long caption to fit.
            let room = side.saturating_sub(2).max(1);
            let squeeze = if chars * font * 6 > room * 10 {
                format!(" textLength=\"{room}\" lengthAdjust=\"spacingAndGlyphs\"")
            } else {
                String::new()
            };
            let _ = write!(
                svg,
                "<text x=\"{x}\" y=\"{y}\" font-family=\"monospace\" font-size=\"{font}\" \
                 text-anchor=\"middle\"{squeeze}>",
                x = side as f64 / 2.0,
                y = side + font + font / 4,
            );
            push_xml_escaped(&mut svg, text);
            svg.push_str("</text>");
        }
        svg.push_str("</svg>\n");
        Ok(svg)
    }
}

/// Renders a payload as a PNG: with the serial and the model as a caption under the code
/// when [`RenderOptions::caption`] is set (the default; see
/// [`Symbol::to_png_with_caption`]), the code alone when it is not ([`Symbol::to_png`]).
///
/// # Errors
///
/// As [`Symbol::for_payload`] and [`Symbol::to_png`].
pub fn render_png(payload: &Payload, options: &RenderOptions) -> Result<Vec<u8>> {
    let symbol = Symbol::for_payload(payload, options)?;
    if options.caption {
        let caption = [payload.serial().as_str(), payload.model().as_str()];
        symbol.to_png_with_caption(options, &caption)
    } else {
        symbol.to_png(options)
    }
}

/// Renders a payload as an SVG (see [`Symbol::to_svg`]), with the serial as a caption when
/// [`RenderOptions::caption`] is set.
///
/// # Errors
///
/// As [`Symbol::for_payload`] and [`Symbol::to_svg`].
pub fn render_svg(payload: &Payload, options: &RenderOptions) -> Result<String> {
    let caption = options.caption.then(|| payload.serial().as_str());
    Symbol::for_payload(payload, options)?.to_svg(options, caption)
}

/// Clears the bits `start..end` of a packed row, most significant bit first.
pub(crate) fn clear_bits(row: &mut [u8], start: usize, end: usize) {
    for bit in start..end {
        if let Some(byte) = row.get_mut(bit / 8) {
            *byte &= !(0x80u8 >> (bit % 8));
        }
    }
}

fn push_xml_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
