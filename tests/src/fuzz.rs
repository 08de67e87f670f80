//! Fuzz target bodies: each takes arbitrary bytes and must never panic.
//!
//! A target may assert properties of what it decodes (re-encoding gives the input back, and
//! so on); a failed assertion is a finding just like a panic inside the code under test.

use simplex_core::encoding::query::QueryParams;
use simplex_core::encoding::string::{StrDecode, StrEncode, Word};
use simplex_core::encoding::{
    pad, unpad, Decode, Encode, Large, NonEmpty, ShortBytes, Tail, UnixTime, UtcTime, VersionRange,
};

/// A fuzz target: its name (a folder under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target. `fuzz/fuzz_targets/<name>.rs` calls the body of the same name.
pub const TARGETS: &[Target] = &[
    ("encoding", encoding),
    ("padding", padding),
    ("string", string),
];

/// The binary codec: decoding arbitrary bytes as several shapes; what decodes re-encodes to the
/// same bytes (the binary encoding is canonical).
pub fn encoding(data: &[u8]) {
    type Shape = (
        Option<ShortBytes>,
        NonEmpty<Large>,
        VersionRange,
        bool,
        Tail,
    );
    if let Ok(value) = Shape::decode_slice(data) {
        assert_eq!(
            value.to_bytes(),
            data,
            "re-encoding must reproduce the input"
        );
    }
    let _ = <(UnixTime, NonEmpty<(u16, ShortBytes)>, Tail)>::decode_slice(data);
}

/// Unpadding arbitrary bytes; what unpads pads back to a buffer of the same size.
pub fn padding(data: &[u8]) {
    if let Ok(content) = unpad(data) {
        let again = pad(content, data.len()).expect("content fits where it came from");
        assert_eq!(unpad(&again).ok(), Some(content));
    }
}

/// The text parsers: whatever parses, prints to a text that parses to the same value.
pub fn string(data: &[u8]) {
    type Line = (NonEmpty<Vec<u8>>, VersionRange, UnixTime, Option<bool>);
    if let Ok(value) = Line::str_decode(data) {
        assert_eq!(Line::str_decode(&value.to_str_bytes()).ok(), Some(value));
    }
    if let Ok(time) = UtcTime::str_decode(data) {
        assert_eq!(UtcTime::str_decode(&time.to_str_bytes()).ok(), Some(time));
    }
    if let Ok(query) = QueryParams::str_decode(data) {
        assert_eq!(
            QueryParams::str_decode(&query.to_str_bytes())
                .ok()
                .map(|q| q.params),
            Some(query.params)
        );
    }
    let _ = <(Word, Vec<u8>)>::str_decode(data);
}
