//! base64url with `=` padding, the text form of keys and key hashes in the reference.
//!
//! Kept private and minimal on purpose: the string codec in `crate::encoding::string` is
//! the general home for this and can replace it.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;

/// base64url with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// Decodes base64url with padding; `None` on any invalid input.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE.decode(text).ok()
}
