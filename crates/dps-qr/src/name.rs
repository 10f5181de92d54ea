//! File-system-safe entry names.

use std::collections::{HashMap, HashSet};

/// The longest stem [`safe_file_stem`] returns, in characters.
pub const MAX_STEM: usize = 100;

/// Device names that Windows reserves, whatever the extension.
const WINDOWS_RESERVED: &[&str] = &["CON", "PRN", "AUX", "NUL"];

/// A file name stem that is safe on every common file system and in every archive tool.
///
/// The result holds only ASCII letters, digits and `. _ -`: every other character (`/`, `\`,
/// `:`, white space, control and non-ASCII characters) becomes `_`. It is never empty, never
/// starts with `.` or `-` (no hidden files, no `.` or `..`, nothing a shell takes for an
/// option), never ends with `.` (which Windows drops), is never a name that Windows reserves
/// (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9`, in any case, also before an
/// extension: those get a leading `_`), and is at most [`MAX_STEM`] characters long.
///
/// ```
/// use dps::qr::safe_file_stem;
/// assert_eq!(safe_file_stem("SN-0001"), "SN-0001");
/// assert_eq!(safe_file_stem("../x"), "_._x");
/// assert_eq!(safe_file_stem("AA:BB:CC"), "AA_BB_CC");
/// assert_eq!(safe_file_stem("con"), "_con");
/// assert_eq!(safe_file_stem(""), "_");
/// ```
pub fn safe_file_stem(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .take(MAX_STEM)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        stem.push('_');
    }
    if stem.starts_with(['.', '-']) {
        stem.replace_range(..1, "_");
    }
    if stem.ends_with('.') {
        let last = stem.len() - 1;
        stem.replace_range(last.., "_");
    }
    if is_windows_reserved(&stem) {
        stem.insert(0, '_');
        if stem.len() > MAX_STEM {
            stem.truncate(MAX_STEM);
        }
    }
    stem
}

/// Whether Windows reserves `name` for a device: its part before the first `.` is one of the
/// reserved names, in any case.
fn is_windows_reserved(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or(name);
    if WINDOWS_RESERVED
        .iter()
        .any(|r| base.eq_ignore_ascii_case(r))
    {
        return true;
    }
    let b = base.as_bytes();
    b.len() == 4
        && (b[..3].eq_ignore_ascii_case(b"COM") || b[..3].eq_ignore_ascii_case(b"LPT"))
        && b[3].is_ascii_digit()
}

/// Hands out unique entry names for one archive.
///
/// Each name is the [`safe_file_stem`] of the wanted name plus an extension. A name that was
/// already handed out, also one that differs only in letter case (which case-insensitive file
/// systems would merge), gets the first free suffix `-2`, `-3`, … before the extension. The
/// result depends only on the sequence of calls, so the same input always gets the same names.
///
/// ```
/// use dps::qr::FileNames;
/// let mut names = FileNames::new();
/// assert_eq!(names.assign("A", "png"), "A.png");
/// assert_eq!(names.assign("a", "png"), "a-2.png");
/// assert_eq!(names.assign("a:", "png"), "a_.png");
/// assert_eq!(names.assign("a_", "png"), "a_-2.png");
/// ```
#[derive(Debug, Default)]
pub struct FileNames {
    /// Every name handed out or reserved, in ASCII lower case.
    used: HashSet<String>,
    /// For a stem (lower case), the suffix to try next.
    next_suffix: HashMap<String, u64>,
}

impl FileNames {
    /// No names used yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `name` as used, so that no entry gets it (or a case variant of it); returns
    /// whether it was free.
    pub fn reserve(&mut self, name: &str) -> bool {
        self.used.insert(name.to_ascii_lowercase())
    }

    /// A unique safe name for `wanted` with `extension` (without the dot; it must itself be
    /// safe, such as `png`).
    pub fn assign(&mut self, wanted: &str, extension: &str) -> String {
        let stem = safe_file_stem(wanted);
        let name = format!("{stem}.{extension}");
        if self.reserve(&name) {
            return name;
        }
        let key = stem.to_ascii_lowercase();
        let mut n = self.next_suffix.get(&key).copied().unwrap_or(2);
        loop {
            let name = format!("{stem}-{n}.{extension}");
            n += 1;
            if self.reserve(&name) {
                self.next_suffix.insert(key, n);
                return name;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_recognised_in_any_case_and_with_extensions() {
        for name in [
            "CON",
            "con",
            "Con.txt",
            "nul.tar.gz",
            "COM1",
            "lpt9.png",
            "AUX",
        ] {
            assert!(is_windows_reserved(name), "{name}");
        }
        for name in ["CONS", "COM", "COM10", "xNUL", "LPT", "A.CON"] {
            assert!(!is_windows_reserved(name), "{name}");
        }
    }

    #[test]
    fn suffixes_skip_names_that_are_taken() {
        let mut names = FileNames::new();
        assert_eq!(names.assign("x-2", "png"), "x-2.png");
        assert_eq!(names.assign("x", "png"), "x.png");
        assert_eq!(names.assign("X", "png"), "X-3.png");
        assert_eq!(names.assign("x", "png"), "x-4.png");
    }
}
