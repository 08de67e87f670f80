//! Just enough DER to read what the identity check needs: an X.509 certificate's signed part,
//! issuer, subject, public key and signature, and the private key inside a PKCS#8 document.
//!
//! Only Ed25519 (OID 1.3.101.112) and Ed448 (1.3.101.113) keys and signatures are recognised:
//! those are the only ones the reference's TLS parameters allow.

use super::error::IdentityError;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_VERSION: u8 = 0xa0;

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// A signature algorithm the identity check accepts (the key type and the signature scheme
/// coincide for EdDSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdAlgorithm {
    /// Ed25519 (RFC 8410 OID 1.3.101.112), 32-byte keys, 64-byte signatures.
    Ed25519,
    /// Ed448 (RFC 8410 OID 1.3.101.113), 57-byte keys, 114-byte signatures.
    Ed448,
}

impl EdAlgorithm {
    fn from_oid(oid: &[u8]) -> Option<Self> {
        match oid {
            OID_ED25519 => Some(EdAlgorithm::Ed25519),
            OID_ED448 => Some(EdAlgorithm::Ed448),
            _ => None,
        }
    }

    /// Length of a public key, and of the private key seed.
    pub fn key_len(self) -> usize {
        match self {
            EdAlgorithm::Ed25519 => 32,
            EdAlgorithm::Ed448 => 57,
        }
    }
}

/// A DER reader over a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one element: its tag, its contents and the whole encoding (header included).
    fn element(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), IdentityError> {
        let bad = || IdentityError::Malformed;
        let (&tag, after_tag) = self.rest.split_first().ok_or_else(bad)?;
        let (&first, mut after_len) = after_tag.split_first().ok_or_else(bad)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 3 || after_len.len() < n {
                return Err(bad());
            }
            let (len_bytes, rest) = after_len.split_at(n);
            after_len = rest;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return Err(bad());
        }
        let header = self.rest.len() - after_len.len();
        let (whole, rest) = self.rest.split_at(header + len);
        self.rest = rest;
        Ok((tag, &whole[header..], whole))
    }

    fn expect(&mut self, tag: u8) -> Result<&'a [u8], IdentityError> {
        match self.element()? {
            (t, contents, _) if t == tag => Ok(contents),
            _ => Err(IdentityError::Malformed),
        }
    }

    fn expect_whole(&mut self, tag: u8) -> Result<&'a [u8], IdentityError> {
        match self.element()? {
            (t, _, whole) if t == tag => Ok(whole),
            _ => Err(IdentityError::Malformed),
        }
    }

    /// An AlgorithmIdentifier for EdDSA: a sequence holding only the OID.
    fn ed_algorithm(&mut self) -> Result<EdAlgorithm, IdentityError> {
        let mut seq = Reader::new(self.expect(TAG_SEQUENCE)?);
        let oid = seq.expect(TAG_OID)?;
        if !seq.is_empty() {
            return Err(IdentityError::UnsupportedAlgorithm);
        }
        EdAlgorithm::from_oid(oid).ok_or(IdentityError::UnsupportedAlgorithm)
    }

    /// A BIT STRING with no unused bits, returned without its leading count byte.
    fn bit_string(&mut self) -> Result<&'a [u8], IdentityError> {
        match self.expect(TAG_BIT_STRING)?.split_first() {
            Some((0, bits)) => Ok(bits),
            _ => Err(IdentityError::Malformed),
        }
    }
}

/// The parts of an X.509 certificate the identity check reads, borrowed from its DER.
#[derive(Debug, Clone, Copy)]
pub struct Certificate<'a> {
    /// The signed part (`tbsCertificate`), header included, exactly as signed.
    pub tbs: &'a [u8],
    /// The issuer's distinguished name, as encoded.
    pub issuer: &'a [u8],
    /// The subject's distinguished name, as encoded.
    pub subject: &'a [u8],
    /// The subject's key type.
    pub key_algorithm: EdAlgorithm,
    /// The subject's raw public key.
    pub public_key: &'a [u8],
    /// The algorithm of the issuer's signature.
    pub signature_algorithm: EdAlgorithm,
    /// The issuer's signature over `tbs`.
    pub signature: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// Parses a DER certificate with an Ed25519 or Ed448 key and signature.
    pub fn parse(der: &'a [u8]) -> Result<Self, IdentityError> {
        let mut outer = Reader::new(der);
        let mut cert = Reader::new(outer.expect(TAG_SEQUENCE)?);
        if !outer.is_empty() {
            return Err(IdentityError::Malformed);
        }
        let tbs = cert.expect_whole(TAG_SEQUENCE)?;
        let signature_algorithm = cert.ed_algorithm()?;
        let signature = cert.bit_string()?;
        if !cert.is_empty() {
            return Err(IdentityError::Malformed);
        }

        let mut fields = Reader::new(Reader::new(tbs).expect(TAG_SEQUENCE)?);
        if fields.peek_tag() == Some(TAG_VERSION) {
            fields.element()?;
        }
        fields.expect(TAG_INTEGER)?; // serial number
        let inner_algorithm = fields.ed_algorithm()?;
        if inner_algorithm != signature_algorithm {
            return Err(IdentityError::Malformed);
        }
        let issuer = fields.expect_whole(TAG_SEQUENCE)?;
        fields.expect(TAG_SEQUENCE)?; // validity
        let subject = fields.expect_whole(TAG_SEQUENCE)?;
        let mut spki = Reader::new(fields.expect(TAG_SEQUENCE)?);
        let key_algorithm = spki.ed_algorithm()?;
        let public_key = spki.bit_string()?;
        if public_key.len() != key_algorithm.key_len() {
            return Err(IdentityError::Malformed);
        }
        Ok(Certificate {
            tbs,
            issuer,
            subject,
            key_algorithm,
            public_key,
            signature_algorithm,
            signature,
        })
    }
}

/// Reads the raw private key out of a PKCS#8 (RFC 5208/5958) document for Ed25519 or Ed448.
pub fn parse_pkcs8(der: &[u8]) -> Result<(EdAlgorithm, &[u8]), IdentityError> {
    let mut outer = Reader::new(der);
    let mut info = Reader::new(outer.expect(TAG_SEQUENCE)?);
    info.expect(TAG_INTEGER)?; // version 0 or 1
    let algorithm = info.ed_algorithm()?;
    let mut wrapped = Reader::new(info.expect(TAG_OCTET_STRING)?);
    let key = wrapped.expect(TAG_OCTET_STRING)?;
    if !wrapped.is_empty() || key.len() != algorithm.key_len() {
        return Err(IdentityError::Malformed);
    }
    Ok((algorithm, key))
}
