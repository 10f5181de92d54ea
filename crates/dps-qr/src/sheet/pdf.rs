//! The PDF file of a label sheet, written a page at a time: each page's objects (the codes
//! as images, the content stream, the page) go out once the page is full, and the page tree,
//! the catalog and the cross-reference table at the end.

use pdf_writer::{Chunk, Content, Finish, Name, Rect, Ref, Settings, Str};

use super::layout::{Grid, Text};
use crate::render::Symbol;

/// The document catalog.
const CATALOG: Ref = Ref::new(1);
/// The page tree, written at the end with every page.
const PAGES: Ref = Ref::new(2);
/// Helvetica, the one font, written with the first page.
const FONT: Ref = Ref::new(3);
/// The font's name in every page's resources.
const FONT_NAME: Name<'static> = Name(b"F1");

/// One label waiting for its page to be full.
#[derive(Debug)]
pub(crate) struct Label {
    pub(crate) symbol: Symbol,
    pub(crate) serial: String,
    pub(crate) model: String,
}

/// The PDF being written. Bytes ready for the writer collect in [`Document::out`]; the caller
/// takes them after each call.
#[derive(Debug)]
pub(crate) struct Document {
    grid: Grid,
    quiet_zone: u32,
    /// Bytes ready for the writer.
    pub(crate) out: Vec<u8>,
    /// Bytes taken from `out` so far.
    taken: u64,
    /// The byte offset of every object, by object number less one; 0 until written.
    offsets: Vec<u64>,
    /// Every page written.
    pages: Vec<Ref>,
}

impl Document {
    /// A document of pages laid out as `grid`, with codes of `quiet_zone` modules of margin.
    pub(crate) fn new(grid: Grid, quiet_zone: u32) -> Self {
        Self {
            grid,
            quiet_zone,
            out: Vec::new(),
            taken: 0,
            offsets: vec![0; 3],
            pages: Vec::new(),
        }
    }

    /// The number of pages written.
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Records that the bytes in `out` were handed to the writer, and empties it.
    pub(crate) fn taken(&mut self) {
        self.taken += self.out.len() as u64;
        self.out.clear();
    }

    fn alloc(&mut self) -> Ref {
        self.offsets.push(0);
        // Object numbers are positive and a sheet holds far fewer than 2^31 objects.
        Ref::new(i32::try_from(self.offsets.len()).unwrap_or(i32::MAX))
    }

    /// Appends `chunk`, whose objects are `objects` at the chunk offsets given, to `out`.
    fn append(&mut self, chunk: &Chunk, objects: &[(Ref, usize)]) {
        let base = self.taken + self.out.len() as u64;
        for (id, at) in objects {
            if let Some(slot) = usize::try_from(id.get() - 1)
                .ok()
                .and_then(|i| self.offsets.get_mut(i))
            {
                *slot = base + *at as u64;
            }
        }
        self.out.extend_from_slice(chunk.as_bytes());
    }

    /// Writes one page with `labels` (at most a grid's worth), and the file's header and
    /// font before the first page.
    pub(crate) fn page(&mut self, labels: &[Label]) {
        let mut chunk = Chunk::with_settings(Settings { pretty: false });
        let mut objects = Vec::with_capacity(labels.len() + 3);
        if self.pages.is_empty() {
            self.out.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
            objects.push((FONT, chunk.len()));
            chunk
                .type1_font(FONT)
                .base_font(Name(b"Helvetica"))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        let mut content = Content::new();
        let mut images = Vec::with_capacity(labels.len());
        for (index, label) in labels.iter().enumerate() {
            let image = self.alloc();
            let name = format!("Im{index}");
            let pixels = label.symbol.size() as u32 + 2 * self.quiet_zone;
            let samples = label.symbol.code_rows(1, self.quiet_zone);
            objects.push((image, chunk.len()));
            let mut xobject = chunk.image_xobject(image, &samples);
            xobject.width(pixels as i32).height(pixels as i32);
            xobject.color_space().device_gray();
            xobject.bits_per_component(1).interpolate(false);
            xobject.finish();
            self.draw(&mut content, index, name.as_bytes(), label);
            images.push((name, image));
        }
        let stream = content.finish();
        let contents = self.alloc();
        objects.push((contents, chunk.len()));
        chunk.stream(contents, &stream);

        let page = self.alloc();
        objects.push((page, chunk.len()));
        let mut writer = chunk.page(page);
        writer
            .media_box(Rect::new(
                0.0,
                0.0,
                self.grid.page_width,
                self.grid.page_height,
            ))
            .parent(PAGES)
            .contents(contents);
        let mut resources = writer.resources();
        resources.fonts().pair(FONT_NAME, FONT);
        let mut xobjects = resources.x_objects();
        for (name, image) in &images {
            xobjects.pair(Name(name.as_bytes()), *image);
        }
        xobjects.finish();
        resources.finish();
        writer.finish();
        self.pages.push(page);
        self.append(&chunk, &objects);
    }

    /// Draws the `index`th label of a page: its code's image, named `image`, and its text.
    fn draw(&self, content: &mut Content, index: usize, image: &[u8], label: &Label) {
        let place = self.grid.place(index);
        let code = place.code;
        content
            .save_state()
            .transform([code.width, 0.0, 0.0, code.height, code.x, code.y])
            .x_object(Name(image))
            .restore_state();
        let room = self.grid.text_room();
        let lines = [
            (&label.serial, self.grid.serial_size, place.serial_y),
            (&label.model, self.grid.model_size, place.model_y),
        ];
        for (text, size, y) in lines {
            let text = Text::fit(text, size, room);
            if text.bytes.is_empty() {
                continue;
            }
            let x = place.cell.x + (place.cell.width - text.width) / 2.0;
            content
                .begin_text()
                .set_font(FONT_NAME, size)
                .next_line(x, y)
                .show(Str(&text.bytes))
                .end_text();
        }
    }

    /// Writes the page tree, the catalog, the cross-reference table and the trailer. The
    /// document has at least one page.
    pub(crate) fn finish(&mut self) {
        let mut chunk = Chunk::with_settings(Settings { pretty: false });
        let mut objects = Vec::with_capacity(2);
        objects.push((PAGES, chunk.len()));
        let count = i32::try_from(self.pages.len()).unwrap_or(i32::MAX);
        chunk
            .pages(PAGES)
            .kids(self.pages.iter().copied())
            .count(count);
        objects.push((CATALOG, chunk.len()));
        chunk
            .indirect(CATALOG)
            .dict()
            .pair(Name(b"Type"), Name(b"Catalog"))
            .pair(Name(b"Pages"), PAGES);
        self.append(&chunk, &objects);

        let xref = self.taken + self.out.len() as u64;
        let size = self.offsets.len() + 1;
        let mut table = String::with_capacity(64 + size * 20);
        table.push_str(&format!("xref\n0 {size}\n0000000000 65535 f\r\n"));
        for offset in &self.offsets {
            table.push_str(&format!("{offset:010} 00000 n\r\n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        ));
        self.out.extend_from_slice(table.as_bytes());
    }
}
