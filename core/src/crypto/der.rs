//! The two DER structures keys travel in, for the four algorithms of RFC 8410 (OIDs
//! 1.3.101.110–113, no algorithm parameters):
//!
//! - public keys: X.509 `SubjectPublicKeyInfo` = SEQUENCE { SEQUENCE { OID }, BIT STRING key }
//! - private keys: PKCS#8 `PrivateKeyInfo` version 0 = SEQUENCE { INTEGER 0, SEQUENCE { OID },
//!   OCTET STRING { OCTET STRING key } }, with no attributes and no public key, which is what
//!   the reference writes.
//!
//! Keys have fixed sizes, so every valid encoding is a fixed prefix followed by the raw key;
//! encoding just concatenates. Decoding walks the structure instead of comparing prefixes so
//! that each kind of bad input gets its own error. See `spec/crypto.md`.

use super::error::KeyDecodeError;
use super::keys::Algorithm;

/// `SEQUENCE { OID 1.3.101.x }` without its last OID byte.
const ALGORITHM_ID_PREFIX: [u8; 6] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65];

/// DER of a public key.
pub(crate) fn encode_spki(alg: Algorithm, key: &[u8]) -> Vec<u8> {
    let bits_len = key.len() + 1;
    let body_len = ALGORITHM_ID_PREFIX.len() + 1 + 2 + bits_len;
    let mut out = Vec::with_capacity(2 + body_len);
    // Every key is short enough for single-byte DER lengths.
    out.extend_from_slice(&[0x30, body_len as u8]);
    out.extend_from_slice(&ALGORITHM_ID_PREFIX);
    out.push(alg.oid_last_byte());
    out.extend_from_slice(&[0x03, bits_len as u8, 0x00]);
    out.extend_from_slice(key);
    out
}

/// DER of a private key (PKCS#8 v0).
pub(crate) fn encode_pkcs8(alg: Algorithm, key: &[u8]) -> Vec<u8> {
    let inner_len = key.len() + 2;
    let body_len = 3 + ALGORITHM_ID_PREFIX.len() + 1 + 2 + inner_len;
    let mut out = Vec::with_capacity(2 + body_len);
    out.extend_from_slice(&[0x30, body_len as u8, 0x02, 0x01, 0x00]);
    out.extend_from_slice(&ALGORITHM_ID_PREFIX);
    out.push(alg.oid_last_byte());
    out.extend_from_slice(&[0x04, inner_len as u8, 0x04, key.len() as u8]);
    out.extend_from_slice(key);
    out
}

/// The algorithm and raw key of a public key's DER.
pub(crate) fn decode_spki(der: &[u8]) -> Result<(Algorithm, &[u8]), KeyDecodeError> {
    let mut outer = Cursor(der);
    let mut body = Cursor(outer.element(0x30)?);
    outer.end()?;
    let alg = algorithm_id(&mut body)?;
    let bits = body.element(0x03)?;
    body.end_of_structure()?;
    let (&unused_bits, key) = bits
        .split_first()
        .ok_or(KeyDecodeError::Malformed("empty bit string"))?;
    if unused_bits != 0 {
        return Err(KeyDecodeError::Malformed("bit string with unused bits"));
    }
    check_len(alg, key)?;
    Ok((alg, key))
}

/// The algorithm and raw key of a private key's PKCS#8 DER.
pub(crate) fn decode_pkcs8(der: &[u8]) -> Result<(Algorithm, &[u8]), KeyDecodeError> {
    let mut outer = Cursor(der);
    let mut body = Cursor(outer.element(0x30)?);
    outer.end()?;
    if body.element(0x02)? != [0x00] {
        return Err(KeyDecodeError::Malformed("PKCS#8 version is not 0"));
    }
    let alg = algorithm_id(&mut body)?;
    let mut wrapped = Cursor(body.element(0x04)?);
    body.end_of_structure()?;
    let key = wrapped.element(0x04)?;
    wrapped.end_of_structure()?;
    check_len(alg, key)?;
    Ok((alg, key))
}

fn algorithm_id(body: &mut Cursor<'_>) -> Result<Algorithm, KeyDecodeError> {
    let mut alg_id = Cursor(body.element(0x30)?);
    let oid = alg_id.element(0x06)?;
    let alg = match oid {
        [0x2b, 0x65, last] => Algorithm::from_oid_last_byte(*last),
        _ => None,
    }
    .ok_or(KeyDecodeError::UnknownAlgorithm)?;
    if !alg_id.0.is_empty() {
        return Err(KeyDecodeError::Malformed("algorithm parameters"));
    }
    Ok(alg)
}

fn check_len(alg: Algorithm, key: &[u8]) -> Result<(), KeyDecodeError> {
    if key.len() == alg.key_len() {
        Ok(())
    } else {
        Err(KeyDecodeError::WrongLength(key.len()))
    }
}

/// Reads DER elements with single-byte (short form) lengths, the only ones these keys use.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// The contents of the next element, which must have tag `tag`.
    fn element(&mut self, tag: u8) -> Result<&'a [u8], KeyDecodeError> {
        let [t, len, rest @ ..] = self.0 else {
            return Err(KeyDecodeError::Malformed("truncated"));
        };
        if *t != tag {
            return Err(KeyDecodeError::Malformed("unexpected tag"));
        }
        if *len >= 0x80 {
            return Err(KeyDecodeError::Malformed("long-form length"));
        }
        let (contents, rest) = rest
            .split_at_checked(usize::from(*len))
            .ok_or(KeyDecodeError::Malformed("truncated"))?;
        self.0 = rest;
        Ok(contents)
    }

    /// Nothing may follow the outermost element.
    fn end(&self) -> Result<(), KeyDecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(KeyDecodeError::TrailingBytes(n)),
        }
    }

    /// Nothing may follow the last expected field inside a structure.
    fn end_of_structure(&self) -> Result<(), KeyDecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(KeyDecodeError::Malformed("unexpected fields"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed25519_spki() -> Vec<u8> {
        encode_spki(Algorithm::Ed25519, &[7; 32])
    }

    #[test]
    fn fixed_prefixes() {
        assert_eq!(
            hex::encode(&ed25519_spki()[..12]),
            "302a300506032b6570032100"
        );
        assert_eq!(
            hex::encode(&encode_spki(Algorithm::X448, &[0; 56])[..12]),
            "3042300506032b656f033900"
        );
        assert_eq!(
            hex::encode(&encode_pkcs8(Algorithm::Ed448, &[0; 57])[..16]),
            "3047020100300506032b6571043b0439"
        );
    }

    #[test]
    fn typed_errors() {
        let good = ed25519_spki();
        assert_eq!(decode_spki(&good), Ok((Algorithm::Ed25519, &[7u8; 32][..])));
        assert_eq!(
            decode_spki(&[good.as_slice(), &[0, 0]].concat()),
            Err(KeyDecodeError::TrailingBytes(2))
        );
        assert_eq!(
            decode_spki(&good[..20]),
            Err(KeyDecodeError::Malformed("truncated"))
        );
        assert_eq!(
            decode_spki(&[]),
            Err(KeyDecodeError::Malformed("truncated"))
        );
        let mut oid = good.clone();
        oid[8] = 0x72;
        assert_eq!(decode_spki(&oid), Err(KeyDecodeError::UnknownAlgorithm));
        // Ed448 OID with a 32-byte key.
        let mut wrong_len = good.clone();
        wrong_len[8] = 0x71;
        assert_eq!(
            decode_spki(&wrong_len),
            Err(KeyDecodeError::WrongLength(32))
        );
        let mut unused_bits = good.clone();
        unused_bits[11] = 1;
        assert_eq!(
            decode_spki(&unused_bits),
            Err(KeyDecodeError::Malformed("bit string with unused bits"))
        );
        // A private key is not a public key, and the reverse.
        let pkcs8 = encode_pkcs8(Algorithm::Ed25519, &[7; 32]);
        assert!(decode_spki(&pkcs8).is_err());
        assert!(decode_pkcs8(&good).is_err());
        let mut v1 = pkcs8.clone();
        v1[4] = 1;
        assert_eq!(
            decode_pkcs8(&v1),
            Err(KeyDecodeError::Malformed("PKCS#8 version is not 0"))
        );
        // Algorithm parameters (NULL) are not allowed for these OIDs.
        let with_null = hex::decode(
            "302c300706032b657005000321000707070707070707070707070707070707070707070707070707070707070707",
        )
        .unwrap();
        assert_eq!(
            decode_spki(&with_null),
            Err(KeyDecodeError::Malformed("algorithm parameters"))
        );
    }
}
