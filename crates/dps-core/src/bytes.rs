//! The byte-level fast paths of validation, each beside the plain version it must agree
//! with.
//!
//! The `csv_parse` scenario of the `ratios` benchmark binary (`benches/src/bin/ratios.rs`),
//! which validates every text cell of a generated device file, measures them; the tests at
//! the end check each against a byte-by-byte version.

/// Which bytes identifiers allow (ASCII letters, digits and `- _ . :`), by value.
const IDENT_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = is_ident_byte(b as u8);
        b += 1;
    }
    table
};

/// Whether `b` is allowed in an identifier: the plain version.
const fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
}

/// Whether every byte of `bytes` is allowed in an identifier.
///
/// Every byte is looked up in a table, without stopping early: for identifiers of a few
/// dozen bytes that is faster than a branch per byte. Serials, model IDs, batch tags and
/// targets of every imported row are checked this way (`csv_parse`).
pub(crate) fn ident_bytes(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & IDENT_BYTES[usize::from(b)])
}

/// Whether every byte of `bytes` is printable ASCII (space to `~`).
///
/// Eight bytes at a time, the last eight overlapping the others when the length is not a
/// multiple of eight: device names and descriptions of every imported row are checked this
/// way (`csv_parse`).
pub(crate) fn printable_ascii(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // With no high bit set, adding 0x60 to a byte sets its high bit exactly when it is at
    // least 0x20, and adding 1 exactly when it is 0x7f; neither carries into the next byte.
    let word = |chunk: &[u8; 8]| {
        let x = u64::from_le_bytes(*chunk);
        x & HI == 0 && x.wrapping_add(LO * 0x60) & HI == HI && x.wrapping_add(LO) & HI == 0
    };
    match bytes.last_chunk::<8>() {
        None => bytes.iter().all(is_printable),
        Some(last) => bytes.as_chunks::<8>().0.iter().all(word) && word(last),
    }
}

/// Whether `b` is printable ASCII: the plain version.
fn is_printable(b: &u8) -> bool {
    matches!(b, b' '..=b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_agrees_with_the_plain_version_for_every_byte_at_every_position() {
        // Two words and a tail, at the longest.
        for len in 0..=20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(
                        printable_ascii(&bytes),
                        bytes.iter().all(is_printable),
                        "{b:#04x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(printable_ascii(b""));
    }

    #[test]
    fn ident_bytes_agrees_with_the_plain_version_for_every_byte() {
        for b in 0..=255u8 {
            assert_eq!(ident_bytes(&[b]), is_ident_byte(b), "{b:#04x}");
            assert_eq!(ident_bytes(&[b'a', b, b'9']), is_ident_byte(b), "{b:#04x}");
        }
        assert!(ident_bytes(b""));
    }

    proptest::proptest! {
        #[test]
        fn printable_ascii_agrees_with_the_plain_version(
            bytes in proptest::collection::vec(
                proptest::sample::select(&[b' ', b'a', b'~', 0x1F, 0x7F, 0x80, 0xA0, 0xFF][..]),
                0..40,
            ),
        ) {
            proptest::prop_assert_eq!(printable_ascii(&bytes), bytes.iter().all(is_printable));
        }
    }
}
