//! The tls-unique channel binding (RFC 5929) on TLS 1.3, as OpenSSL reports it: the
//! verify_data of the client's Finished message (`SSL_get_finished` on the client,
//! `SSL_get_peer_finished` on the server). With TLS_CHACHA20_POLY1305_SHA256 it is 32 bytes.
//!
//! rustls does not expose Finished messages. But the client's Finished travels, encrypted, through
//! our own buffers: the client writes it and the server reads it. So:
//!
//! 1. rustls's key-log hook hands us the client handshake traffic secret ([`SecretCapture`]);
//! 2. [`FinishedScanner`] follows the client→server record stream, skipping the plaintext
//!    records (ClientHello, a second ClientHello after HelloRetryRequest, the middlebox
//!    compatibility ChangeCipherSpec, plaintext alerts) and keeps the first encrypted record
//!    (outer type application_data): with no early data and no client certificate that record is
//!    the client's Finished, the first record under the client handshake keys (sequence 0);
//! 3. [`decrypt_finished`] derives key and IV with HKDF-Expand-Label (SHA-256), opens the record
//!    with ChaCha20-Poly1305 (nonce = IV, as the sequence number is 0), strips the inner content
//!    type and padding, and reads the Finished message's verify_data.

use std::sync::Mutex;

use hkdf::Hkdf;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::error::TlsUniqueError;

/// Length of the session id: the verify_data of a SHA-256 Finished message.
pub const TLS_UNIQUE_LEN: usize = 32;

const RECORD_HEADER_LEN: usize = 5;
/// Largest TLS 1.3 ciphertext record body (RFC 8446 §5.2).
const MAX_CIPHERTEXT_LEN: usize = (1 << 14) + 256;
const CONTENT_APPLICATION_DATA: u8 = 23;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_FINISHED: u8 = 20;
const CLIENT_HANDSHAKE_SECRET_LABEL: &str = "CLIENT_HANDSHAKE_TRAFFIC_SECRET";

/// rustls key-log hook keeping only the client handshake traffic secret (zeroized on drop and
/// when taken). It never writes a secret anywhere else.
#[derive(Default)]
pub struct SecretCapture {
    secret: Mutex<Option<Zeroizing<Vec<u8>>>>,
}

impl core::fmt::Debug for SecretCapture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretCapture(..)")
    }
}

impl SecretCapture {
    /// Takes the captured secret, if any, leaving nothing behind.
    pub fn take(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.secret.lock().ok().and_then(|mut s| s.take())
    }
}

impl rustls::KeyLog for SecretCapture {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        if label == CLIENT_HANDSHAKE_SECRET_LABEL {
            if let Ok(mut slot) = self.secret.lock() {
                *slot = Some(Zeroizing::new(secret.to_vec()));
            }
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT_HANDSHAKE_SECRET_LABEL
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(secret: &[u8], label: &[u8], out: &mut [u8]) -> Result<(), TlsUniqueError> {
    let prk = Hkdf::<Sha256>::from_prk(secret).map_err(|_| TlsUniqueError::NoSecret)?;
    let out_len = u16::try_from(out.len()).map_err(|_| TlsUniqueError::BadRecord)?;
    let mut info = Vec::with_capacity(4 + 6 + label.len());
    info.extend_from_slice(&out_len.to_be_bytes());
    info.push(u8::try_from(6 + label.len()).map_err(|_| TlsUniqueError::BadRecord)?);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(0);
    prk.expand(&info, out)
        .map_err(|_| TlsUniqueError::BadRecord)
}

/// Opens the client's first encrypted handshake record and returns its Finished verify_data.
///
/// `header` is the 5-byte record header (the AEAD's associated data) and `body` the ciphertext.
pub fn decrypt_finished(
    secret: &[u8],
    header: &[u8; RECORD_HEADER_LEN],
    body: &[u8],
) -> Result<[u8; TLS_UNIQUE_LEN], TlsUniqueError> {
    let mut key = Zeroizing::new([0u8; 32]);
    let mut iv = Zeroizing::new([0u8; 12]);
    expand_label(secret, b"key", key.as_mut())?;
    expand_label(secret, b"iv", iv.as_mut())?;
    let key = UnboundKey::new(&CHACHA20_POLY1305, key.as_ref())
        .map(LessSafeKey::new)
        .map_err(|_| TlsUniqueError::BadRecord)?;
    // Sequence number 0: the nonce is the IV itself.
    let nonce = Nonce::assume_unique_for_key(*iv);
    let mut buf = Zeroizing::new(body.to_vec());
    let plain = key
        .open_in_place(nonce, Aad::from(header), &mut buf)
        .map_err(|_| TlsUniqueError::BadRecord)?;
    // TLSInnerPlaintext: content, then the real content type, then zero padding.
    let end = plain
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(TlsUniqueError::BadRecord)?;
    let (content, content_type) = (&plain[..end], plain[end]);
    match content {
        [HANDSHAKE_FINISHED, 0, 0, len, rest @ ..]
            if content_type == CONTENT_HANDSHAKE
                && usize::from(*len) == TLS_UNIQUE_LEN
                && rest.len() >= TLS_UNIQUE_LEN =>
        {
            let mut out = [0u8; TLS_UNIQUE_LEN];
            out.copy_from_slice(&rest[..TLS_UNIQUE_LEN]);
            Ok(out)
        }
        _ => Err(TlsUniqueError::BadRecord),
    }
}

enum ScanState {
    /// Reading a record header.
    Header {
        buf: [u8; RECORD_HEADER_LEN],
        have: usize,
    },
    /// Skipping the body of a plaintext record.
    Skip { remaining: usize },
    /// Collecting the body of the first encrypted record.
    Body {
        header: [u8; RECORD_HEADER_LEN],
        body: Vec<u8>,
        need: usize,
    },
    /// The first encrypted record is complete.
    Found {
        header: [u8; RECORD_HEADER_LEN],
        body: Vec<u8>,
    },
    /// The stream is not a well-formed record stream; rustls will reject it as well.
    Broken,
}

/// Follows the client→server record stream to find the client's Finished record. Holds at most
/// one record (≤ 16,645 bytes) and ignores everything after it.
pub struct FinishedScanner {
    state: ScanState,
}

impl Default for FinishedScanner {
    fn default() -> Self {
        FinishedScanner {
            state: ScanState::Header {
                buf: [0; RECORD_HEADER_LEN],
                have: 0,
            },
        }
    }
}

impl FinishedScanner {
    /// Feeds the next bytes of the client→server stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                ScanState::Header { buf, have } => {
                    let n = (RECORD_HEADER_LEN - *have).min(data.len());
                    buf[*have..*have + n].copy_from_slice(&data[..n]);
                    *have += n;
                    data = &data[n..];
                    if *have == RECORD_HEADER_LEN {
                        let header = *buf;
                        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
                        self.state = if len > MAX_CIPHERTEXT_LEN {
                            ScanState::Broken
                        } else if header[0] == CONTENT_APPLICATION_DATA {
                            ScanState::Body {
                                header,
                                body: Vec::with_capacity(len),
                                need: len,
                            }
                        } else {
                            ScanState::Skip { remaining: len }
                        };
                        self.settle();
                    }
                }
                ScanState::Skip { remaining } => {
                    let n = (*remaining).min(data.len());
                    *remaining -= n;
                    data = &data[n..];
                    self.settle();
                }
                ScanState::Body { body, need, .. } => {
                    let n = (*need - body.len()).min(data.len());
                    body.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    self.settle();
                }
                ScanState::Found { .. } | ScanState::Broken => return,
            }
        }
    }

    /// Moves on from a finished skip or body (also for empty ones).
    fn settle(&mut self) {
        match &mut self.state {
            ScanState::Skip { remaining: 0 } => {
                self.state = ScanState::Header {
                    buf: [0; RECORD_HEADER_LEN],
                    have: 0,
                }
            }
            ScanState::Body { header, body, need } if body.len() == *need => {
                self.state = ScanState::Found {
                    header: *header,
                    body: core::mem::take(body),
                }
            }
            _ => {}
        }
    }

    /// Whether the Finished record has been collected.
    pub fn found(&self) -> bool {
        matches!(self.state, ScanState::Found { .. })
    }

    /// Decrypts the collected record with the client handshake traffic secret.
    pub fn tls_unique(
        &self,
        secret: Option<&[u8]>,
    ) -> Result<[u8; TLS_UNIQUE_LEN], TlsUniqueError> {
        match &self.state {
            ScanState::Found { header, body } => {
                decrypt_finished(secret.ok_or(TlsUniqueError::NoSecret)?, header, body)
            }
            _ => Err(TlsUniqueError::NotSeen),
        }
    }

    /// Drops the collected record.
    pub fn clear(&mut self) {
        if let ScanState::Found { body, .. } | ScanState::Body { body, .. } = &mut self.state {
            body.zeroize();
        }
        self.state = ScanState::Broken;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_finished(secret: &[u8], verify_data: &[u8; 32], padding: usize) -> Vec<u8> {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 12];
        expand_label(secret, b"key", &mut key).unwrap();
        expand_label(secret, b"iv", &mut iv).unwrap();
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
        let mut inner = vec![HANDSHAKE_FINISHED, 0, 0, 32];
        inner.extend_from_slice(verify_data);
        inner.push(CONTENT_HANDSHAKE);
        inner.extend(core::iter::repeat_n(0, padding));
        let len = u16::try_from(inner.len() + 16).unwrap();
        let header = [CONTENT_APPLICATION_DATA, 3, 3, (len >> 8) as u8, len as u8];
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(header),
            &mut inner,
        )
        .unwrap();
        let mut record = header.to_vec();
        record.extend(inner);
        record
    }

    #[test]
    fn finds_finished_after_plaintext_records() {
        let secret = [9u8; 32];
        let verify_data = [0x42u8; 32];
        let mut stream = vec![22, 3, 1, 0, 3, 1, 2, 3]; // a (short) handshake record
        stream.extend_from_slice(&[20, 3, 3, 0, 1, 1]); // ChangeCipherSpec
        stream.extend(seal_finished(&secret, &verify_data, 7));
        stream.extend_from_slice(&[23, 3, 3, 0, 2, 0xde, 0xad]); // later records are ignored
        let mut scanner = FinishedScanner::default();
        for chunk in stream.chunks(3) {
            scanner.feed(chunk);
        }
        assert!(scanner.found());
        assert_eq!(scanner.tls_unique(Some(&secret)), Ok(verify_data));
        assert_eq!(
            scanner.tls_unique(Some(&[8u8; 32])),
            Err(TlsUniqueError::BadRecord)
        );
        assert_eq!(scanner.tls_unique(None), Err(TlsUniqueError::NoSecret));
        scanner.clear();
        assert_eq!(
            scanner.tls_unique(Some(&secret)),
            Err(TlsUniqueError::NotSeen)
        );
    }

    #[test]
    fn oversized_record_stops_the_scan() {
        let mut scanner = FinishedScanner::default();
        scanner.feed(&[23, 3, 3, 0xff, 0xff]);
        scanner.feed(&[0; 100]);
        assert!(!scanner.found());
        assert_eq!(
            scanner.tls_unique(Some(&[0; 32])),
            Err(TlsUniqueError::NotSeen)
        );
    }
}
