//! The serials of a file seen so far, to refuse a serial that repeats an earlier row's.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use crate::bytes::{set_bytes, sorts_after};

/// The serials seen so far, to find duplicates within a file.
///
/// It keeps a 64-bit seeded fingerprint and the line of each serial (16 bytes per row). While
/// serials arrive in ascending order, as vendor files list them, no lookup is needed: they
/// are appended to a list. The first serial out of order turns the list into a hash index.
#[derive(Debug)]
pub(super) struct SeenSerials {
    hasher: foldhash::quality::RandomState,
    /// While the serials are in ascending order: every fingerprint and line so far.
    ascending: Option<Ascending>,
    index: HashMap<u64, u64, BuildHasherDefault<Fingerprint>>,
}

/// The serials of a file so far, while they are in ascending order.
#[derive(Debug, Default)]
struct Ascending {
    /// Fingerprint and line of each.
    seen: Vec<(u64, u64)>,
    /// The last serial.
    last: Vec<u8>,
}

impl SeenSerials {
    pub(super) fn new() -> Self {
        Self {
            hasher: foldhash::quality::RandomState::default(),
            ascending: Some(Ascending::default()),
            index: HashMap::default(),
        }
    }

    /// Records `serial` on `line`; returns the line of its first occurrence when it was
    /// seen before.
    pub(super) fn insert(&mut self, serial: &str, line: u64) -> Option<u64> {
        let fp = {
            let mut hasher = self.hasher.build_hasher();
            hasher.write(serial.as_bytes());
            hasher.finish()
        };
        if let Some(asc) = &mut self.ascending {
            if asc.seen.is_empty() || sorts_after(serial.as_bytes(), &asc.last) {
                asc.seen.push((fp, line));
                set_bytes(&mut asc.last, serial.as_bytes());
                return None;
            }
            let seen = self.ascending.take().map(|a| a.seen).unwrap_or_default();
            self.index.reserve(seen.len());
            for (fp, line) in seen {
                self.index.entry(fp).or_insert(line);
            }
        }
        match self.index.entry(fp) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(line);
                None
            }
        }
    }
}

/// The hasher of the duplicate index, whose keys are already randomly seeded hashes of the
/// serials (foldhash's quality variant): it passes them through.
///
/// The index keeps 64-bit fingerprints instead of the serials (16 bytes per row); two
/// different serials of one file share a fingerprint with a probability of about
/// n² / 2⁶⁵ (below 10⁻⁷ for a million rows). The seed differs from file to file but does
/// not come from the operating system's random source, and the hash is not cryptographic:
/// someone who set out to find two serials that collide could at worst have a row of their
/// own file refused as a duplicate.
#[derive(Debug, Default, Clone, Copy)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
