//! Codec targets: binary and text encodings, padding, keys, server addresses.

use simplex_core::encoding::query::QueryParams;
use simplex_core::encoding::string::{StrDecode, StrEncode, Word};
use simplex_core::encoding::{
    pad, unpad, Decode, Encode, Large, NonEmpty, ShortBytes, Tail, UnixTime, UtcTime, VersionRange,
};

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

/// Key and signature decoding (DER, the SMP form, the text form): whatever decodes re-encodes
/// to a form that decodes to the same key.
pub fn keys(data: &[u8]) {
    use simplex_core::crypto::keys::{PrivateKey, PublicKey, Signature};
    if let Ok(key) = PublicKey::from_der(data) {
        assert_eq!(PublicKey::from_der(&key.to_der()).ok(), Some(key));
    }
    if let Ok(key) = PrivateKey::from_der(data) {
        assert_eq!(
            PrivateKey::from_der(&key.to_der())
                .map(|k| k.public_key())
                .ok(),
            Some(key.public_key())
        );
    }
    if let Ok(key) = PublicKey::decode_slice(data) {
        assert_eq!(key.to_bytes(), data);
    }
    let _ = Signature::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PublicKey::from_base64url(text);
    }
}

/// Server addresses and service locations in text and binary form.
pub fn address(data: &[u8]) {
    use simplex_core::address::{ServerAddress, ServiceLocation};
    if let Ok(a) = ServerAddress::str_decode(data) {
        assert_eq!(
            ServerAddress::str_decode(&a.to_str_bytes()).ok(),
            Some(a.clone())
        );
        assert_eq!(
            ServerAddress::decode_slice(&a.to_bytes())
                .ok()
                .map(|b| b.hosts),
            Some(a.hosts)
        );
    }
    if let Ok(a) = ServerAddress::decode_slice(data) {
        let _ = a.to_str_bytes();
    }
    let _ = ServiceLocation::str_decode(data);
}
