//! The ratchet state and its two operations (the reference's `Ratchet`, `rcEncrypt`,
//! `rcDecrypt`).
//!
//! Encryption advances the sending chain. Decryption first tries the stored skipped keys, then
//! the current receiving header key (same chain), then the next header key (the peer made a
//! DH ratchet step: finish the old chain up to the header's PN, step the root key twice with a
//! new key pair of ours, and skip to the header's number in the new chain). All of that is
//! computed on a copy; the copy and the new skipped keys are committed only after the message
//! body authenticates.

use std::fmt;

use super::chain_key::{ReceivingChain, SendingChain};
use super::error::{DecryptError, EncryptError};
use super::header::{EncMessageHeader, HeaderKey, HeaderOpenError, MsgHeader};
use super::message::MessageParts;
use super::message_key::MessageKey;
use super::root_key::RootKey;
use super::skipped::{SkippedKeys, SkippedLookup, MAX_SKIP};
use super::x3dh::{AssocData, RatchetInitParams};
use super::E2E_ENCRYPT_VERSIONS;
use crate::crypto::error::CryptoError;
use crate::crypto::rng::CryptoRng;
use crate::crypto::x448;
use crate::encoding::{Decode, VersionRange};

/// Our current ratchet key pair (`rcDHRs`); the public half is kept so that encrypting does not
/// recompute it.
#[derive(Clone)]
pub(crate) struct DhKeyPair {
    pub(crate) private: x448::PrivateKey,
    pub(crate) public: x448::PublicKey,
}

impl DhKeyPair {
    pub(crate) fn new(private: x448::PrivateKey) -> Self {
        let public = private.public_key();
        Self { private, public }
    }
}

/// Everything but the skipped keys: small enough to copy on every decryption.
#[derive(Clone)]
pub(crate) struct RatchetCore {
    pub(crate) versions: VersionRange,
    pub(crate) assoc_data: AssocData,
    pub(crate) dh_self: DhKeyPair,
    pub(crate) root_key: RootKey,
    pub(crate) sending: Option<SendingChain>,
    pub(crate) receiving: Option<ReceivingChain>,
    pub(crate) ns: u32,
    pub(crate) nr: u32,
    pub(crate) pn: u32,
    pub(crate) next_header_key_send: HeaderKey,
    pub(crate) next_header_key_recv: HeaderKey,
}

/// The double ratchet of one connection, with its skipped message keys.
///
/// `Debug` shows only counters and versions, never keys.
#[derive(Clone)]
pub struct Ratchet {
    pub(crate) core: RatchetCore,
    pub(crate) skipped: SkippedKeys,
}

/// A decrypted message.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The message, without its padding.
    pub plaintext: Vec<u8>,
    /// Whether the message started a new receiving chain (a DH ratchet step).
    pub ratchet_step: bool,
    /// Whether the message was decrypted with a stored skipped key.
    pub from_skipped: bool,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext_len", &self.plaintext.len())
            .field("ratchet_step", &self.ratchet_step)
            .field("from_skipped", &self.from_skipped)
            .finish()
    }
}

impl fmt::Debug for Ratchet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ratchet")
            .field("versions", &self.core.versions)
            .field("ns", &self.core.ns)
            .field("nr", &self.core.nr)
            .field("pn", &self.core.pn)
            .field("can_send", &self.core.sending.is_some())
            .field("can_receive", &self.core.receiving.is_some())
            .field("skipped_keys", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

/// Whether a header belongs to the current receiving chain or starts the next one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    SameChain,
    NextChain,
}

/// Keys skipped while computing the next state, to be stored if the message authenticates.
type NewSkipped = Vec<(HeaderKey, Vec<(u32, MessageKey)>)>;

impl Ratchet {
    /// The joining party's ratchet (the reference's `initSndRatchet`): `their_key` is the
    /// initiator's second X3DH public key, `own_key` a fresh key pair of ours.
    pub fn init_sender(
        their_key: &x448::PublicKey,
        own_key: x448::PrivateKey,
        params: &RatchetInitParams,
    ) -> Result<Self, CryptoError> {
        let dh_self = DhKeyPair::new(own_key);
        let step = params.ratchet_key.step(their_key, &dh_self.private)?;
        Ok(Self {
            core: RatchetCore {
                versions: E2E_ENCRYPT_VERSIONS,
                assoc_data: params.assoc_data.clone(),
                dh_self,
                root_key: step.root_key,
                sending: Some(SendingChain {
                    their_ratchet_key: *their_key,
                    chain_key: step.chain_key,
                    header_key: params.snd_header_key.clone(),
                }),
                receiving: None,
                ns: 0,
                nr: 0,
                pn: 0,
                next_header_key_send: step.next_header_key,
                next_header_key_recv: params.rcv_next_header_key.clone(),
            },
            skipped: SkippedKeys::default(),
        })
    }

    /// The initiator's ratchet (the reference's `initRcvRatchet`): `own_key2` is the private
    /// half of the second key it published. It can send only after receiving.
    pub fn init_receiver(own_key2: x448::PrivateKey, params: &RatchetInitParams) -> Self {
        Self {
            core: RatchetCore {
                versions: E2E_ENCRYPT_VERSIONS,
                assoc_data: params.assoc_data.clone(),
                dh_self: DhKeyPair::new(own_key2),
                root_key: params.ratchet_key.clone(),
                sending: None,
                receiving: None,
                ns: 0,
                nr: 0,
                pn: 0,
                next_header_key_send: params.rcv_next_header_key.clone(),
                next_header_key_recv: params.snd_header_key.clone(),
            },
            skipped: SkippedKeys::default(),
        }
    }

    /// The number of stored skipped message keys.
    pub fn skipped_keys(&self) -> usize {
        self.skipped.len()
    }

    /// Whether this ratchet can encrypt (it has a sending chain).
    pub fn can_send(&self) -> bool {
        self.core.sending.is_some()
    }

    /// Encrypts `msg` padded to `padded_len` bytes (the reference's `rcEncrypt`). The result is
    /// `padded_len + 140` bytes. On error the state is unchanged.
    pub fn encrypt(&mut self, padded_len: usize, msg: &[u8]) -> Result<Vec<u8>, EncryptError> {
        let core = &self.core;
        let sending = core.sending.as_ref().ok_or(EncryptError::NoSendingChain)?;
        let ns_next = core
            .ns
            .checked_add(1)
            .ok_or(EncryptError::CounterOverflow)?;
        let step = sending.chain_key.step();
        let header = MsgHeader {
            max_version: core.versions.max(),
            ratchet_key: core.dh_self.public,
            previous_chain_len: core.pn,
            message_number: core.ns,
        };
        let ad = core.assoc_data.as_bytes();
        // The message is built in one buffer: the encrypted header with its length byte, a tag
        // slot, then the body sealed in place.
        let mut out = Vec::with_capacity(1 + ENC_HEADER_CAPACITY + 16 + padded_len);
        out.push(0);
        EncMessageHeader::seal_into(
            core.versions.min(),
            &sending.header_key,
            step.header_iv,
            ad,
            &header,
            &mut out,
        )
        .map_err(EncryptError::Crypto)?;
        out[0] =
            u8::try_from(out.len() - 1).map_err(|_| EncryptError::Crypto(CryptoError::LargeMsg))?;
        let tag_at = out.len();
        let body_ad = BodyAd::new(ad, &out[1..]);
        out.extend_from_slice(&[0u8; 16]);
        let tag = step
            .message_key
            .seal_into(padded_len, body_ad.as_bytes(), msg, &mut out)
            .map_err(|e| match e {
                CryptoError::LargeMsg => EncryptError::MessageTooLarge,
                e => EncryptError::Crypto(e),
            })?;
        out[tag_at..tag_at + 16].copy_from_slice(&tag.0);
        if let Some(sending) = self.core.sending.as_mut() {
            sending.chain_key.advance(&step.next);
        }
        self.core.ns = ns_next;
        Ok(out)
    }

    /// Decrypts a message (the reference's `rcDecrypt`), drawing a new ratchet key pair from
    /// `rng` if the message starts a new chain. On error the state is unchanged.
    pub fn decrypt(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        msg: &[u8],
    ) -> Result<Decrypted, DecryptError> {
        self.decrypt_with(msg, || x448::PrivateKey::generate(rng))
    }

    /// [`Self::decrypt`] with the new ratchet key (needed only on a DH ratchet step) supplied by
    /// `new_ratchet_key`, which is called at most once.
    pub fn decrypt_with(
        &mut self,
        msg: &[u8],
        new_ratchet_key: impl FnOnce() -> x448::PrivateKey,
    ) -> Result<Decrypted, DecryptError> {
        let enc_msg = MessageParts::parse(msg).map_err(DecryptError::Encoding)?;
        let enc_header =
            EncMessageHeader::decode_slice(enc_msg.header).map_err(DecryptError::Encoding)?;
        let ad = self.core.assoc_data.as_bytes();
        let header_error = |e| match e {
            HeaderOpenError::Authentication => DecryptError::HeaderDecryption,
            HeaderOpenError::Encoding(e) => DecryptError::HeaderEncoding(e),
        };
        let (step, header) = match self.skipped.lookup(&enc_header, ad).map_err(header_error)? {
            SkippedLookup::Found { chain, index } => {
                let key = self
                    .skipped
                    .key(chain, index)
                    .ok_or(DecryptError::HeaderDecryption)?;
                let plaintext = open_body(key, ad, &enc_msg)?;
                self.skipped.remove(chain, index);
                return Ok(Decrypted {
                    plaintext,
                    ratchet_step: false,
                    from_skipped: true,
                });
            }
            SkippedLookup::HeaderOnly { chain, header } => {
                let hk = self
                    .skipped
                    .header_key(chain)
                    .ok_or(DecryptError::HeaderDecryption)?;
                if self
                    .core
                    .receiving
                    .as_ref()
                    .is_some_and(|r| r.header_key == *hk)
                {
                    (Step::SameChain, header)
                } else if self.core.next_header_key_recv == *hk {
                    (Step::NextChain, header)
                } else {
                    // A stored chain whose key for this number was already used: a replay.
                    return Err(DecryptError::DuplicateMessage);
                }
            }
            SkippedLookup::NotFound => self.open_header(&enc_header).map_err(header_error)?,
        };
        // The next message of the current chain (nearly every message): nothing to skip, so
        // only the chain key changes, and only after the body authenticates.
        if step == Step::SameChain && header.message_number == self.core.nr {
            let receiving = self
                .core
                .receiving
                .as_mut()
                .ok_or(DecryptError::NoReceivingChain)?;
            let chain_step = receiving.chain_key.step();
            let plaintext = open_body(&chain_step.message_key, ad, &enc_msg)?;
            receiving.chain_key.advance(&chain_step.next);
            self.core.nr = self.core.nr.wrapping_add(1);
            return Ok(Decrypted {
                plaintext,
                ratchet_step: false,
                from_skipped: false,
            });
        }
        // Otherwise work on copies: of the receiving chain alone within a chain, of the whole
        // state (without skipped keys) for a DH ratchet step.
        let mut new_skipped = NewSkipped::new();
        let mut next_core = None;
        let (mut receiving, mut nr) = match step {
            Step::SameChain => (
                self.core
                    .receiving
                    .clone()
                    .ok_or(DecryptError::NoReceivingChain)?,
                self.core.nr,
            ),
            Step::NextChain => {
                let mut next = self.core.clone();
                skip_until(
                    next.receiving.as_mut(),
                    &mut next.nr,
                    header.previous_chain_len,
                    &mut new_skipped,
                )?;
                dh_ratchet_step(&mut next, &header.ratchet_key, new_ratchet_key())?;
                let receiving = next
                    .receiving
                    .take()
                    .ok_or(DecryptError::NoReceivingChain)?;
                let nr = next.nr;
                next_core = Some(next);
                (receiving, nr)
            }
        };
        skip_until(
            Some(&mut receiving),
            &mut nr,
            header.message_number,
            &mut new_skipped,
        )?;
        let chain_step = receiving.chain_key.step();
        let plaintext = open_body(&chain_step.message_key, ad, &enc_msg)?;
        // Authenticated: commit.
        receiving.chain_key.advance(&chain_step.next);
        if let Some(next) = next_core {
            self.core = next;
        }
        self.core.receiving = Some(receiving);
        self.core.nr = nr.wrapping_add(1);
        for (hk, keys) in new_skipped {
            self.skipped.add(hk, keys);
        }
        Ok(Decrypted {
            plaintext,
            ratchet_step: step == Step::NextChain,
            from_skipped: false,
        })
    }

    /// Opens the header with the current receiving header key, else with the next one.
    fn open_header(
        &self,
        enc_header: &EncMessageHeader,
    ) -> Result<(Step, MsgHeader), HeaderOpenError> {
        let ad = self.core.assoc_data.as_bytes();
        if let Some(receiving) = &self.core.receiving {
            match enc_header.open(&receiving.header_key, ad) {
                Ok(header) => return Ok((Step::SameChain, header)),
                Err(HeaderOpenError::Authentication) => {}
                Err(e) => return Err(e),
            }
        }
        enc_header
            .open(&self.core.next_header_key_recv, ad)
            .map(|h| (Step::NextChain, h))
    }
}

/// Authenticates and decrypts the body; its associated data is the ratchet's followed by the
/// encoded encrypted header.
fn open_body(
    key: &MessageKey,
    ad: &[u8],
    enc_msg: &MessageParts<'_>,
) -> Result<Vec<u8>, DecryptError> {
    key.open(
        BodyAd::new(ad, enc_msg.header).as_bytes(),
        enc_msg.body,
        &enc_msg.auth_tag,
    )
    .map_err(|e| match e {
        CryptoError::LargeMsg => DecryptError::MessagePadding,
        _ => DecryptError::MessageDecryption,
    })
}

/// The encrypted header's encoding is 123 bytes with X448 keys; room for more.
const ENC_HEADER_CAPACITY: usize = 160;

/// The body's associated data, `ad ‖ encoded encrypted header`: needed twice per message, so
/// it is assembled on the stack when it fits (it always does for X448 ratchets).
struct BodyAd {
    stack: [u8; 384],
    len: usize,
    /// Used only when the data does not fit `stack` (an empty `Vec` does not allocate).
    heap: Vec<u8>,
}

impl BodyAd {
    fn new(ad: &[u8], header: &[u8]) -> Self {
        let len = ad.len() + header.len();
        let mut stack = [0u8; 384];
        let heap = match stack.get_mut(..len) {
            Some(buf) => {
                buf[..ad.len()].copy_from_slice(ad);
                buf[ad.len()..].copy_from_slice(header);
                Vec::new()
            }
            None => [ad, header].concat(),
        };
        Self { stack, len, heap }
    }

    fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

/// Advances a receiving chain at number `nr` to number `until`, collecting the skipped keys
/// (the reference's `skipMessageKeys`). Without a receiving chain there is nothing to skip.
fn skip_until(
    receiving: Option<&mut ReceivingChain>,
    nr: &mut u32,
    until: u32,
    new_skipped: &mut NewSkipped,
) -> Result<(), DecryptError> {
    let Some(receiving) = receiving else {
        return Ok(());
    };
    let (current, target) = (u64::from(*nr), u64::from(until));
    if current > target + 1 {
        return Err(DecryptError::EarlierMessage);
    }
    if current == target + 1 {
        return Err(DecryptError::DuplicateMessage);
    }
    if current + u64::from(MAX_SKIP) < target {
        return Err(DecryptError::TooManySkipped);
    }
    if current == target {
        return Ok(());
    }
    let mut keys = Vec::with_capacity((target - current) as usize);
    for n in *nr..until {
        let step = receiving.chain_key.step();
        keys.push((n, step.message_key));
        receiving.chain_key.advance(&step.next);
    }
    *nr = until;
    new_skipped.push((receiving.header_key.clone(), keys));
    Ok(())
}

/// The DH ratchet step with header keys (the double ratchet's `DHRatchetHE`): a new receiving
/// chain from `DH(their key, our old key)`, then a new sending chain from `DH(their key, our
/// new key)`; the next header keys become the current ones.
fn dh_ratchet_step(
    core: &mut RatchetCore,
    their_key: &x448::PublicKey,
    new_key: x448::PrivateKey,
) -> Result<(), DecryptError> {
    let new_pair = DhKeyPair::new(new_key);
    let recv = core
        .root_key
        .step(their_key, &core.dh_self.private)
        .map_err(DecryptError::Crypto)?;
    let send = recv
        .root_key
        .step(their_key, &new_pair.private)
        .map_err(DecryptError::Crypto)?;
    let old_nhks = std::mem::replace(&mut core.next_header_key_send, send.next_header_key);
    let old_nhkr = std::mem::replace(&mut core.next_header_key_recv, recv.next_header_key);
    core.dh_self = new_pair;
    core.root_key = send.root_key;
    core.sending = Some(SendingChain {
        their_ratchet_key: *their_key,
        chain_key: send.chain_key,
        header_key: old_nhks,
    });
    core.receiving = Some(ReceivingChain {
        chain_key: recv.chain_key,
        header_key: old_nhkr,
    });
    core.pn = core.ns;
    core.ns = 0;
    core.nr = 0;
    Ok(())
}
