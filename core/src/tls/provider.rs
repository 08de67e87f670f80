//! The rustls `CryptoProvider` with the reference's parameters, and the client and server
//! configurations built on it.
//!
//! - protocol: TLS 1.3 only (no renegotiation exists in 1.3);
//! - cipher suite: TLS_CHACHA20_POLY1305_SHA256 only, from ring's provider (fast AEAD);
//! - key exchange: X448 then X25519, ours, keys from the session's injected RNG;
//! - signatures: Ed448 and Ed25519 only;
//! - randomness: the session's injected RNG (see [`super::rng`]), never the OS;
//! - no session resumption: no tickets, no session cache, no early data.
//!
//! Nothing is installed process-wide: each session gets its own configuration.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, GetRandomFailed, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::{SignatureVerificationAlgorithm, UnixTime};
use rustls::server::{NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ServerConfig, SignatureScheme};

use super::error::TlsApiError;
use super::identity::ServerIdentity;
use super::kx::{X25519, X448};
use super::rng;
use super::sign::EdKeyProvider;
use super::tls_unique::SecretCapture;
use super::verify::{PinnedServerVerifier, ED25519_VERIFY, ED448_VERIFY};
use crate::crypto::hash::KeyHash;

/// rustls's randomness, drawn from the RNG the session lends for the duration of each call.
#[derive(Debug)]
struct InjectedRandom;

impl SecureRandom for InjectedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        if rng::fill(buf) {
            Ok(())
        } else {
            Err(GetRandomFailed)
        }
    }
}

/// The clock rustls asks for certificate checks. Ours ignore time (a sans-IO machine has no wall
/// clock), so a constant keeps rustls from reading the OS clock.
#[derive(Debug)]
struct NoClock;

impl TimeProvider for NoClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(core::time::Duration::ZERO))
    }
}

static RANDOM: InjectedRandom = InjectedRandom;
static KEYS: EdKeyProvider = EdKeyProvider;
static ALL_VERIFY: &[&dyn SignatureVerificationAlgorithm] = &[&ED448_VERIFY, &ED25519_VERIFY];
static VERIFY_MAPPING: &[(SignatureScheme, &[&dyn SignatureVerificationAlgorithm])] = &[
    (SignatureScheme::ED448, &[&ED448_VERIFY]),
    (SignatureScheme::ED25519, &[&ED25519_VERIFY]),
];

/// The provider with the reference's parameters (see the module documentation).
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
        kx_groups: vec![&X448, &X25519],
        signature_verification_algorithms: WebPkiSupportedAlgorithms {
            all: ALL_VERIFY,
            mapping: VERIFY_MAPPING,
        },
        secure_random: &RANDOM,
        key_provider: &KEYS,
    }
}

fn config_error(e: rustls::Error) -> TlsApiError {
    TlsApiError::Config(e.to_string())
}

/// A client configuration pinning the server's CA by `key_hash`, reporting the client handshake
/// traffic secret to `capture`.
pub fn client_config(
    key_hash: KeyHash,
    capture: Arc<SecretCapture>,
) -> Result<ClientConfig, TlsApiError> {
    let mut config = ClientConfig::builder_with_details(Arc::new(provider()), Arc::new(NoClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(key_hash)))
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    config.enable_early_data = false;
    config.key_log = capture;
    Ok(config)
}

#[derive(Debug)]
struct Resolver(SingleCertAndKey);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.resolve(client_hello)
    }
}

/// A server configuration presenting `identity`'s two-certificate chain, reporting the client
/// handshake traffic secret to `capture`.
pub fn server_config(
    identity: &ServerIdentity,
    capture: Arc<SecretCapture>,
) -> Result<ServerConfig, TlsApiError> {
    let certified = CertifiedKey::new(identity.chain().to_vec(), Arc::new(identity.key().clone()));
    let mut config = ServerConfig::builder_with_details(Arc::new(provider()), Arc::new(NoClock))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(SingleCertAndKey::from(certified))));
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    config.key_log = capture;
    Ok(config)
}
