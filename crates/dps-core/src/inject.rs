//! The injected sources of time, identity and randomness.
//!
//! The domain never reads the clock or a random source directly: a [`Provisioner`] gets a
//! [`Clock`], an [`IdGen`] and a [`SecretSource`], so that tests run deterministically with
//! [`ManualClock`], [`SequentialIds`] and [`SeededSecrets`]. The system implementations
//! ([`SystemClock`], [`SystemIds`], [`OsSecrets`]) sit behind the default `system` feature.
//!
//! [`Provisioner`]: crate::Provisioner

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use uuid::Uuid;

use crate::time::Timestamp;

/// The source of the current instant.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The source of new record identifiers.
pub trait IdGen: Send + Sync + fmt::Debug + 'static {
    /// A new, unique UUID. Implementations should return UUID v7 (time-ordered), as
    /// [`SystemIds`] and [`SequentialIds`] do, so that identifiers sort by creation.
    fn new_uuid(&self) -> Uuid;
}

/// The source of unpredictable bytes for secrets, keys and generated serial numbers.
pub trait SecretSource: Send + Sync + fmt::Debug + 'static {
    /// Fills `dest` with random bytes. Production implementations must be cryptographically
    /// secure.
    fn fill(&self, dest: &mut [u8]);
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<T: IdGen + ?Sized> IdGen for std::sync::Arc<T> {
    fn new_uuid(&self) -> Uuid {
        (**self).new_uuid()
    }
}

impl<T: SecretSource + ?Sized> SecretSource for std::sync::Arc<T> {
    fn fill(&self, dest: &mut [u8]) {
        (**self).fill(dest)
    }
}

/// Builds a UUID v7 from a millisecond timestamp and 10 further bytes.
pub fn uuid_v7(unix_millis: u64, rand: [u8; 10]) -> Uuid {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&unix_millis.to_be_bytes()[2..]);
    b[6..].copy_from_slice(&rand);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    Uuid::from_bytes(b)
}

/// A clock that shows the instant it was set to, for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.unix_millis()))
    }

    /// Sets the instant.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.unix_millis(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: std::time::Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Deterministic UUID v7 identifiers from a counter, for tests: the n-th call returns the
/// same identifier in every run.
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl SequentialIds {
    /// A generator whose first identifier is built from `start`.
    pub fn new(start: u64) -> Self {
        Self(AtomicU64::new(start))
    }
}

impl IdGen for SequentialIds {
    fn new_uuid(&self) -> Uuid {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let mut rand = [0u8; 10];
        rand[2..].copy_from_slice(&n.to_be_bytes());
        uuid_v7(n, rand)
    }
}

/// A seeded, deterministic byte source for tests (SplitMix64). Not for production secrets.
pub struct SeededSecrets(Mutex<u64>);

impl SeededSecrets {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(seed))
    }
}

impl fmt::Debug for SeededSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededSecrets")
    }
}

impl SecretSource for SeededSecrets {
    fn fill(&self, dest: &mut [u8]) {
        let mut state = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        for chunk in dest.chunks_mut(8) {
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

// Each item repeats the module's `cfg`: that is what makes the feature badge appear on the
// item's page in crates that re-export it, such as the `dps` facade.
#[cfg(feature = "system")]
mod system {
    use super::*;

    /// The system's wall clock.
    #[cfg(feature = "system")]
    #[derive(Debug, Default, Clone, Copy)]
    pub struct SystemClock;

    impl Clock for SystemClock {
        fn now(&self) -> Timestamp {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            Timestamp::from_unix_millis(ms)
        }
    }

    /// UUID v7 identifiers from the system clock and the operating system's random source.
    #[cfg(feature = "system")]
    #[derive(Debug, Default, Clone, Copy)]
    pub struct SystemIds;

    impl IdGen for SystemIds {
        fn new_uuid(&self) -> Uuid {
            let ms = u64::try_from(SystemClock.now().unix_millis()).unwrap_or(0);
            let mut rand = [0u8; 10];
            OsSecrets.fill(&mut rand);
            uuid_v7(ms, rand)
        }
    }

    /// The operating system's cryptographically secure random source.
    #[cfg(feature = "system")]
    #[derive(Debug, Default, Clone, Copy)]
    pub struct OsSecrets;

    impl SecretSource for OsSecrets {
        fn fill(&self, dest: &mut [u8]) {
            if let Err(e) = getrandom::fill(dest) {
                // Without an entropy source no secret can be issued safely; there is no
                // meaningful way to continue.
                panic!("the operating system's random source failed: {e}");
            }
        }
    }
}

#[cfg(feature = "system")]
pub use system::{OsSecrets, SystemClock, SystemIds};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_are_v7_and_ordered() {
        let ids = SequentialIds::new(1);
        let a = ids.new_uuid();
        let b = ids.new_uuid();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn seeded_secrets_repeat_per_seed() {
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        SeededSecrets::new(7).fill(&mut x);
        SeededSecrets::new(7).fill(&mut y);
        assert_eq!(x, y);
        assert_ne!(x, [0u8; 13]);
    }
}
