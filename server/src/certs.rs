//! Generating a server identity as the reference's `init` does with `openssl` — an offline CA
//! certificate (self-signed, `CN = SMP server CA, O = SimpleX`, `CA:true`) and an online
//! certificate signed by it (`CN` = the server's IP or FQDN, `serverAuth`) — in Rust, with a
//! small DER writer. Keys are Ed448 (the default) or Ed25519, written as PKCS#8 PEM.
//!
//! The server's fingerprint (its key hash in addresses) is the SHA-256 of the CA certificate's
//! DER, base64url-encoded, which is what the `fingerprint` file holds.

use base64::Engine;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::CryptoRng;
use simplex_core::encoding::UnixTime;

/// The signature algorithm of the certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertAlgorithm {
    /// Ed448 (the reference's default).
    Ed448,
    /// Ed25519.
    Ed25519,
}

/// A generated identity, as the PEM texts of the reference's four files and the fingerprint.
#[derive(Debug, Clone)]
pub struct GeneratedIdentity {
    /// `ca.key`: the CA's private key (keep it offline).
    pub ca_key_pem: String,
    /// `ca.crt`.
    pub ca_cert_pem: String,
    /// `server.key`: the online private key.
    pub server_key_pem: String,
    /// `server.crt`.
    pub server_cert_pem: String,
    /// The `fingerprint` file's content (without its newline).
    pub fingerprint: String,
}

/// A key could not be made from random bytes (a bug in the key sizes if it ever happens).
#[derive(Debug, Clone, thiserror::Error)]
#[error("key generation failed: {0}")]
pub struct CertError(String);

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// One DER element: tag, length (short or long form), content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(bytes: &[u8]) -> Vec<u8> {
    tlv(0x06, bytes)
}

fn name(cn: &str, org: Option<&str>) -> Vec<u8> {
    let rdn = |id: &[u8], value: &str| tlv(0x31, &seq(&[oid(id), tlv(0x0c, value.as_bytes())]));
    let mut rdns = vec![rdn(OID_CN, cn)];
    if let Some(o) = org {
        rdns.push(rdn(OID_O, o));
    }
    seq(&rdns)
}

fn extension(id: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(tlv(0x01, &[0xff]));
    }
    parts.push(tlv(0x04, value));
    seq(&parts)
}

/// `YYMMDDHHMMSSZ` of a Unix time (UTCTime covers 1950–2049).
fn utc_time(t: UnixTime) -> Vec<u8> {
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        year.rem_euclid(100),
        month,
        day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    tlv(0x17, text.as_bytes())
}

fn key_id(spki: &[u8]) -> Vec<u8> {
    simplex_core::crypto::hash::sha256(spki)
        .get(..20)
        .unwrap_or_default()
        .to_vec()
}

fn new_key(alg: CertAlgorithm, rng: &mut dyn CryptoRng) -> Result<SignKey, CertError> {
    let (alg, len) = match alg {
        CertAlgorithm::Ed448 => (Algorithm::Ed448, 57),
        CertAlgorithm::Ed25519 => (Algorithm::Ed25519, 32),
    };
    let mut raw = zeroize::Zeroizing::new(vec![0u8; len]);
    rng.fill_bytes(&mut raw);
    let key = PrivateKey::from_raw(alg, &raw).map_err(|e| CertError(e.to_string()))?;
    SignKey::try_from(key).map_err(|e| CertError(e.to_string()))
}

struct CertSpec<'a> {
    issuer: &'a [u8],
    subject: &'a [u8],
    subject_spki: &'a [u8],
    extensions: Vec<Vec<u8>>,
}

fn certificate(
    spec: CertSpec<'_>,
    signer: &SignKey,
    alg: CertAlgorithm,
    rng: &mut dyn CryptoRng,
    now: UnixTime,
) -> Vec<u8> {
    let alg_id = seq(&[oid(match alg {
        CertAlgorithm::Ed448 => OID_ED448,
        CertAlgorithm::Ed25519 => OID_ED25519,
    })]);
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    // A positive integer with no leading zero byte.
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])),
        tlv(0x02, &serial),
        alg_id.clone(),
        spec.issuer.to_vec(),
        seq(&[utc_time(now), tlv(0x18, b"99991231235959Z")]),
        spec.subject.to_vec(),
        spec.subject_spki.to_vec(),
        tlv(0xa3, &seq(&spec.extensions)),
    ]);
    let signature = signer.sign(&tbs);
    let mut bits = vec![0u8];
    bits.extend_from_slice(signature.as_bytes());
    seq(&[tbs, alg_id, tlv(0x03, &bits)])
}

/// PEM text of one DER block.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Generates the CA and online keys and certificates; `common_name` is the online
/// certificate's CN (the server's FQDN, or its IP when it has none).
pub fn generate(
    alg: CertAlgorithm,
    common_name: &str,
    rng: &mut dyn CryptoRng,
    now: UnixTime,
) -> Result<GeneratedIdentity, CertError> {
    let ca_key = new_key(alg, rng)?;
    let server_key = new_key(alg, rng)?;
    let ca_spki = ca_key.verify_key().to_der();
    let server_spki = server_key.verify_key().to_der();
    let ca_name = name("SMP server CA", Some("SimpleX"));
    let ca_key_id = key_id(&ca_spki);
    let ca_cert = certificate(
        CertSpec {
            issuer: &ca_name,
            subject: &ca_name,
            subject_spki: &ca_spki,
            extensions: vec![
                extension(OID_SUBJECT_KEY_ID, false, &tlv(0x04, &ca_key_id)),
                extension(OID_AUTHORITY_KEY_ID, false, &seq(&[tlv(0x80, &ca_key_id)])),
                extension(OID_BASIC_CONSTRAINTS, true, &seq(&[tlv(0x01, &[0xff])])),
            ],
        },
        &ca_key,
        alg,
        rng,
        now,
    );
    let server_name = name(common_name, None);
    let server_cert = certificate(
        CertSpec {
            issuer: &ca_name,
            subject: &server_name,
            subject_spki: &server_spki,
            extensions: vec![
                extension(OID_BASIC_CONSTRAINTS, false, &seq(&[])),
                // digitalSignature, nonRepudiation, keyAgreement.
                extension(OID_KEY_USAGE, false, &tlv(0x03, &[3, 0xc8])),
                extension(OID_EXT_KEY_USAGE, false, &seq(&[oid(OID_SERVER_AUTH)])),
            ],
        },
        &ca_key,
        alg,
        rng,
        now,
    );
    Ok(GeneratedIdentity {
        ca_key_pem: pem("PRIVATE KEY", &ca_key.to_der()),
        ca_cert_pem: pem("CERTIFICATE", &ca_cert),
        server_key_pem: pem("PRIVATE KEY", &server_key.to_der()),
        server_cert_pem: pem("CERTIFICATE", &server_cert),
        fingerprint: KeyHash::of_certificate_der(&ca_cert).to_base64url(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use simplex_core::tls::ServerIdentity;

    #[test]
    fn generated_identities_load_and_hash_to_their_fingerprint() {
        for alg in [CertAlgorithm::Ed448, CertAlgorithm::Ed25519] {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
            let id = generate(
                alg,
                "127.0.0.1",
                &mut rng,
                UnixTime::from_seconds(1_700_000_000),
            )
            .unwrap();
            let identity = ServerIdentity::from_pem(
                id.server_cert_pem.as_bytes(),
                id.ca_cert_pem.as_bytes(),
                id.server_key_pem.as_bytes(),
            )
            .unwrap();
            assert_eq!(identity.key_hash().to_base64url(), id.fingerprint);
        }
    }

    #[test]
    fn utc_time_of_known_dates() {
        assert_eq!(utc_time(UnixTime::from_seconds(0))[2..], *b"700101000000Z");
        assert_eq!(
            utc_time(UnixTime::from_seconds(1_700_000_000))[2..],
            *b"231114221320Z"
        );
    }

    #[test]
    fn long_lengths() {
        assert_eq!(tlv(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(tlv(4, &[0; 300])[..4], [4, 0x82, 1, 44]);
    }
}
