//! The text encoding (the reference's `StrEncoding`): the form values take in server
//! addresses, connection URIs, the store log and the agent's command protocol.
//!
//! - byte strings as base64url with `=` padding (the field parser needs at least one
//!   character, so an empty string only decodes as a whole input);
//! - numbers in decimal, `Bool` as `T`/`F`, times as Unix seconds or ISO 8601;
//! - [`VersionRange`] as `1-4`, or `2` when both ends are equal;
//! - `Option` as nothing at all for `None`;
//! - lists separated by `,`, tuples by a space.
//!
//! Parsing goes through a [`Scanner`] over the text; no parser panics on any input.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use bytes::Bytes;

use super::binary::{DecodeError, NonEmpty, ShortBytes};
use super::version::VersionRange;
use super::UnixTime;

/// base64url as the reference writes it: always padded; reading accepts a missing padding.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64 (`+`, `/`), padding required: used where the reference uses it (e.g. the
/// agent's `MSG` broker field and the store log's message bodies).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// `bytes` as padded base64url.
pub fn base64url_encode(bytes: &[u8]) -> String {
    BASE64URL.encode(bytes)
}

/// Decodes base64url (padded or not) spanning the whole input.
pub fn base64url_decode(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    BASE64URL
        .decode(text)
        .map_err(|_| DecodeError::Invalid("base64url"))
}

/// `bytes` as padded standard base64.
pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Decodes padded standard base64 spanning the whole input.
pub fn base64_decode(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    BASE64
        .decode(text)
        .map_err(|_| DecodeError::Invalid("base64"))
}

/// A cursor over text being parsed.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    rest: &'a [u8],
}

impl<'a> Scanner<'a> {
    /// Scans `text`.
    pub fn new(text: &'a [u8]) -> Self {
        Self { rest: text }
    }

    /// What is left to scan.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Whether everything was scanned.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Fails unless everything was scanned.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Consumes the longest prefix whose bytes satisfy `pred` (possibly empty).
    pub fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let n = self
            .rest
            .iter()
            .position(|&b| !pred(b))
            .unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        taken
    }

    /// Like [`Scanner::take_while`] but fails on an empty match.
    pub fn take_while1(
        &mut self,
        pred: impl Fn(u8) -> bool,
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        match self.take_while(pred) {
            [] => Err(DecodeError::Invalid(what)),
            taken => Ok(taken),
        }
    }

    /// Consumes bytes up to (not including) the first one satisfying `pred`.
    pub fn take_till(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        self.take_while(|b| !pred(b))
    }

    /// Consumes everything left.
    pub fn take_rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Consumes `c` if it is next.
    pub fn eat(&mut self, c: u8) -> bool {
        match self.rest.split_first() {
            Some((&first, rest)) if first == c => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Consumes `prefix` if it is next.
    pub fn eat_str(&mut self, prefix: &[u8]) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Consumes `c`, which must be next.
    pub fn expect(&mut self, c: u8, what: &'static str) -> Result<(), DecodeError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(DecodeError::Invalid(what))
        }
    }

    /// Consumes `prefix`, which must be next.
    pub fn expect_str(&mut self, prefix: &[u8], what: &'static str) -> Result<(), DecodeError> {
        if self.eat_str(prefix) {
            Ok(())
        } else {
            Err(DecodeError::Invalid(what))
        }
    }

    /// Consumes one space, which must be next.
    pub fn space(&mut self) -> Result<(), DecodeError> {
        self.expect(b' ', "space")
    }

    /// Consumes an unsigned decimal number of at least one digit that fits in `u64`.
    pub fn decimal(&mut self) -> Result<u64, DecodeError> {
        let digits = self.take_while1(|b| b.is_ascii_digit(), "decimal")?;
        digits.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)
                .and_then(|acc| acc.checked_add(u64::from(d - b'0')))
                .ok_or(DecodeError::Invalid("decimal overflow"))
        })
    }

    /// Consumes an optionally signed decimal number that fits in `i64`.
    pub fn signed_decimal(&mut self) -> Result<i64, DecodeError> {
        let negative = self.eat(b'-');
        if !negative {
            self.eat(b'+');
        }
        let magnitude = self.decimal()?;
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        value.ok_or(DecodeError::Invalid("decimal overflow"))
    }

    /// Consumes a non-empty base64url field: URL-safe characters, then any `=` padding.
    pub fn base64url(&mut self) -> Result<Vec<u8>, DecodeError> {
        let start = self.rest;
        let body = self.take_while1(
            |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
            "base64url",
        )?;
        let pad = self.take_while(|b| b == b'=');
        base64url_decode(&start[..body.len() + pad.len()])
    }

    /// Consumes a non-empty standard base64 field, padding included.
    pub fn base64(&mut self) -> Result<Vec<u8>, DecodeError> {
        let start = self.rest;
        let body = self.take_while1(
            |b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/',
            "base64",
        )?;
        let pad = self.take_while(|b| b == b'=');
        base64_decode(&start[..body.len() + pad.len()])
    }

    /// Runs `parse`; on failure restores the position and returns `None`.
    pub fn optional<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Option<T> {
        let saved = self.rest;
        match parse(self) {
            Ok(value) => Some(value),
            Err(_) => {
                self.rest = saved;
                None
            }
        }
    }
}

/// A value with a text form.
pub trait StrEncode {
    /// Appends the text form of `self` to `out`.
    fn str_encode(&self, out: &mut Vec<u8>);

    /// The text form of `self` as a new buffer.
    fn to_str_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.str_encode(&mut out);
        out
    }
}

/// A value that can be parsed from its text form.
pub trait StrDecode: Sized {
    /// Parses one value from the front of the scanner, leaving what follows it.
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError>;

    /// Parses a value spanning the whole of `text`.
    fn str_decode(text: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Scanner::new(text);
        let value = Self::str_parse(&mut s)?;
        s.finish()?;
        Ok(value)
    }
}

impl<T: StrEncode + ?Sized> StrEncode for &T {
    fn str_encode(&self, out: &mut Vec<u8>) {
        (**self).str_encode(out)
    }
}

impl StrEncode for [u8] {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(base64url_encode(self).as_bytes())
    }
}

impl StrEncode for Vec<u8> {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.as_slice().str_encode(out)
    }
}

impl StrEncode for Bytes {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.as_ref().str_encode(out)
    }
}

impl StrDecode for Vec<u8> {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        s.base64url()
    }

    // As the reference, a whole-input decode also accepts the empty string.
    fn str_decode(text: &[u8]) -> Result<Self, DecodeError> {
        base64url_decode(text)
    }
}

impl StrDecode for Bytes {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        s.base64url().map(Bytes::from)
    }

    fn str_decode(text: &[u8]) -> Result<Self, DecodeError> {
        base64url_decode(text).map(Bytes::from)
    }
}

impl StrEncode for ShortBytes {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.as_bytes().str_encode(out)
    }
}

impl StrDecode for ShortBytes {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        ShortBytes::new(s.base64url()?).map_err(|_| DecodeError::Invalid("short byte string"))
    }
}

macro_rules! decimal_str {
    ($($t:ty),+) => {$(
        impl StrEncode for $t {
            fn str_encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.to_string().as_bytes())
            }
        }
    )+};
}

decimal_str!(u16, u32, u64, i64, usize);

macro_rules! unsigned_str_decode {
    ($($t:ty),+) => {$(
        impl StrDecode for $t {
            fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
                <$t>::try_from(s.decimal()?).map_err(|_| DecodeError::Invalid("decimal overflow"))
            }
        }
    )+};
}

unsigned_str_decode!(u16, u32, u64, usize);

impl StrDecode for i64 {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        s.signed_decimal()
    }
}

impl StrEncode for bool {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.push(if *self { b'T' } else { b'F' })
    }
}

impl StrDecode for bool {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        if s.eat(b'T') {
            Ok(true)
        } else if s.eat(b'F') {
            Ok(false)
        } else {
            Err(DecodeError::Invalid("Bool"))
        }
    }
}

impl StrEncode for UnixTime {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.seconds.str_encode(out)
    }
}

impl StrDecode for UnixTime {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        Ok(UnixTime::from_seconds(s.signed_decimal()?))
    }
}

impl StrEncode for VersionRange {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.min().str_encode(out);
        if self.max() != self.min() {
            out.push(b'-');
            self.max().str_encode(out);
        }
    }
}

impl StrDecode for VersionRange {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let min = u16::str_parse(s)?;
        let max = if s.eat(b'-') { u16::str_parse(s)? } else { min };
        VersionRange::new(min, max).ok_or(DecodeError::Invalid("version range"))
    }
}

impl<T: StrEncode> StrEncode for Option<T> {
    fn str_encode(&self, out: &mut Vec<u8>) {
        if let Some(value) = self {
            value.str_encode(out)
        }
    }
}

impl<T: StrDecode> StrDecode for Option<T> {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        Ok(s.optional(T::str_parse))
    }
}

/// Writes `items` separated by commas.
pub fn str_encode_list<T: StrEncode>(items: &[T], out: &mut Vec<u8>) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item.str_encode(out);
    }
}

/// Parses one list item: the text up to the next `,`, space or line feed must be exactly one
/// value.
fn list_item<T: StrDecode>(s: &mut Scanner<'_>) -> Result<T, DecodeError> {
    T::str_decode(s.take_till(|b| b == b',' || b == b' ' || b == b'\n'))
}

/// Parses a comma-separated list of at least one item.
pub fn str_parse_list1<T: StrDecode>(s: &mut Scanner<'_>) -> Result<Vec<T>, DecodeError> {
    str_parse_sep_by1(s, list_item)
}

/// Parses values with `parse` separated by commas, at least one: unlike
/// [`str_parse_list1`], each value ends where its own parser stops (the reference's
/// `sepBy1'`), so a list can be followed directly by more text, e.g. `host1,host2:port`.
pub fn str_parse_sep_by1<T>(
    s: &mut Scanner<'_>,
    parse: impl Fn(&mut Scanner<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut items = vec![parse(s)?];
    loop {
        let saved = s.clone();
        if !s.eat(b',') {
            break;
        }
        match parse(s) {
            Ok(item) => items.push(item),
            Err(_) => {
                *s = saved;
                break;
            }
        }
    }
    Ok(items)
}

/// Parses a comma-separated list, possibly empty.
pub fn str_parse_list<T: StrDecode>(s: &mut Scanner<'_>) -> Vec<T> {
    s.optional(str_parse_list1).unwrap_or_default()
}

impl<T: StrEncode> StrEncode for NonEmpty<T> {
    fn str_encode(&self, out: &mut Vec<u8>) {
        str_encode_list(self.as_slice(), out)
    }
}

impl<T: StrDecode> StrDecode for NonEmpty<T> {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        NonEmpty::new(str_parse_list1(s)?).ok_or(DecodeError::Invalid("list length"))
    }
}

macro_rules! tuple_str {
    ($first:ident $(, $name:ident)+) => {
        impl<$first: StrEncode, $($name: StrEncode),+> StrEncode for ($first, $($name,)+) {
            #[allow(non_snake_case)]
            fn str_encode(&self, out: &mut Vec<u8>) {
                let ($first, $($name,)+) = self;
                $first.str_encode(out);
                $(out.push(b' '); $name.str_encode(out);)+
            }
        }

        impl<$first: StrDecode, $($name: StrDecode),+> StrDecode for ($first, $($name,)+) {
            #[allow(non_snake_case)]
            fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
                let $first = $first::str_parse(s)?;
                $(s.space()?; let $name = $name::str_parse(s)?;)+
                Ok(($first, $($name,)+))
            }
        }
    };
}

tuple_str!(A, B);
tuple_str!(A, B, C);
tuple_str!(A, B, C, D);
tuple_str!(A, B, C, D, E);

/// A raw word of text up to the next space, as is (the reference's `Str`); parsing also
/// consumes one space after it, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Word(pub Vec<u8>);

impl StrEncode for Word {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0)
    }
}

impl StrDecode for Word {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let word = s.take_till(|b| b == b' ').to_vec();
        s.eat(b' ');
        Ok(Word(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64url_is_padded_and_url_safe() {
        assert_eq!(b"a".to_vec().to_str_bytes(), b"YQ==");
        assert_eq!(vec![0xfb, 0xff, 0xbf].to_str_bytes(), b"-_-_");
        assert_eq!(Vec::<u8>::str_decode(b"YQ").unwrap(), b"a");
        assert_eq!(Vec::<u8>::str_decode(b"").unwrap(), b"");
        assert!(
            <(Vec<u8>, u16)>::str_decode(b" 5").is_err(),
            "empty field needs a character"
        );
        assert!(
            Vec::<u8>::str_decode(b"YR==").is_err(),
            "non-canonical trailing bits"
        );
    }

    #[test]
    fn version_ranges() {
        let r = VersionRange::new(1, 4).unwrap();
        assert_eq!(r.to_str_bytes(), b"1-4");
        assert_eq!(VersionRange::single(2).to_str_bytes(), b"2");
        assert_eq!(VersionRange::str_decode(b"1-4").unwrap(), r);
        assert!(VersionRange::str_decode(b"4-1").is_err());
        assert!(u16::str_decode(b"65536").is_err());
    }

    #[test]
    fn lists_and_tuples() {
        let list = NonEmpty::new(vec![b"a".to_vec(), b"bc".to_vec()]).unwrap();
        assert_eq!(list.to_str_bytes(), b"YQ==,YmM=");
        assert_eq!(NonEmpty::<Vec<u8>>::str_decode(b"YQ==,YmM=").unwrap(), list);
        assert_eq!((b"ab".to_vec(), 5u16).to_str_bytes(), b"YWI= 5");
        assert_eq!(
            <(Vec<u8>, u16)>::str_decode(b"YWI= 5").unwrap(),
            (b"ab".to_vec(), 5)
        );
        let mut s = Scanner::new(b"1,2,x rest");
        assert_eq!(str_parse_list1::<u16>(&mut s).unwrap(), vec![1, 2]);
        assert_eq!(s.rest(), b",x rest");
        assert_eq!(
            str_parse_list::<u16>(&mut Scanner::new(b"")),
            Vec::<u16>::new()
        );
    }

    #[test]
    fn signed_decimals() {
        assert_eq!(i64::str_decode(b"-9223372036854775808").unwrap(), i64::MIN);
        assert!(i64::str_decode(b"9223372036854775808").is_err());
        assert_eq!(
            UnixTime::str_decode(b"1660000000").unwrap(),
            UnixTime::from_seconds(1_660_000_000)
        );
    }

    proptest! {
        #[test]
        fn roundtrip(bytes in proptest::collection::vec(any::<u8>(), 1..100), n: u16, t: i64, b: bool) {
            let value = (bytes, n, UnixTime::from_seconds(t), b);
            prop_assert_eq!(<(Vec<u8>, u16, UnixTime, bool)>::str_decode(&value.to_str_bytes()).unwrap(), value);
        }

        #[test]
        fn arbitrary_text_never_panics(text in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = <(NonEmpty<Vec<u8>>, VersionRange, Option<i64>)>::str_decode(&text);
            let _ = <(Word, Vec<u8>)>::str_decode(&text);
            let _ = base64_decode(&text);
        }
    }
}
