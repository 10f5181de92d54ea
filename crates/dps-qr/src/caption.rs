//! The caption of a PNG label: the serial and the model in an 8×8 bitmap font compiled into
//! the crate, scaled to whole pixels, drawn into the 1-bit rows under the code.
//!
//! Printable ASCII (`' '` to `'~'`) has glyphs; any other character is drawn as `?`. A line
//! too wide for the label ends in an ellipsis glyph instead of running over the edge.

/// The side of a glyph, in font pixels.
const GLYPH: usize = 8;

/// Three dots at the baseline: the last glyph of a shortened line. Rows top to bottom, the
/// least significant bit is the leftmost pixel, as in the glyph table.
const ELLIPSIS: [u8; 8] = [0, 0, 0, 0, 0, 0xDB, 0xDB, 0];

/// The glyph of `c`, `?` for a character outside printable ASCII.
fn glyph(c: char) -> [u8; 8] {
    let printable = if (' '..='~').contains(&c) { c } else { '?' };
    font8x8::legacy::BASIC_LEGACY[printable as usize]
}

/// One line of a caption, fitted to a width: its glyphs and their scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    glyphs: Vec<[u8; 8]>,
    /// Pixels per font pixel, at least 1.
    scale: usize,
}

impl Line {
    /// `text` at the largest scale up to `max_scale` at which it fits in `width` pixels; at
    /// scale 1, as many characters as fit, the last one an ellipsis. `None` when not one glyph
    /// fits.
    pub(crate) fn fit(text: &str, width: usize, max_scale: usize) -> Option<Self> {
        let chars = text.chars().count();
        let room = width / GLYPH;
        if room == 0 || chars == 0 {
            return None;
        }
        if chars <= room {
            let scale = (width / (chars * GLYPH)).clamp(1, max_scale.max(1));
            return Some(Self {
                glyphs: text.chars().map(glyph).collect(),
                scale,
            });
        }
        let mut glyphs: Vec<[u8; 8]> = text.chars().take(room - 1).map(glyph).collect();
        glyphs.push(ELLIPSIS);
        Some(Self { glyphs, scale: 1 })
    }

    /// The height of the line in pixels.
    pub(crate) fn height(&self) -> usize {
        GLYPH * self.scale
    }

    /// The width of the line in pixels.
    fn width(&self) -> usize {
        self.glyphs.len() * GLYPH * self.scale
    }

    /// Draws the line centred in packed 1-bit rows (`row_bytes` each, 1 is white) of an image
    /// `width` pixels wide, its top at pixel row `top`. Pixels outside the rows are skipped.
    pub(crate) fn draw(&self, rows: &mut [u8], row_bytes: usize, width: usize, top: usize) {
        let left = width.saturating_sub(self.width()) / 2;
        let s = self.scale;
        for (i, glyph) in self.glyphs.iter().enumerate() {
            let x0 = left + i * GLYPH * s;
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in (0..GLYPH).filter(|gx| bits >> gx & 1 == 1) {
                    let x = x0 + gx * s;
                    for y in top + gy * s..top + (gy + 1) * s {
                        if let Some(row) = rows.get_mut(y * row_bytes..(y + 1) * row_bytes) {
                            crate::render::clear_bits(row, x, (x + s).min(width));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_line_grows_up_to_the_largest_scale() {
        let line = Line::fit("AB", 100, 4).unwrap();
        assert_eq!(line.scale, 4);
        assert_eq!(line.height(), 32);
        let line = Line::fit("AB", 40, 4).unwrap();
        assert_eq!(line.scale, 2, "two glyphs of 16 px fit in 40 px");
    }

    #[test]
    fn a_long_line_ends_in_an_ellipsis_and_fits() {
        let line = Line::fit("ABCDEFGHIJ", 40, 4).unwrap();
        assert_eq!(line.scale, 1);
        assert_eq!(line.glyphs.len(), 5);
        assert_eq!(line.glyphs[4], ELLIPSIS);
        assert!(line.width() <= 40);
        assert_eq!(Line::fit("A", 7, 4), None, "not one glyph fits");
    }

    #[test]
    fn characters_outside_printable_ascii_are_question_marks() {
        assert_eq!(glyph('é'), glyph('?'));
        assert_eq!(glyph('\u{7}'), glyph('?'));
        assert_ne!(glyph('A'), glyph('?'));
    }

    #[test]
    fn drawing_clears_bits_inside_the_rows_only() {
        let line = Line::fit("I", 8, 1).unwrap();
        let mut rows = vec![0xFFu8; 8];
        line.draw(&mut rows, 1, 8, 0);
        assert!(rows.iter().any(|r| *r != 0xFF), "the glyph is drawn");
        let mut short = vec![0xFFu8; 2];
        line.draw(&mut short, 1, 8, 4);
        assert_eq!(short.len(), 2, "rows past the end are skipped");
    }
}
