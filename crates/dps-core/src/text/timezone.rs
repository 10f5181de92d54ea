//! A UTC offset.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validation::{Field, Rule, ValidationError};

/// A UTC offset of the form `±HH:MM`, from `-12:00` to `+14:00`.
///
/// ```
/// use dps::Timezone;
/// let tz: Timezone = "+05:30".parse().unwrap();
/// assert_eq!(tz.offset_minutes(), 330);
/// assert_eq!(tz.to_string(), "+05:30");
/// assert!("+14:01".parse::<Timezone>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(i16);

impl Timezone {
    /// The field this type validates, as named in errors.
    pub const FIELD: Field = Field::Timezone;

    /// UTC, `+00:00`.
    pub const UTC: Timezone = Timezone(0);

    /// Parses `±HH:MM`.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for [`Field::Timezone`] when the shape or range is wrong.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        let err = |rule| ValidationError::new(Field::Timezone, rule);
        if value.is_empty() {
            return Err(err(Rule::Empty));
        }
        if value.trim() != value {
            return Err(err(Rule::SurroundingWhitespace));
        }
        let format = Rule::Format {
            expected: "a UTC offset of the form ±HH:MM",
        };
        let b = value.as_bytes();
        if b.len() != 6 || b[3] != b':' {
            return Err(err(format));
        }
        let sign: i16 = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(err(format)),
        };
        let digit = |i: usize| -> Option<i16> {
            let c = b[i];
            c.is_ascii_digit().then(|| i16::from(c - b'0'))
        };
        let (Some(h1), Some(h2), Some(m1), Some(m2)) = (digit(1), digit(2), digit(4), digit(5))
        else {
            return Err(err(format));
        };
        let hours = h1 * 10 + h2;
        let minutes = m1 * 10 + m2;
        let range = Rule::OutOfRange {
            range: "between -12:00 and +14:00",
        };
        if minutes >= 60 {
            return Err(err(range));
        }
        let total = sign * (hours * 60 + minutes);
        Self::from_offset_minutes(total).ok_or_else(|| err(range))
    }

    /// A timezone from its offset in minutes east of UTC, if within −12:00 to +14:00.
    pub fn from_offset_minutes(minutes: i16) -> Option<Self> {
        (-12 * 60..=14 * 60)
            .contains(&minutes)
            .then_some(Timezone(minutes))
    }

    /// The offset in minutes east of UTC.
    pub fn offset_minutes(self) -> i16 {
        self.0
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

impl fmt::Debug for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timezone({self})")
    }
}

impl FromStr for Timezone {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Timezone {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Timezone> for String {
    fn from(tz: Timezone) -> String {
        tz.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_round_trips_through_display() {
        for m in -720..=840 {
            let tz = Timezone::from_offset_minutes(m).unwrap();
            assert_eq!(Timezone::new(&tz.to_string()).unwrap(), tz);
        }
    }
}
