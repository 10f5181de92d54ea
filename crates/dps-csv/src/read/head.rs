//! What the reader learns from the first line of a file: where it ends and which delimiter
//! the file uses.

/// Whether `bytes` hold a line end outside quotes.
pub(super) fn has_line_end(bytes: &[u8]) -> bool {
    let line = first_line(bytes);
    line.as_ptr_range().end < bytes.as_ptr_range().end
}

/// The bytes of the first non-blank line, up to its line end outside quotes.
fn first_line(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(bytes.len());
    let bytes = &bytes[skip..];
    let mut in_quotes = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => return &bytes[..i],
            _ => {}
        }
    }
    bytes
}

/// `;` when the first line has more semicolons than commas outside quotes, else `,`.
pub(super) fn detect_delimiter(bytes: &[u8]) -> u8 {
    let mut in_quotes = false;
    let (mut commas, mut semicolons) = (0usize, 0usize);
    for &b in first_line(bytes) {
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => commas += 1,
            b';' if !in_quotes => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}
