//! Fixed-size padding: a 2-byte big-endian length, the content, then `#` up to the target size.
//!
//! Blocks, encrypted bodies and ratchet headers are all padded this way so their size says
//! nothing about their content.

/// Why content could not be padded or unpadded (the reference's `CryptoLargeMsgError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PadError {
    /// The content and its 2-byte length do not fit in the target size (or in a 2-byte length).
    #[error("content of {len} bytes does not fit in {padded_len} padded bytes")]
    TooLarge {
        /// Content length.
        len: usize,
        /// Target padded length.
        padded_len: usize,
    },
    /// The length prefix claims more bytes than follow it, or there is no prefix at all.
    #[error("padded length prefix is larger than the padded data")]
    BadLength,
}

/// The filler byte after the content.
pub const PAD_BYTE: u8 = b'#';

/// Appends `content` padded to exactly `padded_len` bytes to `out`.
pub fn pad_into(content: &[u8], padded_len: usize, out: &mut Vec<u8>) -> Result<(), PadError> {
    let len = content.len();
    let too_large = PadError::TooLarge { len, padded_len };
    let fill = padded_len
        .checked_sub(len)
        .and_then(|n| n.checked_sub(2))
        .ok_or(too_large)?;
    let len16 = u16::try_from(len).map_err(|_| too_large)?;
    out.reserve(padded_len);
    out.extend_from_slice(&len16.to_be_bytes());
    out.extend_from_slice(content);
    out.resize(out.len() + fill, PAD_BYTE);
    Ok(())
}

/// `content` padded to exactly `padded_len` bytes.
pub fn pad(content: &[u8], padded_len: usize) -> Result<Vec<u8>, PadError> {
    let mut out = Vec::with_capacity(padded_len);
    pad_into(content, padded_len, &mut out)?;
    Ok(out)
}

/// The content of a padded buffer. As the reference, whatever follows the content is not
/// checked (it need not be `#`).
pub fn unpad(padded: &[u8]) -> Result<&[u8], PadError> {
    let (prefix, rest) = padded.split_at_checked(2).ok_or(PadError::BadLength)?;
    let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    rest.get(..len).ok_or(PadError::BadLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pads_with_hash() {
        assert_eq!(pad(b"hello", 16).unwrap(), b"\x00\x05hello#########");
        assert_eq!(pad(b"hello", 7).unwrap(), b"\x00\x05hello");
        assert_eq!(
            pad(b"hello", 6),
            Err(PadError::TooLarge {
                len: 5,
                padded_len: 6
            })
        );
        assert_eq!(
            pad(b"", 1),
            Err(PadError::TooLarge {
                len: 0,
                padded_len: 1
            })
        );
    }

    #[test]
    fn unpad_checks_the_length() {
        assert_eq!(unpad(b"\x00\x03abcXYZ").unwrap(), b"abc");
        assert_eq!(unpad(b"\x00\x09abc"), Err(PadError::BadLength));
        assert_eq!(unpad(b"\x00"), Err(PadError::BadLength));
        assert_eq!(unpad(b"\x00\x00").unwrap(), b"");
    }

    proptest! {
        #[test]
        fn roundtrip(content in proptest::collection::vec(any::<u8>(), 0..2000), extra in 2usize..100) {
            let padded = pad(&content, content.len() + extra).unwrap();
            prop_assert_eq!(padded.len(), content.len() + extra);
            prop_assert_eq!(unpad(&padded).unwrap(), &content[..]);
        }

        #[test]
        fn unpad_never_panics(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = unpad(&input);
        }
    }
}
