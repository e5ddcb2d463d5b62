//! Message identifiers: 128-bit, time-ordered, written in Crockford base32.
//!
//! The first 48 bits are the creation time in milliseconds, the other 80 are
//! random, so ids sort by creation time and never collide in practice. The
//! caller supplies both the time and the random bytes.

use std::fmt;

/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of the text form of a [`MessageId`].
pub const TEXT_LEN: usize = 26;

/// A message identifier, shared by sender and receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(u128);

/// A string that is not a valid message id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// Wrong length or a character outside the alphabet.
    #[error("message id {0:?} is not 26 characters of Crockford base32")]
    Format(String),
}

impl MessageId {
    /// Builds an id from a creation time in milliseconds and 10 random bytes.
    pub fn new(unix_millis: u64, random: [u8; 10]) -> MessageId {
        let mut v: u128 = u128::from(unix_millis & 0xFFFF_FFFF_FFFF) << 80;
        let mut r = [0u8; 16];
        r[6..].copy_from_slice(&random);
        v |= u128::from_be_bytes(r);
        MessageId(v)
    }

    /// Parses the 26-character text form (case-insensitive).
    pub fn parse(s: &str) -> Result<MessageId, IdError> {
        let bytes = s.as_bytes();
        if bytes.len() != TEXT_LEN {
            return Err(IdError::Format(s.chars().take(40).collect()));
        }
        let mut v: u128 = 0;
        for (i, &c) in bytes.iter().enumerate() {
            let up = c.to_ascii_uppercase();
            let d = ALPHABET
                .iter()
                .position(|&a| a == up)
                .ok_or_else(|| IdError::Format(s.to_string()))? as u128;
            // The first character carries only 3 bits (26 * 5 = 130 > 128).
            if i == 0 && d > 7 {
                return Err(IdError::Format(s.to_string()));
            }
            v = (v << 5) | d;
        }
        Ok(MessageId(v))
    }

    /// The creation time in milliseconds encoded in the id.
    pub fn unix_millis(&self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// The id with this 128-bit value (as stored).
    pub fn from_u128(v: u128) -> MessageId {
        MessageId(v)
    }

    /// The 16 bytes, big-endian.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; TEXT_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (TEXT_LEN - 1 - i);
            *slot = ALPHABET[((self.0 >> shift) & 0x1F) as usize];
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl std::str::FromStr for MessageId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageId::parse(s)
    }
}

impl serde::Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MessageId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for MessageId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MessageId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
            "description": "message id: 26 characters of Crockford base32"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_value() {
        let id = MessageId::new(0, [0; 10]);
        assert_eq!(id.to_string(), "00000000000000000000000000");
        let id = MessageId::new(1, [0xFF; 10]);
        assert_eq!(id.unix_millis(), 1);
        assert_eq!(id.to_string(), "0000000001ZZZZZZZZZZZZZZZZ");
    }

    #[test]
    fn rejects_bad_text() {
        assert!(MessageId::parse("").is_err());
        assert!(MessageId::parse("8ZZZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
        assert!(MessageId::parse("0000000000000000000000000U").is_err());
        assert!(MessageId::parse("000000000000000000000000000").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(ms in 0u64..(1 << 48), r in any::<[u8; 10]>()) {
            let id = MessageId::new(ms, r);
            let text = id.to_string();
            prop_assert_eq!(MessageId::parse(&text).unwrap(), id);
            prop_assert_eq!(MessageId::parse(&text.to_lowercase()).unwrap(), id);
            prop_assert_eq!(id.unix_millis(), ms);
        }

        #[test]
        fn order_follows_time(a in 0u64..(1 << 47), b in 1u64..(1 << 47), r in any::<[u8; 10]>(), s in any::<[u8; 10]>()) {
            let x = MessageId::new(a, r);
            let y = MessageId::new(a + b, s);
            prop_assert!(x < y);
            prop_assert!(x.to_string() < y.to_string());
        }
    }
}
