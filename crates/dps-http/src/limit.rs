//! Rate limits of the device-facing call: a token bucket per key.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `burst` requests at once, refilled at `burst` per `per`.
///
/// ```
/// use std::time::Duration;
/// let limit = dps_http::RateLimit::new(20, Duration::from_secs(1));
/// assert_eq!(limit.burst(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    burst: u32,
    per: Duration,
}

impl RateLimit {
    /// `burst` requests per `per` (a zero `per` is taken as one millisecond, a zero burst
    /// as one).
    pub fn new(burst: u32, per: Duration) -> Self {
        Self {
            burst: burst.max(1),
            per: per.max(Duration::from_millis(1)),
        }
    }

    /// No limit at all.
    pub fn unlimited() -> Self {
        Self {
            burst: u32::MAX,
            per: Duration::from_millis(1),
        }
    }

    /// The most requests at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time in which a spent burst refills.
    pub fn per(&self) -> Duration {
        self.per
    }

    fn is_unlimited(&self) -> bool {
        self.burst == u32::MAX
    }
}

/// The most keys a limiter tracks; beyond it, the keys whose buckets are full again are
/// forgotten, and if none is, the request is counted against a shared overflow bucket.
const MAX_KEYS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets by key, in memory.
#[derive(Debug)]
pub(crate) struct Limiter<K> {
    limit: RateLimit,
    buckets: Mutex<HashMap<K, Bucket>>,
    overflow: Mutex<Option<Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::default(),
            overflow: Mutex::default(),
        }
    }

    /// Takes one request for `key`: `Ok` when allowed, otherwise the wait until the next one
    /// is.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        if self.limit.is_unlimited() {
            return Ok(());
        }
        let now = Instant::now();
        // A poisoned lock still holds valid buckets.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            let limit = self.limit;
            buckets.retain(|_, b| refilled(limit, *b, now).tokens < f64::from(limit.burst));
            if buckets.len() >= MAX_KEYS {
                drop(buckets);
                let mut overflow = self
                    .overflow
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                return spend(self.limit, overflow.get_or_insert(self.full(now)), now);
            }
        }
        let full = self.full(now);
        spend(self.limit, buckets.entry(key.clone()).or_insert(full), now)
    }

    fn full(&self, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(self.limit.burst),
            at: now,
        }
    }
}

/// The bucket refilled up to `now`.
fn refilled(limit: RateLimit, bucket: Bucket, now: Instant) -> Bucket {
    let rate = f64::from(limit.burst) / limit.per.as_secs_f64();
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    Bucket {
        tokens: (bucket.tokens + elapsed * rate).min(f64::from(limit.burst)),
        at: now,
    }
}

fn spend(limit: RateLimit, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
    *bucket = refilled(limit, *bucket, now);
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        Ok(())
    } else {
        let rate = f64::from(limit.burst) / limit.per.as_secs_f64();
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_request_waits() {
        let limiter = Limiter::new(RateLimit::new(3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert_eq!(limiter.take(&1), Ok(()));
        }
        let wait = limiter.take(&1).unwrap_err();
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert_eq!(limiter.take(&2), Ok(()));
    }

    #[test]
    fn unlimited_never_refuses() {
        let limiter = Limiter::new(RateLimit::unlimited());
        for _ in 0..10_000 {
            assert_eq!(limiter.take(&1), Ok(()));
        }
    }

    #[test]
    fn keys_beyond_the_cap_share_one_bucket() {
        let limiter = Limiter::new(RateLimit::new(1, Duration::from_secs(3600)));
        for key in 0..MAX_KEYS {
            assert_eq!(limiter.take(&key), Ok(()));
        }
        assert_eq!(limiter.take(&usize::MAX), Ok(()));
        assert!(limiter.take(&(usize::MAX - 1)).is_err());
        let tracked = limiter.buckets.lock().unwrap().len();
        assert_eq!(tracked, MAX_KEYS);
    }
}
