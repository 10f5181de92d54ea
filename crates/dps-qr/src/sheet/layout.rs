//! Where labels go on a page, and text fitted to a label in the PDF standard font Helvetica.
//!
//! Lengths are PDF points (1/72 inch), the origin at the bottom left of the page.

use super::{Paper, SheetOptions};

/// The blank margin around the grid of labels: half an inch.
const MARGIN: f32 = 36.0;
/// The blank padding inside a label, around the code and the text.
const PAD: f32 = 4.0;

/// The widths of Helvetica's glyphs for the characters `' '` to `'~'`, in 1/1000 of the font
/// size (from the font's metrics, the same in every conforming reader).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// The WinAnsiEncoding code of the ellipsis, and its width.
const ELLIPSIS: (u8, u16) = (0x85, 1000);

/// The code of `c` in the font's encoding (printable ASCII as it is, `?` for any other
/// character) and its width.
fn code(c: char) -> (u8, u16) {
    let c = if (' '..='~').contains(&c) { c } else { '?' };
    let byte = c as u8;
    (byte, HELVETICA[usize::from(byte - b' ')])
}

/// A line of text as it is drawn: its bytes in the font's encoding and its width at `size`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text {
    pub(crate) bytes: Vec<u8>,
    pub(crate) width: f32,
}

impl Text {
    /// `text` at `size` points, cut and ended with an ellipsis when it is wider than `room`.
    /// Empty when not even the ellipsis fits.
    pub(crate) fn fit(text: &str, size: f32, room: f32) -> Self {
        let scale = size / 1000.0;
        let codes: Vec<(u8, u16)> = text.chars().map(code).collect();
        let full: u32 = codes.iter().map(|(_, w)| u32::from(*w)).sum();
        if full as f32 * scale <= room {
            return Self {
                bytes: codes.iter().map(|(b, _)| *b).collect(),
                width: full as f32 * scale,
            };
        }
        let mut bytes = Vec::with_capacity(codes.len());
        let mut width = u32::from(ELLIPSIS.1);
        for (b, w) in codes {
            if (width + u32::from(w)) as f32 * scale > room {
                break;
            }
            bytes.push(b);
            width += u32::from(w);
        }
        if width as f32 * scale > room {
            return Self {
                bytes: Vec::new(),
                width: 0.0,
            };
        }
        bytes.push(ELLIPSIS.0);
        Self {
            bytes,
            width: width as f32 * scale,
        }
    }
}

/// A rectangle on the page: its bottom-left corner and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) width: f32,
    pub(crate) height: f32,
}

/// Where the parts of one label go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Place {
    /// The label's cell.
    pub(crate) cell: Rect,
    /// The code's square, quiet zone included, centred at the top of the cell.
    pub(crate) code: Rect,
    /// The baselines of the serial and the model lines.
    pub(crate) serial_y: f32,
    pub(crate) model_y: f32,
}

/// The grid of labels on a page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    pub(crate) page_width: f32,
    pub(crate) page_height: f32,
    columns: u32,
    rows: u32,
    cell_width: f32,
    cell_height: f32,
    /// The font sizes of the serial and the model.
    pub(crate) serial_size: f32,
    pub(crate) model_size: f32,
}

impl Grid {
    /// The grid of `options` (already checked).
    pub(crate) fn new(options: &SheetOptions) -> Self {
        let (page_width, page_height) = options.paper.size();
        let cell_width = (page_width - 2.0 * MARGIN) / options.columns as f32;
        let cell_height = (page_height - 2.0 * MARGIN) / options.rows as f32;
        let serial_size = (cell_height * 0.09).clamp(5.0, 10.0);
        Self {
            page_width,
            page_height,
            columns: options.columns,
            rows: options.rows,
            cell_width,
            cell_height,
            serial_size,
            model_size: serial_size * 0.8,
        }
    }

    /// How many labels a page holds.
    pub(crate) fn per_page(&self) -> usize {
        self.columns as usize * self.rows as usize
    }

    /// The width text may take in a label.
    pub(crate) fn text_room(&self) -> f32 {
        self.cell_width - 2.0 * PAD
    }

    /// Where the `index`th label of a page goes (row by row from the top left).
    pub(crate) fn place(&self, index: usize) -> Place {
        let columns = self.columns as usize;
        let (column, row) = ((index % columns) as f32, (index / columns) as f32);
        let cell = Rect {
            x: MARGIN + column * self.cell_width,
            y: self.page_height - MARGIN - (row + 1.0) * self.cell_height,
            width: self.cell_width,
            height: self.cell_height,
        };
        // Under the code: the serial, the model, and room for the model's descenders.
        let text = self.serial_size + 2.0 + self.model_size * 1.25;
        let side = (self.cell_width - 2.0 * PAD)
            .min(self.cell_height - 2.0 * PAD - text)
            .max(0.0);
        let top = cell.y + cell.height - PAD;
        let code = Rect {
            x: cell.x + (cell.width - side) / 2.0,
            y: top - side,
            width: side,
            height: side,
        };
        let serial_y = code.y - self.serial_size;
        Place {
            cell,
            code,
            serial_y,
            model_y: serial_y - 2.0 - self.model_size,
        }
    }
}

impl Paper {
    /// The page's width and height in points.
    pub(crate) fn size(self) -> (f32, f32) {
        match self {
            Paper::A4 => (595.276, 841.89),
            Paper::Letter => (612.0, 792.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_fits_is_kept_whole() {
        let text = Text::fit("SN-1", 10.0, 100.0);
        assert_eq!(text.bytes, b"SN-1");
        // S 667, N 722, - 333, 1 556.
        assert!((text.width - 22.78).abs() < 0.01, "{}", text.width);
    }

    #[test]
    fn text_too_wide_is_cut_and_ends_in_an_ellipsis_within_the_room() {
        let text = Text::fit("SN-0000000000000001", 10.0, 40.0);
        assert_eq!(text.bytes.last(), Some(&0x85));
        assert!(text.width <= 40.0);
        assert!(text.bytes.starts_with(b"SN-"));
        assert_eq!(
            Text::fit("SN", 10.0, 5.0).bytes,
            b"",
            "not even an ellipsis fits"
        );
    }

    #[test]
    fn characters_outside_printable_ascii_are_question_marks() {
        assert_eq!(Text::fit("é\u{1F600}", 10.0, 100.0).bytes, b"??");
    }

    #[test]
    fn every_label_of_a_page_stays_inside_its_cell_and_the_page() {
        for paper in [Paper::A4, Paper::Letter] {
            for (columns, rows) in [(1, 1), (3, 7), (8, 12)] {
                let options = SheetOptions::default()
                    .with_paper(paper)
                    .with_grid(columns, rows);
                let grid = Grid::new(&options);
                for i in 0..grid.per_page() {
                    let p = grid.place(i);
                    let (c, q) = (p.cell, p.code);
                    assert!(
                        c.x >= MARGIN - 0.01 && c.y >= MARGIN - 0.01,
                        "{paper:?} {i}"
                    );
                    assert!(c.x + c.width <= grid.page_width - MARGIN + 0.01);
                    assert!(c.y + c.height <= grid.page_height - MARGIN + 0.01);
                    assert!(q.width > 20.0, "a code of {} pt", q.width);
                    assert!(q.x >= c.x && q.x + q.width <= c.x + c.width);
                    assert!(q.y + q.height <= c.y + c.height);
                    assert!(p.model_y - grid.model_size * 0.25 >= c.y, "{paper:?} {i}");
                }
            }
        }
    }
}
