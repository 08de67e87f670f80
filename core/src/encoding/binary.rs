//! The binary codec: [`Encode`], [`Decode`], the [`Reader`] they decode from, and the byte
//! string wrappers that carry their length rule in their type.

use bytes::Bytes;

/// Why bytes could not be decoded. Carries no input bytes, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input ended early: {needed} more bytes needed, {available} available")]
    UnexpectedEnd {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A byte that no valid encoding has at that place.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A whole-input decode left bytes over.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
}

/// A value too long for the length prefix of its encoding (more than 255 bytes or items behind
/// a 1-byte length, more than 65535 behind a 2-byte one).
///
/// The reference silently wraps such lengths and produces bytes nobody can decode; we refuse to
/// build the value instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} is over the limit of {max}")]
pub struct TooLong {
    /// The length that was given.
    pub len: usize,
    /// The largest length the encoding can carry.
    pub max: usize,
}

/// A cursor over an input buffer. Byte strings taken from it are cheap slices of the input.
#[derive(Debug, Clone)]
pub struct Reader {
    rest: Bytes,
}

impl Reader {
    /// Reads from `input`.
    pub fn new(input: impl Into<Bytes>) -> Self {
        Self { rest: input.into() }
    }

    /// Reads from a copy of `input`.
    pub fn from_slice(input: &[u8]) -> Self {
        Self {
            rest: Bytes::copy_from_slice(input),
        }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether the whole input was consumed.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The unconsumed bytes, without consuming them.
    pub fn peek_rest(&self) -> &[u8] {
        &self.rest
    }

    /// The next byte, without consuming it.
    pub fn peek_byte(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Consumes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n,
                available: self.rest.len(),
            });
        }
        Ok(self.rest.split_to(n))
    }

    /// Consumes exactly `N` bytes into an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.take(N)?);
        Ok(out)
    }

    /// Consumes one byte.
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// Consumes everything that is left.
    pub fn take_rest(&mut self) -> Bytes {
        std::mem::take(&mut self.rest)
    }

    /// Consumes bytes up to (not including) the first `delimiter`, or to the end.
    pub fn take_until(&mut self, delimiter: u8) -> Bytes {
        let n = self
            .rest
            .iter()
            .position(|&b| b == delimiter)
            .unwrap_or(self.rest.len());
        self.rest.split_to(n)
    }

    /// Consumes one byte that must be `expected`.
    pub fn expect_byte(&mut self, expected: u8, what: &'static str) -> Result<(), DecodeError> {
        if self.byte()? == expected {
            Ok(())
        } else {
            Err(DecodeError::Invalid(what))
        }
    }

    /// Consumes `expected` exactly.
    pub fn expect_bytes(&mut self, expected: &[u8], what: &'static str) -> Result<(), DecodeError> {
        if self.rest.starts_with(expected) {
            self.rest = self.rest.slice(expected.len()..);
            Ok(())
        } else {
            Err(DecodeError::Invalid(what))
        }
    }

    /// Fails unless the input was consumed completely.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Consumes the 1-byte length and then that many bytes.
    pub fn short_bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.byte()?;
        self.take(usize::from(len))
    }

    /// Consumes the 2-byte length and then that many bytes.
    pub fn large_bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = u16::decode(self)?;
        self.take(usize::from(len))
    }
}

/// A value with a binary encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding of `self` as a new buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A value that can be decoded from its binary encoding.
pub trait Decode: Sized {
    /// Decodes one value from the front of `r`, leaving the rest.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError>;

    /// Decodes a value that must span the whole input.
    fn decode_all(input: impl Into<Bytes>) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }

    /// [`Decode::decode_all`] over a borrowed slice (copies it once).
    fn decode_slice(input: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_all(Bytes::copy_from_slice(input))
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
}

impl Encode for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self)
    }
}

impl Decode for u8 {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        r.byte()
    }
}

impl Encode for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes())
    }
}

impl Decode for u16 {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(u16::from_be_bytes(r.take_array()?))
    }
}

impl Encode for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes())
    }
}

impl Decode for u32 {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(u32::from_be_bytes(r.take_array()?))
    }
}

// Two big-endian 32-bit words, high word first: the same bytes as a big-endian i64.
impl Encode for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes())
    }
}

impl Decode for i64 {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(i64::from_be_bytes(r.take_array()?))
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(if *self { b'T' } else { b'F' })
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'T' => Ok(true),
            b'F' => Ok(false),
            _ => Err(DecodeError::Invalid("Bool")),
        }
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(b'0'),
            Some(value) => {
                out.push(b'1');
                value.encode(out)
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'0' => Ok(None),
            b'1' => Ok(Some(T::decode(r)?)),
            _ => Err(DecodeError::Invalid("Maybe tag")),
        }
    }
}

macro_rules! tuple_codec {
    ($($name:ident),+) => {
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
        }

        impl<$($name: Decode),+> Decode for ($($name,)+) {
            fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
                Ok(($($name::decode(r)?,)+))
            }
        }
    };
}

tuple_codec!(A, B);
tuple_codec!(A, B, C);
tuple_codec!(A, B, C, D);
tuple_codec!(A, B, C, D, E);
tuple_codec!(A, B, C, D, E, F);
tuple_codec!(A, B, C, D, E, F, G);
tuple_codec!(A, B, C, D, E, F, G, H);

/// A byte string of at most 255 bytes, encoded with a 1-byte length.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ShortBytes(Bytes);

impl ShortBytes {
    /// The longest value a 1-byte length can describe.
    pub const MAX_LEN: usize = 255;

    /// Wraps `bytes`, refusing more than 255 of them.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, TooLong> {
        let bytes = bytes.into();
        if bytes.len() > Self::MAX_LEN {
            return Err(TooLong {
                len: bytes.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(bytes))
    }

    /// Copies `bytes`, refusing more than 255 of them.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TooLong> {
        Self::new(Bytes::copy_from_slice(bytes))
    }

    /// The bytes themselves.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::fmt::Debug for ShortBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShortBytes({} bytes)", self.0.len())
    }
}

impl AsRef<[u8]> for ShortBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Encode for ShortBytes {
    fn encode(&self, out: &mut Vec<u8>) {
        // The constructor guarantees the length fits in one byte.
        out.push(self.0.len() as u8);
        out.extend_from_slice(&self.0);
    }
}

impl Decode for ShortBytes {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self(r.short_bytes()?))
    }
}

/// A byte string of at most 65535 bytes, encoded with a 2-byte big-endian length.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Large(Bytes);

impl Large {
    /// The longest value a 2-byte length can describe.
    pub const MAX_LEN: usize = u16::MAX as usize;

    /// Wraps `bytes`, refusing more than 65535 of them.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, TooLong> {
        let bytes = bytes.into();
        if bytes.len() > Self::MAX_LEN {
            return Err(TooLong {
                len: bytes.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(bytes))
    }

    /// The bytes themselves.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::fmt::Debug for Large {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Large({} bytes)", self.0.len())
    }
}

impl Encode for Large {
    fn encode(&self, out: &mut Vec<u8>) {
        // The constructor guarantees the length fits in two bytes.
        (self.0.len() as u16).encode(out);
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Large {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self(r.large_bytes()?))
    }
}

/// The rest of the input, with no length prefix: only valid as the last field.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Tail(pub Bytes);

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tail({} bytes)", self.0.len())
    }
}

impl Encode for Tail {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0)
    }
}

impl Decode for Tail {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self(r.take_rest()))
    }
}

/// A list of 1 to 255 items, encoded as a 1-byte count followed by the items.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NonEmpty<T>(Vec<T>);

impl<T> NonEmpty<T> {
    /// The most items a 1-byte count can describe.
    pub const MAX_LEN: usize = 255;

    /// Wraps `items`: `None` when there are none or more than 255.
    pub fn new(items: Vec<T>) -> Option<Self> {
        (!items.is_empty() && items.len() <= Self::MAX_LEN).then_some(Self(items))
    }

    /// A list of one item.
    pub fn one(item: T) -> Self {
        Self(vec![item])
    }

    /// The first item.
    pub fn first(&self) -> &T {
        // Never empty by construction; indexing is checked by the type's invariant.
        &self.0[0]
    }

    /// All items.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// The items as a vector.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T: Encode> Encode for NonEmpty<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_counted(&self.0, out)
    }
}

impl<T: Decode> Decode for NonEmpty<T> {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let items = decode_counted(r)?;
        if items.is_empty() {
            return Err(DecodeError::Invalid("empty list"));
        }
        Ok(Self(items))
    }
}

/// Encodes a list of at most 255 items as a count byte and the items (the reference's
/// `smpEncodeList`). The caller guarantees the bound, as [`NonEmpty`] does.
fn encode_counted<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    debug_assert!(items.len() <= 255);
    out.push(items.len() as u8);
    for item in items {
        item.encode(out);
    }
}

/// Decodes a count byte and that many items (the reference's `smpListP`); may be empty.
pub(crate) fn decode_counted<T: Decode>(r: &mut Reader) -> Result<Vec<T>, DecodeError> {
    let count = usize::from(r.byte()?);
    // Each item takes at least one byte, so a count larger than the input is refused early
    // rather than after `count` failed attempts.
    let mut items = Vec::with_capacity(count.min(r.remaining()));
    for _ in 0..count {
        items.push(T::decode(r)?);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc<T: Encode>(value: T) -> Vec<u8> {
        value.to_bytes()
    }

    #[test]
    fn integers_are_big_endian() {
        assert_eq!(enc(0x1234u16), [0x12, 0x34]);
        assert_eq!(enc(0x0102_0304u32), [1, 2, 3, 4]);
        assert_eq!(enc(-2i64), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    }

    #[test]
    fn short_bytes_refuse_256() {
        assert!(ShortBytes::new(vec![0u8; 255]).is_ok());
        assert_eq!(
            ShortBytes::new(vec![0u8; 256]),
            Err(TooLong { len: 256, max: 255 })
        );
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(matches!(
            ShortBytes::decode_slice(&[5, b'a']),
            Err(DecodeError::UnexpectedEnd {
                needed: 5,
                available: 1
            })
        ));
        assert_eq!(
            u16::decode_slice(&[1, 2, 3]),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            NonEmpty::<u8>::decode_slice(&[0]),
            Err(DecodeError::Invalid("empty list"))
        );
    }

    #[test]
    fn decoded_bytes_share_the_input() {
        let input = Bytes::from_static(b"\x03abcrest");
        let mut r = Reader::new(input.clone());
        let s = ShortBytes::decode(&mut r).unwrap();
        assert_eq!(s.as_bytes().as_ptr(), input[1..].as_ptr());
    }

    proptest! {
        #[test]
        fn roundtrip_scalars(a: u16, b: u32, c: i64, d: bool, e: Option<u16>) {
            let value = (a, b, c, d, e);
            prop_assert_eq!(<(u16, u32, i64, bool, Option<u16>)>::decode_slice(&enc(value)).unwrap(), value);
        }

        #[test]
        fn roundtrip_byte_strings(s in proptest::collection::vec(any::<u8>(), 0..=255),
                                  l in proptest::collection::vec(any::<u8>(), 0..1000),
                                  t in proptest::collection::vec(any::<u8>(), 0..100)) {
            let value = (ShortBytes::new(s).unwrap(), Large::new(l).unwrap(), Tail(t.into()));
            let decoded = <(ShortBytes, Large, Tail)>::decode_slice(&enc(&value)).unwrap();
            prop_assert_eq!(decoded, value);
        }

        #[test]
        fn roundtrip_lists(items in proptest::collection::vec(any::<u16>(), 1..=255)) {
            let value = NonEmpty::new(items).unwrap();
            prop_assert_eq!(NonEmpty::<u16>::decode_slice(&enc(&value)).unwrap(), value);
        }

        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = <(Option<ShortBytes>, NonEmpty<Large>, bool, Tail)>::decode_slice(&input);
            let _ = <(i64, NonEmpty<(u16, ShortBytes)>)>::decode_slice(&input);
        }
    }
}
