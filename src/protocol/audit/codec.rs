//! The audit entry's canonical CBOR, read and written directly.
//!
//! [`crate::protocol::wire::canonical_cbor`] is general: it turns a value
//! into a `ciborium::Value` tree, encodes every map key to sort the keys,
//! and writes the tree out. Decoding through serde allocates a string or a
//! buffer for every field. For an entry, whose shape never changes, both
//! cost far more than hashing it, and verifying a log did both for every
//! entry. This module does the same work for that one shape without a tree
//! and without allocating:
//!
//! - [`write`] produces exactly the bytes `canonical_cbor` gives for the
//!   same entry (the property tests below hold it to that);
//! - [`read`] accepts bytes only if they are exactly what [`write`] makes
//!   of the entry it read, so whatever it accepts is canonical and decodes
//!   through serde to the same entry.
//!
//! [`read`] returning `None` is not a verdict: the caller then takes the
//! general path, which decides and words the error exactly as before.

use super::Entry;
use crate::protocol::country::Country;
use crate::protocol::id::{MessageId, TEXT_LEN};

/// An entry whose strings and byte strings borrow from the encoded bytes
/// (or from an [`Entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryRef<'a> {
    pub v: u32,
    pub seq: u64,
    pub time: i64,
    pub event: &'a str,
    pub peer: Option<Country>,
    pub message: Option<MessageId>,
    pub envelope: Option<&'a [u8]>,
    pub detail: Option<&'a str>,
    pub prev: &'a [u8],
}

impl<'a> EntryRef<'a> {
    /// A view of `e`.
    pub fn of(e: &'a Entry) -> EntryRef<'a> {
        EntryRef {
            v: e.v,
            seq: e.seq,
            time: e.time,
            event: &e.event,
            peer: e.peer,
            message: e.message,
            envelope: e.envelope.as_ref().map(|b| b.as_slice()),
            detail: e.detail.as_deref(),
            prev: e.prev.as_slice(),
        }
    }

    /// An owned copy.
    pub fn to_entry(self) -> Entry {
        Entry {
            v: self.v,
            seq: self.seq,
            time: self.time,
            event: self.event.to_string(),
            peer: self.peer,
            message: self.message,
            envelope: self.envelope.map(serde_bytes::ByteBuf::from),
            detail: self.detail.map(str::to_string),
            prev: serde_bytes::ByteBuf::from(self.prev),
        }
    }
}

const UINT: u8 = 0;
const NINT: u8 = 1 << 5;
const BYTES: u8 = 2 << 5;
const TEXT: u8 = 3 << 5;
const MAP: u8 = 5 << 5;

/// Where [`write`] puts its bytes.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A sink that only checks that what is written equals `rest`, in order.
struct Compare<'a> {
    rest: &'a [u8],
    same: bool,
}

impl Sink for Compare<'_> {
    fn put(&mut self, bytes: &[u8]) {
        match self.rest.strip_prefix(bytes) {
            Some(rest) if self.same => self.rest = rest,
            _ => self.same = false,
        }
    }
}

/// A data item's head in its shortest form (RFC 8949 §4.2.1).
fn head(out: &mut impl Sink, major: u8, n: u64) {
    if n < 24 {
        out.put(&[major | n as u8]);
    } else if let Ok(n) = u8::try_from(n) {
        out.put(&[major | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        let b = n.to_be_bytes();
        out.put(&[major | 25, b[0], b[1]]);
    } else if let Ok(n) = u32::try_from(n) {
        let b = n.to_be_bytes();
        out.put(&[major | 26, b[0], b[1], b[2], b[3]]);
    } else {
        out.put(&[major | 27]);
        out.put(&n.to_be_bytes());
    }
}

fn int(out: &mut impl Sink, v: i64) {
    match u64::try_from(v) {
        Ok(u) => head(out, UINT, u),
        // -1 - v, which is the bitwise complement in two's complement.
        Err(_) => head(out, NINT, !(v as u64)),
    }
}

fn text(out: &mut impl Sink, s: &str) {
    head(out, TEXT, s.len() as u64);
    out.put(s.as_bytes());
}

fn bytes(out: &mut impl Sink, b: &[u8]) {
    head(out, BYTES, b.len() as u64);
    out.put(b);
}

/// A map key: a text string shorter than 24 bytes.
fn key(out: &mut impl Sink, k: &'static str) {
    text(out, k);
}

/// The text form of a message id, without allocating.
fn id_text(id: &MessageId) -> Option<[u8; TEXT_LEN]> {
    struct Buf {
        out: [u8; TEXT_LEN],
        len: usize,
    }
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.len + s.len();
            let slot = self.out.get_mut(self.len..end).ok_or(std::fmt::Error)?;
            slot.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    let mut buf = Buf {
        out: [0; TEXT_LEN],
        len: 0,
    };
    std::fmt::write(&mut buf, format_args!("{id}")).ok()?;
    (buf.len == TEXT_LEN).then_some(buf.out)
}

/// Writes `e` in the canonical encoding: a map whose keys are sorted by
/// the bytes of their encodings (shorter first, then bytewise), absent
/// options left out, every head in its shortest form.
fn write_to(e: &EntryRef<'_>, out: &mut impl Sink) {
    let n = 5
        + u64::from(e.peer.is_some())
        + u64::from(e.message.is_some())
        + u64::from(e.envelope.is_some())
        + u64::from(e.detail.is_some());
    head(out, MAP, n);
    key(out, "v");
    head(out, UINT, u64::from(e.v));
    key(out, "seq");
    head(out, UINT, e.seq);
    if let Some(p) = &e.peer {
        key(out, "peer");
        text(out, p.as_str());
    }
    key(out, "prev");
    bytes(out, e.prev);
    key(out, "time");
    int(out, e.time);
    key(out, "event");
    text(out, e.event);
    if let Some(d) = e.detail {
        key(out, "detail");
        text(out, d);
    }
    if let Some(m) = &e.message {
        key(out, "message");
        match id_text(m) {
            Some(t) => {
                head(out, TEXT, TEXT_LEN as u64);
                out.put(&t);
            }
            // Unreachable (an id always has its 26 characters); write
            // something no reader accepts rather than panic.
            None => out.put(&[0xff]),
        }
    }
    if let Some(b) = e.envelope {
        key(out, "envelope");
        bytes(out, b);
    }
}

/// The canonical encoding of `e`.
pub(crate) fn write(e: &EntryRef<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + e.detail.map_or(0, str::len));
    write_to(e, &mut out);
    out
}

/// Whether `bytes` are exactly the canonical encoding of `e`.
fn is_encoding_of(e: &EntryRef<'_>, bytes: &[u8]) -> bool {
    let mut cmp = Compare {
        rest: bytes,
        same: true,
    };
    write_to(e, &mut cmp);
    cmp.same && cmp.rest.is_empty()
}

/// A cursor over definite-length CBOR items.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }

    /// Major type (shifted into the top three bits) and argument.
    fn head(&mut self) -> Option<(u8, u64)> {
        let (&first, rest) = self.rest.split_first()?;
        self.rest = rest;
        let arg = match first & 0x1f {
            n @ 0..24 => u64::from(n),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((first & 0xe0, arg))
    }

    fn uint(&mut self) -> Option<u64> {
        match self.head()? {
            (UINT, n) => Some(n),
            _ => None,
        }
    }

    fn int(&mut self) -> Option<i64> {
        match self.head()? {
            (UINT, n) => i64::try_from(n).ok(),
            (NINT, n) => i64::try_from(n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        match self.head()? {
            (BYTES, n) => self.take(n),
            _ => None,
        }
    }

    /// A text string's bytes, not checked to be UTF-8.
    fn text_bytes(&mut self) -> Option<&'a [u8]> {
        match self.head()? {
            (TEXT, n) => self.take(n),
            _ => None,
        }
    }

    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.text_bytes()?).ok()
    }
}

/// The entry `bytes` encode, if they are its canonical encoding; `None`
/// for anything else (including valid but non-canonical CBOR).
pub(crate) fn read(bytes: &[u8]) -> Option<EntryRef<'_>> {
    let mut r = Reader { rest: bytes };
    let n = match r.head()? {
        (MAP, n @ 5..=9) => n,
        _ => return None,
    };
    let (mut v, mut seq, mut time, mut event, mut prev) = (None, None, None, None, None);
    let (mut peer, mut message, mut envelope, mut detail) = (None, None, None, None);
    for _ in 0..n {
        // (A key that is not one of these, UTF-8 or not, is declined.)
        match r.text_bytes()? {
            b"v" => v = Some(u32::try_from(r.uint()?).ok()?),
            b"seq" => seq = Some(r.uint()?),
            b"peer" => peer = Some(Country::parse(r.text()?).ok()?),
            b"prev" => prev = Some(r.bytes()?),
            b"time" => time = Some(r.int()?),
            b"event" => event = Some(r.text()?),
            b"detail" => detail = Some(r.text()?),
            b"message" => message = Some(MessageId::parse(r.text()?).ok()?),
            b"envelope" => envelope = Some(r.bytes()?),
            _ => return None,
        }
    }
    let e = EntryRef {
        v: v?,
        seq: seq?,
        time: time?,
        event: event?,
        peer,
        message,
        envelope,
        detail,
        prev: prev?,
    };
    // Key order, repeated keys, head lengths, the case of a message id,
    // trailing bytes: anything but the one canonical form fails here.
    is_encoding_of(&e, bytes).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::canonical_cbor;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = Entry> {
        let country = prop::sample::select(vec!["AL", "GR", "IT", "DE", "FR"]);
        let num = prop_oneof![
            0u64..30,
            Just(23),
            Just(24),
            Just(255),
            Just(256),
            Just(65_535),
            Just(65_536),
            Just(u64::from(u32::MAX)),
            Just(u64::from(u32::MAX) + 1),
            Just(u64::MAX),
            any::<u64>(),
        ];
        let time = prop_oneof![
            -300i64..300,
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-24),
            Just(-25),
            Just(-256),
            Just(-257),
            any::<i64>(),
        ];
        (
            (prop_oneof![Just(1u32), any::<u32>()], num, time, ".{0,30}"),
            (
                prop::option::of(country),
                prop::option::of((any::<u64>(), any::<[u8; 10]>())),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
                prop::option::of(".{0,300}"),
                prop::collection::vec(any::<u8>(), 0..40),
            ),
        )
            .prop_map(
                |((v, seq, time, event), (peer, message, envelope, detail, prev))| Entry {
                    v,
                    seq,
                    time,
                    event,
                    peer: peer.map(|c| Country::parse(c).unwrap()),
                    message: message.map(|(t, r)| MessageId::new(t, r)),
                    envelope: envelope.map(serde_bytes::ByteBuf::from),
                    detail,
                    prev: serde_bytes::ByteBuf::from(prev),
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn writes_what_canonical_cbor_writes(e in entry()) {
            let ours = write(&EntryRef::of(&e));
            prop_assert_eq!(&ours, &canonical_cbor(&e).unwrap());
            prop_assert_eq!(read(&ours).map(|r| r.to_entry()), Some(e));
        }

        #[test]
        fn reads_only_what_the_general_path_accepts(
            e in entry(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let good = write(&EntryRef::of(&e));
            // One byte changed, or the bytes cut short or lengthened.
            let mut changed = good.clone();
            changed[at.index(good.len())] = byte;
            let mut longer = good.clone();
            longer.push(byte);
            for bytes in [changed, good[..cut.index(good.len())].to_vec(), longer] {
                if let Some(r) = read(&bytes) {
                    let general: Entry = ciborium::from_reader(bytes.as_slice()).unwrap();
                    prop_assert_eq!(&general, &r.to_entry());
                    prop_assert_eq!(&canonical_cbor(&general).unwrap(), &bytes);
                }
            }
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = read(&bytes);
        }
    }

    #[test]
    fn declines_what_is_not_canonical() {
        let e = Entry {
            v: 1,
            seq: 3,
            time: 1000,
            event: "peer-added".into(),
            peer: Some(Country::parse("GR").unwrap()),
            message: Some(MessageId::new(1_795_392_000_000, [9; 10])),
            envelope: None,
            detail: None,
            prev: serde_bytes::ByteBuf::from(vec![0; 32]),
        };
        let good = write(&EntryRef::of(&e));
        assert!(read(&good).is_some());
        // seq 3 written in two bytes instead of one.
        let mut long_head = good.clone();
        let at = long_head.windows(4).position(|w| w == b"cseq").unwrap() + 4;
        long_head.splice(at..at + 1, [0x18, 3]);
        assert!(read(&long_head).is_none());
        // The message id in lower case: the same id, not the same bytes.
        let text = e.message.unwrap().to_string();
        let mut lower = good.clone();
        let at = lower
            .windows(text.len())
            .position(|w| w == text.as_bytes())
            .unwrap();
        lower[at..at + text.len()].make_ascii_lowercase();
        assert!(read(&lower).is_none());
        assert!(ciborium::from_reader::<Entry, _>(lower.as_slice()).is_ok());
    }
}
