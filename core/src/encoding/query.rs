//! URI query strings (`a=1&b=2`) as the reference's connection URIs write and read them.
//!
//! Writing percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~` (upper-case hex), except
//! in values marked as not escaped, which the reference writes raw (its `x3dh` and `dh`
//! parameters keep their `=` and `,`). Reading splits on `&` and `;`, skips empty pieces,
//! splits each at its first `=`, and percent-decodes (`+` reads as a space; a `%` not followed
//! by two hex digits stays as it is).

use super::binary::DecodeError;
use super::string::{Scanner, StrDecode, StrEncode};

/// Whether values are percent-encoded when written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// Keys and values are percent-encoded.
    Escape,
    /// Keys are percent-encoded, values are written as they are.
    NoEscaping,
}

/// An ordered list of query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParams {
    /// How values are written.
    pub escaping: Escaping,
    /// Parameters in order; names may repeat.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl QueryParams {
    /// The value of the first parameter called `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first parameter called `name`, parsed from its text form; an error when absent.
    pub fn param<T: StrDecode>(&self, name: &[u8]) -> Result<T, DecodeError> {
        T::str_decode(
            self.get(name)
                .ok_or(DecodeError::Invalid("missing query parameter"))?,
        )
    }

    /// The first parameter called `name`, parsed, or `None` when absent.
    pub fn optional_param<T: StrDecode>(&self, name: &[u8]) -> Result<Option<T>, DecodeError> {
        self.get(name).map(T::str_decode).transpose()
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn percent_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (
            b,
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) {
            (b'%', Some(hi), Some(lo)) => Some(hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(if b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    out
}

impl StrEncode for QueryParams {
    fn str_encode(&self, out: &mut Vec<u8>) {
        for (i, (name, value)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            percent_encode(name, out);
            out.push(b'=');
            match self.escaping {
                Escaping::Escape => percent_encode(value, out),
                Escaping::NoEscaping => out.extend_from_slice(value),
            }
        }
    }
}

impl StrDecode for QueryParams {
    /// Reads up to the next space or line feed.
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let text = s.take_till(|b| b == b' ' || b == b'\n');
        let text = text.strip_prefix(b"?").unwrap_or(text);
        let params = text
            .split(|&b| b == b'&' || b == b';')
            .filter(|piece| !piece.is_empty())
            .map(|piece| match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    percent_decode(&piece[..eq]),
                    percent_decode(&piece[eq + 1..]),
                ),
                None => (percent_decode(piece), Vec::new()),
            })
            .collect();
        Ok(QueryParams {
            escaping: Escaping::Escape,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_reserved_bytes() {
        let q = QueryParams {
            escaping: Escaping::Escape,
            params: vec![
                (b"v".to_vec(), b"1-2".to_vec()),
                (b"smp".to_vec(), b"smp://a@b/c#/?v=1&dh=x==".to_vec()),
            ],
        };
        let text = q.to_str_bytes();
        assert_eq!(
            text,
            b"v=1-2&smp=smp%3A%2F%2Fa%40b%2Fc%23%2F%3Fv%3D1%26dh%3Dx%3D%3D"
        );
        assert_eq!(QueryParams::str_decode(&text).unwrap(), q);
        assert_eq!(percent_decode(b"a+b%2x%41"), b"a b%2xA");
    }

    proptest! {
        #[test]
        fn escaped_roundtrip(params in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 1..8), proptest::collection::vec(any::<u8>(), 0..20)), 0..5)) {
            let q = QueryParams { escaping: Escaping::Escape, params };
            prop_assert_eq!(QueryParams::str_decode(&q.to_str_bytes()).unwrap(), q);
        }

        #[test]
        fn arbitrary_text_never_panics(text in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = QueryParams::str_decode(&text);
        }
    }
}
