//! The client's check of the server's identity, as the reference does it.
//!
//! A server address carries a key hash: SHA-256 of the DER of the server's offline CA
//! certificate. The server presents exactly two certificates, its online certificate and that CA
//! certificate. The client accepts the chain only if there are exactly two, the CA certificate
//! hashes to the key hash (compared in constant time), and the online certificate names the CA as
//! its issuer and carries a valid CA signature. The handshake signature must then verify with the
//! online certificate's key. Host names are not checked (the reference disables that check), and
//! neither are validity dates: a sans-IO machine has no wall clock (see `spec/tls.md`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, UnixTime,
};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use super::der::{Certificate, EdAlgorithm};
use super::error::IdentityError;
use crate::crypto::hash::KeyHash;
use crate::crypto::{ed25519, ed448};

/// Verifies an EdDSA signature; `false` for a malformed key or signature.
pub fn verify_ed(
    algorithm: EdAlgorithm,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    match algorithm {
        EdAlgorithm::Ed25519 => match (public_key.try_into(), signature.try_into()) {
            (Ok(key), Ok(sig)) => ed25519::VerifyingKey::from_bytes(key)
                .verify(message, &ed25519::Signature::from_bytes(sig)),
            _ => false,
        },
        EdAlgorithm::Ed448 => match (public_key.try_into(), signature.try_into()) {
            (Ok(key), Ok(sig)) => ed448::VerifyingKey::from_bytes(key)
                .verify(message, &ed448::Signature::from_bytes(sig)),
            _ => false,
        },
    }
}

/// Checks a presented chain against the expected key hash (see the module documentation).
pub fn check_server_chain(certificates: &[&[u8]], key_hash: &KeyHash) -> Result<(), IdentityError> {
    let [online, ca] = certificates else {
        return Err(IdentityError::ChainLength {
            count: certificates.len(),
        });
    };
    // KeyHash compares in constant time.
    if KeyHash::of_certificate_der(ca) != *key_hash {
        return Err(IdentityError::UnknownCa);
    }
    let online = Certificate::parse(online)?;
    let ca = Certificate::parse(ca)?;
    if online.issuer != ca.subject
        || online.signature_algorithm != ca.key_algorithm
        || !verify_ed(
            ca.key_algorithm,
            ca.public_key,
            online.tbs,
            online.signature,
        )
    {
        return Err(IdentityError::NotSignedByCa);
    }
    Ok(())
}

fn scheme_algorithm(scheme: SignatureScheme) -> Option<EdAlgorithm> {
    match scheme {
        SignatureScheme::ED25519 => Some(EdAlgorithm::Ed25519),
        SignatureScheme::ED448 => Some(EdAlgorithm::Ed448),
        _ => None,
    }
}

/// Wraps an identity failure so that it crosses rustls and can be recovered by the session.
pub(crate) fn identity_error(e: IdentityError) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// Recovers an identity failure wrapped by [`identity_error`].
pub(crate) fn as_identity_error(e: &Error) -> Option<IdentityError> {
    match e {
        Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            inner.downcast_ref::<IdentityError>().cloned()
        }
        _ => None,
    }
}

/// rustls certificate verifier pinning the server's CA certificate by its SHA-256 key hash.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    key_hash: KeyHash,
}

impl PinnedServerVerifier {
    /// A verifier accepting only servers whose CA certificate hashes to `key_hash`.
    pub fn new(key_hash: KeyHash) -> Self {
        PinnedServerVerifier { key_hash }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let chain: Vec<&[u8]> = core::iter::once(end_entity.as_ref())
            .chain(intermediates.iter().map(|c| c.as_ref()))
            .collect();
        check_server_chain(&chain, &self.key_hash).map_err(identity_error)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let cert = Certificate::parse(cert.as_ref()).map_err(identity_error)?;
        match scheme_algorithm(dss.scheme) {
            Some(algorithm)
                if algorithm == cert.key_algorithm
                    && verify_ed(algorithm, cert.public_key, message, dss.signature()) =>
            {
                Ok(HandshakeSignatureValid::assertion())
            }
            _ => Err(identity_error(IdentityError::BadHandshakeSignature)),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED448, SignatureScheme::ED25519]
    }
}

/// EdDSA verification for the provider's algorithm table (used by rustls only for what our
/// verifier does not override; kept so that the provider is complete and consistent).
#[derive(Debug)]
pub struct EdVerification(EdAlgorithm);

/// Ed25519 signature verification.
pub static ED25519_VERIFY: EdVerification = EdVerification(EdAlgorithm::Ed25519);
/// Ed448 signature verification.
pub static ED448_VERIFY: EdVerification = EdVerification(EdAlgorithm::Ed448);

impl SignatureVerificationAlgorithm for EdVerification {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if verify_ed(self.0, public_key, message, signature) {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match self.0 {
            EdAlgorithm::Ed25519 => alg_id::ED25519,
            EdAlgorithm::Ed448 => alg_id::ED448,
        }
    }
}
