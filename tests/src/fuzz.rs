//! Fuzz target bodies: each takes arbitrary bytes and must never panic.

use simplex_core::encoding::{pad, unpad, Decode, Encode, Large, NonEmpty, ShortBytes, Tail, VersionRange};

/// Names of every fuzz target, as directories under `fuzz/corpus/`.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[("encoding", encoding), ("padding", padding)];

/// The binary codec: decoding arbitrary bytes as several shapes; what decodes re-encodes to the
/// same bytes.
pub fn encoding(data: &[u8]) {
    type Shape = (Option<ShortBytes>, NonEmpty<Large>, VersionRange, bool, Tail);
    if let Ok(value) = Shape::decode_slice(data) {
        assert_eq!(value.to_bytes(), data, "re-encoding must reproduce the input");
    }
    let _ = <(i64, NonEmpty<(u16, ShortBytes)>, Tail)>::decode_slice(data);
}

/// Unpadding arbitrary bytes; what unpads pads back to a buffer of the same size.
pub fn padding(data: &[u8]) {
    if let Ok(content) = unpad(data) {
        if data.len() >= content.len() + 2 {
            let again = pad(content, data.len()).expect("content fits where it came from");
            assert_eq!(unpad(&again).ok(), Some(content));
        }
    }
}
