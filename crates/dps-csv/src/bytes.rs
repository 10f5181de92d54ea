//! The byte-level fast paths of the reader, each beside the plain version it must agree with.
//!
//! The scans look at eight bytes at a time: a word read from the buffer, compared with a byte
//! repeated eight times so that each byte of the result says whether that byte matched. The
//! `csv_parse` scenario of the `ratios` benchmark binary (`benches/src/bin/ratios.rs`) and the
//! `csv_parse` criterion bench (`benches/benches/csv.rs`) measure them; the tests at the end
//! check each against a byte-by-byte version.

/// One in every byte.
const LO: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
const HI: u64 = 0x8080_8080_8080_8080;

/// `b` in every byte of a word.
#[inline]
const fn splat(b: u8) -> u64 {
    LO * b as u64
}

/// The eight bytes of `hay` from `i` as a little-endian word, when there are eight.
#[inline]
fn word_at(hay: &[u8], i: usize) -> Option<u64> {
    let bytes: [u8; 8] = hay.get(i..i.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// The index in a word of the byte whose high bit is the lowest one set in `mask`.
#[inline]
fn first_byte(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// A mask with the high bit set in (at least) the lowest byte of `v` that is zero: exact up to
/// that byte, which is all a search for the first match needs.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// The high bit of each byte of `x` that equals the same byte of `y`, and nothing else.
#[inline]
fn equal_bytes(x: u64, y: u64) -> u64 {
    let v = x ^ y;
    !(((v & !HI).wrapping_add(!HI)) | v) & HI
}

/// The high bit of each byte of `x` that is below `n` (at most 0x80), and nothing else.
#[inline]
fn bytes_below(x: u64, n: u8) -> u64 {
    !(((x & !HI).wrapping_add(splat(0x80 - n))) | x) & HI
}

/// Whether `b` ends an unquoted field: the delimiter, LF or CR.
#[inline]
fn ends_field(b: u8, delimiter: u8) -> bool {
    b == delimiter || b == b'\n' || b == b'\r'
}

/// The index of the first delimiter, CR or LF in `hay`, or its length.
///
/// Eight bytes at a time: an unquoted field is scanned for its end on every record that the
/// in-place paths read (`csv_parse`).
#[inline]
pub(crate) fn find_unquoted_end(hay: &[u8], delimiter: u8) -> usize {
    let (d, n, r) = (splat(delimiter), splat(b'\n'), splat(b'\r'));
    let mut i = 0;
    while let Some(x) = word_at(hay, i) {
        let m = zero_bytes(x ^ d) | zero_bytes(x ^ n) | zero_bytes(x ^ r);
        if m != 0 {
            return i + first_byte(m);
        }
        i += 8;
    }
    let tail = hay.get(i..).unwrap_or_default();
    i + tail
        .iter()
        .position(|&b| ends_field(b, delimiter))
        .unwrap_or(tail.len())
}

/// The index of the first `needle` in `hay`, or its length.
///
/// Eight bytes at a time: the closing quote of a quoted cell is found this way on every
/// quoted cell that the in-place path reads (`csv_parse`).
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> usize {
    let q = splat(needle);
    let mut i = 0;
    while let Some(x) = word_at(hay, i) {
        let m = zero_bytes(x ^ q);
        if m != 0 {
            return i + first_byte(m);
        }
        i += 8;
    }
    let tail = hay.get(i..).unwrap_or_default();
    i + tail.iter().position(|&b| b == needle).unwrap_or(tail.len())
}

/// The positions of the delimiters, LFs and CRs of `hay` from `from` on, in order, as far as
/// whole eight-byte words reach: the bytes after the last whole word are left out.
///
/// The plain-record path of the reader cuts a whole record into fields with one pass of
/// this: the common record of a device file is read without looking at any byte twice
/// (`csv_parse`).
#[derive(Debug)]
pub(crate) struct Separators<'a> {
    hay: &'a [u8],
    delimiter: u8,
    /// The delimiter in every byte.
    splat: u64,
    /// Where the word after the current one starts.
    next: usize,
    /// Where the current word starts.
    base: usize,
    /// Candidates left in the current word: delimiters and bytes up to CR.
    mask: u64,
}

impl<'a> Separators<'a> {
    /// The separators of `hay` from `from` on, for `delimiter`.
    #[inline]
    pub(crate) fn new(hay: &'a [u8], from: usize, delimiter: u8) -> Self {
        Self {
            hay,
            delimiter,
            splat: splat(delimiter),
            next: from,
            base: from,
            mask: 0,
        }
    }
}

impl Iterator for Separators<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            while self.mask != 0 {
                let at = self.base + first_byte(self.mask);
                self.mask &= self.mask - 1;
                // A tab or another control byte below CR is a candidate but no separator.
                if self
                    .hay
                    .get(at)
                    .is_some_and(|&b| ends_field(b, self.delimiter))
                {
                    return Some(at);
                }
            }
            let x = word_at(self.hay, self.next)?;
            self.base = self.next;
            self.next += 8;
            // Delimiters, and control bytes up to CR (which takes in LF and CR).
            self.mask = equal_bytes(x, self.splat) | bytes_below(x, b'\r' + 1);
        }
    }
}

/// Whether `a` and `b` are equal, compared inline: the cells compared here (a cell against
/// the same column's cell in the row before, `csv_parse`) are mostly a few bytes long, for
/// which a call to `memcmp` costs more than the comparison.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Two reads that overlap when the length is not twice their size cover every byte.
    match a.len() {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => {
            let last = a.len() - 4;
            half_at(a, 0) == half_at(b, 0) && half_at(a, last) == half_at(b, last)
        }
        8..=16 => {
            let last = a.len() - 8;
            word_at(a, 0) == word_at(b, 0) && word_at(a, last) == word_at(b, last)
        }
        _ => a == b,
    }
}

/// The four bytes of `hay` from `i` as a little-endian number, when there are four.
#[inline]
fn half_at(hay: &[u8], i: usize) -> Option<u32> {
    let bytes: [u8; 4] = hay.get(i..i.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// The eight bytes of `hay` from `i` as a big-endian word, which orders as the bytes do.
#[inline]
fn ordered_word_at(hay: &[u8], i: usize) -> Option<u64> {
    let bytes: [u8; 8] = hay.get(i..i.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Whether `a` sorts after `b` byte by byte. Serials of one file mostly have one length, and
/// two of the same length from 8 to 16 bytes compare as two big-endian words read inline
/// (which may overlap: the shared bytes are equal by then); every row's serial is compared
/// with the one before it (`csv_parse`).
#[inline]
pub(crate) fn sorts_after(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n == b.len() && (8..=16).contains(&n) {
        let (x, y) = (ordered_word_at(a, 0), ordered_word_at(b, 0));
        return if x == y {
            ordered_word_at(a, n - 8) > ordered_word_at(b, n - 8)
        } else {
            x > y
        };
    }
    a > b
}

/// Makes `to` a copy of `from`: inline, in overlapping pieces, when the length stays the same
/// and is at most 16 bytes, as it mostly does from one serial of a file to the next
/// (`csv_parse`).
#[inline]
pub(crate) fn set_bytes(to: &mut Vec<u8>, from: &[u8]) {
    let n = from.len();
    if to.len() != n || n > 16 {
        to.clear();
        to.extend_from_slice(from);
        return;
    }
    match n {
        0..4 => to.iter_mut().zip(from).for_each(|(t, f)| *t = *f),
        4..8 => {
            to[..4].copy_from_slice(&from[..4]);
            to[n - 4..].copy_from_slice(&from[n - 4..]);
        }
        _ => {
            to[..8].copy_from_slice(&from[..8]);
            to[n - 8..].copy_from_slice(&from[n - 8..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_unquoted_end(hay: &[u8], delimiter: u8) -> usize {
        hay.iter()
            .position(|&b| ends_field(b, delimiter))
            .unwrap_or(hay.len())
    }

    fn plain_find_byte(hay: &[u8], needle: u8) -> usize {
        hay.iter().position(|&b| b == needle).unwrap_or(hay.len())
    }

    fn plain_separators(hay: &[u8], from: usize, delimiter: u8) -> Vec<usize> {
        let words_end = from + (hay.len().saturating_sub(from) / 8) * 8;
        (from..words_end)
            .filter(|&i| ends_field(hay[i], delimiter))
            .collect()
    }

    #[test]
    fn word_scans_find_the_first_match_anywhere() {
        let mut hay = vec![b'a'; 40];
        for at in 0..40 {
            for b in [b',', b'\n', b'\r'] {
                hay[at] = b;
                assert_eq!(find_unquoted_end(&hay, b','), at);
                assert_eq!(find_unquoted_end(&hay[..at], b','), at);
                hay[at] = b'a';
            }
            hay[at] = b'"';
            assert_eq!(find_byte(&hay, b'"'), at);
            hay[at] = 0x80 | b',';
            assert_eq!(
                find_unquoted_end(&hay, b','),
                40,
                "a byte above 0x80 is no delimiter"
            );
            hay[at] = b'a';
        }
        // A match after a byte that borrows in the subtraction.
        assert_eq!(find_unquoted_end(b"\x01,aaaaaaaa", b','), 1);
        assert_eq!(find_unquoted_end(b"\x00\x01;;", b';'), 2);
    }

    #[test]
    fn byte_masks_are_exact() {
        for a in 0..=255u8 {
            for b in [0u8, b'\n', b'\r', b',', b';', b'"', 0x7F, 0x80, 0xFF] {
                // Every position, with neighbours that borrow or carry.
                for at in 0..8 {
                    let mut bytes = [0u8, 0xFF, b',', 0x80, 0x0E, 0x0D, 0x01, 0x7F];
                    bytes[at] = a;
                    let x = u64::from_le_bytes(bytes);
                    let eq = equal_bytes(x, splat(b));
                    let below = bytes_below(x, 0x0E);
                    for (i, &byte) in bytes.iter().enumerate() {
                        let bit = 0x80u64 << (8 * i);
                        assert_eq!(eq & bit != 0, byte == b, "{bytes:?} == {b}");
                        assert_eq!(below & bit != 0, byte < 0x0E, "{bytes:?} < 0x0E");
                    }
                    assert_eq!(eq & !HI, 0);
                    assert_eq!(below & !HI, 0);
                }
            }
        }
    }

    #[test]
    fn separators_skip_tabs_and_other_control_bytes() {
        let hay = b"a\tb,c\x01d\ne\x0bf;g\rhh";
        assert_eq!(
            Separators::new(hay, 0, b',').collect::<Vec<_>>(),
            [3, 7, 13]
        );
        assert_eq!(
            Separators::new(hay, 0, b';').collect::<Vec<_>>(),
            [7, 11, 13]
        );
        assert_eq!(Separators::new(hay, 1, b';').collect::<Vec<_>>(), [7]);
    }

    proptest::proptest! {
        #[test]
        fn scans_agree_with_the_plain_versions(
            hay in proptest::collection::vec(
                proptest::sample::select(
                    &[b'a', b' ', b',', b';', b'"', b'\n', b'\r', b'\t', 0x00, 0x01, 0x0E, 0x7F,
                      0x80, 0xAC, 0xBB, 0x8A, 0xFF][..],
                ),
                0..80,
            ),
            from in 0usize..90,
            delimiter in proptest::sample::select(&[b',', b';'][..]),
        ) {
            proptest::prop_assert_eq!(
                find_unquoted_end(&hay, delimiter),
                plain_unquoted_end(&hay, delimiter)
            );
            proptest::prop_assert_eq!(find_byte(&hay, b'"'), plain_find_byte(&hay, b'"'));
            proptest::prop_assert_eq!(
                Separators::new(&hay, from, delimiter).collect::<Vec<_>>(),
                plain_separators(&hay, from, delimiter)
            );
        }
    }

    #[test]
    fn same_bytes_sees_a_difference_at_every_position_and_length() {
        for len in 0..=24 {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "equal, length {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "differs at {at} of {len}");
            }
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(!same_bytes(&a, &longer), "lengths {len} and {}", len + 1);
        }
    }

    #[test]
    fn sorts_after_orders_as_byte_slices_do() {
        let words: Vec<Vec<u8>> = [
            "",
            "a",
            "ab",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "abcdefgi0",
            "SN-00000001",
            "SN-00000002",
            "SN-00000010",
            "SN-0000001",
            "SN-10000000",
            "zzzzzzzzzzzzzzzz",
            "zzzzzzzzzzzzzzzy",
            "yzzzzzzzzzzzzzzz",
            "zzzzzzzzzzzzzzzzz",
        ]
        .iter()
        .map(|w| w.as_bytes().to_vec())
        .chain([vec![0xff; 12], vec![0; 12], vec![0x80; 9]])
        .collect();
        for a in &words {
            for b in &words {
                assert_eq!(sorts_after(a, b), a > b, "{a:?} after {b:?}");
                let mut copy = b.clone();
                set_bytes(&mut copy, a);
                assert_eq!(&copy, a);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn comparisons_and_copies_agree_with_the_plain_versions(
            a in proptest::collection::vec(proptest::sample::select(&[b'0', b'1', 0x7F, 0x80, 0xFF][..]), 0..20),
            b in proptest::collection::vec(proptest::sample::select(&[b'0', b'1', 0x7F, 0x80, 0xFF][..]), 0..20),
        ) {
            proptest::prop_assert_eq!(same_bytes(&a, &b), a == b);
            proptest::prop_assert_eq!(sorts_after(&a, &b), a > b);
            let mut copy = b.clone();
            set_bytes(&mut copy, &a);
            proptest::prop_assert_eq!(copy, a);
        }
    }
}
