//! The label payload, version 1: its text form, parser and check character.
//!
//! The format is specified in `docs/qr-payload.md`; this module is its reference
//! implementation.

use std::fmt;
use std::str::FromStr;

use dps_core::{Device, GroupId, ModelId, SerialNumber, Uuid};

use crate::error::PayloadError;

/// The text every v1 payload starts with: the format tag `DPS` and the version `1`.
const PREFIX: &str = "DPS1";
/// The format tag, before the version number.
const TAG: &str = "DPS";
/// Separates the fields.
const SEP: u8 = b'/';
/// Toggles the letter case of what follows inside a serial or model ID.
const CASE_TOGGLE: u8 = b'*';
/// Stands for `_` inside a serial or model ID.
const UNDERSCORE: u8 = b'+';
/// How many base-36 digits a group ID takes.
const GROUP_DIGITS: usize = 25;
/// The longest an encoded serial or model ID can be: 64 characters, each after a case toggle.
const MAX_FIELD: usize = 128;
/// The longest a v1 payload can be.
pub(crate) const MAX_LEN: usize =
    PREFIX.len() + 1 + GROUP_DIGITS + 1 + MAX_FIELD + 1 + MAX_FIELD + 2;

/// The characters of a v1 payload before its check character, in the order of their values
/// (0 to 41) for the check computation.
const BODY_ALPHABET: &[u8; 42] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:*+/";
/// The characters a check character is written with, in the order of their values (0 to 42).
const CHECK_ALPHABET: &[u8; 43] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:*+$%";
/// The check character is a weighted sum modulo this prime.
const CHECK_MODULUS: u32 = 43;

/// What a QR label carries: the device's registration group, serial number and model, and no
/// secret.
///
/// Its text form ([`Payload::render`], [`Display`](fmt::Display)) is version 1 of the dps label
/// payload, specified in `docs/qr-payload.md`:
///
/// ```text
/// DPS1/<group ID: 25 base-36 digits>/<serial>/<model ID>/<check character>
/// ```
///
/// Every character is in the QR alphanumeric set (upper-case letters, digits and
/// ` $%*+-./:`), so the code uses the compact alphanumeric mode: lower-case letters are
/// written upper-case after a `*` that toggles the case, and `_` is written as `+`. The last
/// character is a check character that catches every single-character substitution and
/// every swap of two neighbours.
///
/// [`Payload::parse`] accepts exactly the texts that [`Payload::render`] produces:
/// `Payload::parse(&p.render()) == Ok(p)` for every payload, and any other text, including
/// every text that differs from a rendered payload in one character, is either an error or
/// a different payload.
///
/// ```
/// use dps::qr::Payload;
///
/// let payload = Payload::new(
///     "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7".parse()?,
///     "SN-0001_a".parse()?,
///     "thermostat".parse()?,
/// );
/// let text = payload.render();
/// assert_eq!(text, "DPS1/03C2SUDZ4YUYDV0KU4F7Q8FDJ/SN-0001+*A/*THERMOSTAT/V");
/// assert_eq!(text.parse::<Payload>()?, payload);
/// assert!("DPS1/03C2SUDZ4YUYDV0KU4F7Q8FDJ/SN-0001+*A/*THERMOSTAT/W"
///     .parse::<Payload>()
///     .is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Payload {
    group: GroupId,
    serial: SerialNumber,
    model: ModelId,
}

impl Payload {
    /// The payload format version that [`Payload::render`] writes and [`Payload::parse`] reads.
    pub const VERSION: u32 = 1;

    /// A payload from its parts.
    pub fn new(group: GroupId, serial: SerialNumber, model: ModelId) -> Self {
        Self {
            group,
            serial,
            model,
        }
    }

    /// The payload of a device's label.
    pub fn of(device: &Device) -> Self {
        Self::new(
            device.group_id(),
            device.serial().clone(),
            device.model_id().clone(),
        )
    }

    /// The registration group.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The serial number.
    pub fn serial(&self) -> &SerialNumber {
        &self.serial
    }

    /// The model ID.
    pub fn model(&self) -> &ModelId {
        &self.model
    }

    /// The text form (version 1).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(
            PREFIX.len()
                + GROUP_DIGITS
                + self.serial.as_str().len()
                + self.model.as_str().len()
                + 8,
        );
        self.render_into(&mut out);
        out
    }

    /// Appends the text form to `out`.
    pub fn render_into(&self, out: &mut String) {
        let start = out.len();
        out.push_str(PREFIX);
        out.push(char::from(SEP));
        push_base36(out, self.group.as_uuid().as_u128());
        out.push(char::from(SEP));
        push_field(out, self.serial.as_str());
        out.push(char::from(SEP));
        push_field(out, self.model.as_str());
        out.push(char::from(SEP));
        let check = check_value(&out.as_bytes()[start..]);
        out.push(char::from(CHECK_ALPHABET[check]));
    }

    /// Parses the text form.
    ///
    /// # Errors
    ///
    /// A [`PayloadError`] when `text` is not exactly a rendered payload: not a dps payload at
    /// all, another version, a character out of place, a wrong check character, or a field
    /// that breaks its rule (such as a serial longer than 64 characters).
    pub fn parse(text: &str) -> Result<Self, PayloadError> {
        let bytes = text.as_bytes();
        let Some(after_tag) = bytes.strip_prefix(TAG.as_bytes()) else {
            return Err(PayloadError::UnknownFormat);
        };
        let version_len = after_tag.iter().take_while(|b| **b != SEP).count();
        let version = &after_tag[..version_len];
        if version != b"1" {
            return Err(
                if !version.is_empty() && version.iter().all(u8::is_ascii_digit) {
                    PayloadError::UnsupportedVersion {
                        version: String::from_utf8_lossy(version).into_owned(),
                    }
                } else {
                    PayloadError::UnknownFormat
                },
            );
        }
        if bytes.len() > MAX_LEN {
            return Err(malformed(MAX_LEN, "payload is longer than any v1 payload"));
        }
        let Some((&check, body)) = bytes.split_last() else {
            return Err(PayloadError::UnknownFormat);
        };
        if let Some(position) = body.iter().position(|b| !BODY_ALPHABET.contains(b)) {
            return Err(malformed(position, "character not allowed in a v1 payload"));
        }
        if body.last() != Some(&SEP) {
            return Err(malformed(
                body.len(),
                "expected \"/\" before the check character",
            ));
        }
        let Some(found) = CHECK_ALPHABET.iter().position(|c| *c == check) else {
            return Err(malformed(
                body.len(),
                "character not allowed as a check character",
            ));
        };
        let expected = check_value(body);
        if found != expected {
            return Err(PayloadError::CheckMismatch {
                expected: char::from(CHECK_ALPHABET[expected]),
                found: char::from(check),
            });
        }

        // Fields: prefix, group, serial, model (the body ends with a separator).
        let fields = &body[..body.len() - 1];
        let mut parts = fields.split(|b| *b == SEP);
        let mut offset = 0;
        let mut next = |what: &'static str| -> Result<(&[u8], usize), PayloadError> {
            let part = parts.next().ok_or_else(|| malformed(fields.len(), what))?;
            let at = offset;
            offset += part.len() + 1;
            Ok((part, at))
        };
        let _prefix = next("missing prefix")?;
        let (group, at) = next("missing group ID")?;
        let group = parse_base36(group, at)?;
        let (serial, at) = next("missing serial")?;
        let serial = SerialNumber::new(decode_field(serial, at)?)?;
        let (model, at) = next("missing model ID")?;
        let model = ModelId::new(decode_field(model, at)?)?;
        if let Ok((_, at)) = next("") {
            return Err(malformed(at.saturating_sub(1), "too many fields"));
        }
        let payload = Payload::new(GroupId::from_uuid(Uuid::from_u128(group)), serial, model);
        // The rules above admit exactly the canonical form; keep that a checked fact.
        if payload.render().as_bytes() != bytes {
            return Err(malformed(0, "payload is not in canonical form"));
        }
        Ok(payload)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl FromStr for Payload {
    type Err = PayloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Payload::parse(s)
    }
}

impl From<&Device> for Payload {
    fn from(device: &Device) -> Self {
        Payload::of(device)
    }
}

fn malformed(position: usize, reason: &'static str) -> PayloadError {
    PayloadError::Malformed { position, reason }
}

/// The check value of `body`: the sum of its characters' values, weighted 1, 2, 1, 2, …,
/// modulo 43. Every character of `body` must be in [`BODY_ALPHABET`].
fn check_value(body: &[u8]) -> usize {
    let sum = body.iter().enumerate().fold(0u32, |acc, (i, b)| {
        let value = body_value(*b);
        let weight = if i % 2 == 0 { 1 } else { 2 };
        (acc + weight * value) % CHECK_MODULUS
    });
    sum as usize
}

fn body_value(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        b'A'..=b'Z' => u32::from(b - b'A') + 10,
        b'-' => 36,
        b'.' => 37,
        b':' => 38,
        b'*' => 39,
        b'+' => 40,
        // `/`, and anything else, which callers have excluded.
        _ => 41,
    }
}

fn push_base36(out: &mut String, mut n: u128) {
    let mut digits = [b'0'; GROUP_DIGITS];
    for d in digits.iter_mut().rev() {
        let digit = (n % 36) as usize;
        *d = BODY_ALPHABET[digit];
        n /= 36;
    }
    out.extend(digits.iter().map(|d| char::from(*d)));
}

fn parse_base36(digits: &[u8], at: usize) -> Result<u128, PayloadError> {
    if digits.len() != GROUP_DIGITS {
        return Err(malformed(at, "group ID must be 25 base-36 digits"));
    }
    let mut n: u128 = 0;
    for (i, b) in digits.iter().enumerate() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            _ => return Err(malformed(at + i, "group ID must be 25 base-36 digits")),
        };
        n = n
            .checked_mul(36)
            .and_then(|n| n.checked_add(u128::from(digit)))
            .ok_or_else(|| malformed(at, "group ID is out of range"))?;
    }
    Ok(n)
}

/// Writes a serial or model ID: upper-case letters, `*` before every letter whose case differs
/// from the one before (the first counts as following an upper-case letter), `_` as `+`.
fn push_field(out: &mut String, value: &str) {
    let mut lower = false;
    for c in value.chars() {
        if c.is_ascii_alphabetic() {
            if c.is_ascii_lowercase() != lower {
                lower = !lower;
                out.push(char::from(CASE_TOGGLE));
            }
            out.push(c.to_ascii_uppercase());
        } else if c == '_' {
            out.push(char::from(UNDERSCORE));
        } else {
            out.push(c);
        }
    }
}

/// Reads a field written by [`push_field`]; a `*` must be followed by a letter, so that every
/// value has exactly one form.
fn decode_field(field: &[u8], at: usize) -> Result<String, PayloadError> {
    let mut out = String::with_capacity(field.len());
    let mut lower = false;
    let mut bytes = field.iter().enumerate().peekable();
    while let Some((i, &b)) = bytes.next() {
        match b {
            CASE_TOGGLE => {
                if !bytes.peek().is_some_and(|(_, n)| n.is_ascii_uppercase()) {
                    return Err(malformed(at + i, "\"*\" must be followed by a letter"));
                }
                lower = !lower;
            }
            UNDERSCORE => out.push('_'),
            b'A'..=b'Z' if lower => out.push(char::from(b.to_ascii_lowercase())),
            _ => out.push(char::from(b)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabets_agree_with_values() {
        for (i, b) in BODY_ALPHABET.iter().enumerate() {
            assert_eq!(body_value(*b) as usize, i);
        }
        assert!(!CHECK_ALPHABET.contains(&b'/'));
        assert!(!CHECK_ALPHABET.contains(&b' '));
    }

    #[test]
    fn base36_covers_the_whole_range() {
        for n in [0, 1, 35, 36, u128::MAX - 1, u128::MAX] {
            let mut s = String::new();
            push_base36(&mut s, n);
            assert_eq!(s.len(), GROUP_DIGITS);
            assert_eq!(parse_base36(s.as_bytes(), 0).unwrap(), n);
        }
        let over = b"ZZZZZZZZZZZZZZZZZZZZZZZZZ";
        assert!(matches!(
            parse_base36(over, 5),
            Err(PayloadError::Malformed { position: 5, .. })
        ));
    }

    #[test]
    fn max_len_is_reached_by_the_longest_payload() {
        let p = Payload::new(
            GroupId::from_uuid(Uuid::from_u128(u128::MAX)),
            SerialNumber::new("aA".repeat(32)).unwrap(),
            ModelId::new("aA".repeat(32)).unwrap(),
        );
        assert_eq!(p.render().len(), MAX_LEN);
        assert_eq!(Payload::parse(&p.render()).unwrap(), p);
    }
}
