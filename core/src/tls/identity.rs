//! A server's TLS identity loaded from bytes (PEM or DER): the online certificate, the offline CA
//! certificate and the online private key. Core is sans-IO, so callers read the files.

use base64::Engine as _;
use rustls::pki_types::CertificateDer;

use super::der::Certificate;
use super::error::IdentityError;
use super::sign::EdSigningKey;
use super::verify::check_server_chain;
use crate::crypto::hash::KeyHash;

/// Decodes every PEM block labelled `label` (e.g. `CERTIFICATE`, `PRIVATE KEY`) in `pem`.
pub fn pem_blocks(pem: &[u8], label: &str) -> Result<Vec<Vec<u8>>, IdentityError> {
    let text = core::str::from_utf8(pem).map_err(|_| IdentityError::Malformed)?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body_start = start + begin.len();
        let body_len = rest[body_start..]
            .find(&end)
            .ok_or(IdentityError::Malformed)?;
        let body: String = rest[body_start..body_start + body_len]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| IdentityError::Malformed)?;
        blocks.push(der);
        rest = &rest[body_start + body_len + end.len()..];
    }
    Ok(blocks)
}

fn single_block(pem: &[u8], label: &str) -> Result<Vec<u8>, IdentityError> {
    let mut blocks = pem_blocks(pem, label)?;
    match blocks.len() {
        1 => blocks.pop().ok_or(IdentityError::Malformed),
        _ => Err(IdentityError::Malformed),
    }
}

/// The identity a server presents: `[online certificate, CA certificate]` and the online key.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: EdSigningKey,
}

impl ServerIdentity {
    /// Builds an identity from DER, checking that the online certificate is signed by the CA
    /// and that the key belongs to the online certificate.
    pub fn from_der(
        online_cert: Vec<u8>,
        ca_cert: Vec<u8>,
        online_key_pkcs8: &[u8],
    ) -> Result<Self, IdentityError> {
        check_server_chain(
            &[&online_cert, &ca_cert],
            &KeyHash::of_certificate_der(&ca_cert),
        )?;
        let key = EdSigningKey::from_pkcs8_der(online_key_pkcs8)?;
        if Certificate::parse(&online_cert)?.public_key != key.public_key_bytes().as_slice() {
            return Err(IdentityError::Malformed);
        }
        Ok(ServerIdentity {
            chain: vec![
                CertificateDer::from(online_cert),
                CertificateDer::from(ca_cert),
            ],
            key,
        })
    }

    /// Builds an identity presenting `chain` as given, without any check. Only for testing how
    /// clients treat misconfigured servers.
    pub fn from_der_unchecked(
        chain: Vec<Vec<u8>>,
        online_key_pkcs8: &[u8],
    ) -> Result<Self, IdentityError> {
        Ok(ServerIdentity {
            chain: chain.into_iter().map(CertificateDer::from).collect(),
            key: EdSigningKey::from_pkcs8_der(online_key_pkcs8)?,
        })
    }

    /// Builds an identity from the PEM files the reference uses (`server.crt`, `ca.crt`,
    /// `server.key` with a PKCS#8 `PRIVATE KEY`), read by the caller.
    pub fn from_pem(
        online_cert_pem: &[u8],
        ca_cert_pem: &[u8],
        online_key_pem: &[u8],
    ) -> Result<Self, IdentityError> {
        let key = zeroize::Zeroizing::new(single_block(online_key_pem, "PRIVATE KEY")?);
        Self::from_der(
            single_block(online_cert_pem, "CERTIFICATE")?,
            single_block(ca_cert_pem, "CERTIFICATE")?,
            &key,
        )
    }

    /// The server's key hash (its fingerprint in addresses): SHA-256 of the CA certificate DER.
    pub fn key_hash(&self) -> KeyHash {
        let ca = self.chain.get(1).map(|ca| ca.as_ref()).unwrap_or_default();
        KeyHash::of_certificate_der(ca)
    }

    /// The certificate chain as presented: online, then CA.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The online private key.
    pub fn key(&self) -> &EdSigningKey {
        &self.key
    }
}
