//! The ratchet state as bytes for the agent's store: a stable, versioned binary format.
//!
//! Format version 1 (all integers big-endian; `opt` is `0`, or `1` then the value):
//!
//! ```text
//! 0x01                               format version
//! u16 u16                            ratchet version range (min, max)
//! u8 len, bytes                      associated data
//! [56] [56]                          our ratchet private key, its public key
//! u8 len, bytes                      root key (104 bytes before the first step, then 32)
//! opt([56] [32] [32])                sending chain: their ratchet key, chain key, header key
//! opt([32] [32])                     receiving chain: chain key, header key
//! u32 u32 u32                        Ns, Nr, PN
//! [32] [32]                          next sending / receiving header keys
//! u16 chains, then for each chain:   skipped keys, oldest chain first
//!   [32] u16 keys, then for each:    header key, then
//!     u32 [32] [16]                  message number, message key, message IV
//! ```
//!
//! The bytes hold every secret of the connection: they are returned in a zeroizing buffer and
//! must be stored as carefully as keys.

use zeroize::Zeroizing;

use super::chain_key::{ChainKey, ReceivingChain, SendingChain};
use super::error::PersistError;
use super::header::HeaderKey;
use super::message_key::MessageKey;
use super::root_key::RootKey;
use super::skipped::{SkippedChain, SkippedKeys};
use super::state::{DhKeyPair, Ratchet, RatchetCore};
use super::x3dh::AssocData;
use crate::crypto::x448;
use crate::encoding::{Decode, DecodeError, Encode, Reader, VersionRange};

/// The format version this code writes.
pub const STATE_FORMAT_VERSION: u8 = 1;

fn put_short(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), PersistError> {
    let len = u8::try_from(bytes.len()).map_err(|_| PersistError::FieldTooLarge("byte string"))?;
    out.push(len);
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_count(n: usize, out: &mut Vec<u8>) -> Result<(), PersistError> {
    u16::try_from(n)
        .map_err(|_| PersistError::FieldTooLarge("count"))?
        .encode(out);
    Ok(())
}

impl Ratchet {
    /// The state in format version [`STATE_FORMAT_VERSION`], skipped keys included.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, PersistError> {
        let c = &self.core;
        let skipped = self.skipped.len();
        let mut out = Zeroizing::new(Vec::with_capacity(
            1024 + 40 * self.skipped.chains.len() + 56 * skipped,
        ));
        out.push(STATE_FORMAT_VERSION);
        c.versions.encode(&mut out);
        put_short(c.assoc_data.as_bytes(), &mut out)?;
        out.extend_from_slice(c.dh_self.private.to_bytes().expose());
        out.extend_from_slice(c.dh_self.public.as_bytes());
        put_short(c.root_key.expose(), &mut out)?;
        match &c.sending {
            None => out.push(b'0'),
            Some(s) => {
                out.push(b'1');
                out.extend_from_slice(s.their_ratchet_key.as_bytes());
                out.extend_from_slice(s.chain_key.expose());
                out.extend_from_slice(s.header_key.expose());
            }
        }
        match &c.receiving {
            None => out.push(b'0'),
            Some(r) => {
                out.push(b'1');
                out.extend_from_slice(r.chain_key.expose());
                out.extend_from_slice(r.header_key.expose());
            }
        }
        (c.ns, c.nr, c.pn).encode(&mut out);
        out.extend_from_slice(c.next_header_key_send.expose());
        out.extend_from_slice(c.next_header_key_recv.expose());
        put_count(self.skipped.chains.len(), &mut out)?;
        for chain in &self.skipped.chains {
            out.extend_from_slice(chain.header_key.expose());
            put_count(chain.keys.len(), &mut out)?;
            for (n, key) in &chain.keys {
                n.encode(&mut out);
                out.extend_from_slice(key.expose_key());
                out.extend_from_slice(&key.iv().0);
            }
        }
        Ok(out)
    }

    /// Reads a state written by [`Ratchet::to_bytes`] (any format version this code knows).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PersistError> {
        let mut r = Reader::from_slice(bytes);
        let version = r.byte()?;
        if version != STATE_FORMAT_VERSION {
            return Err(PersistError::UnknownVersion(version));
        }
        let versions = VersionRange::decode(&mut r)?;
        let assoc_data = AssocData::from_bytes(&r.short_bytes()?);
        let private = x448::PrivateKey::from_bytes(&*secret_array(&mut r)?);
        let public = x448::PublicKey::from_bytes(&r.take_array()?);
        let root_key = RootKey::from_bytes(&Zeroizing::new(r.short_bytes()?.to_vec()));
        let sending = match r.byte()? {
            b'0' => None,
            b'1' => Some(SendingChain {
                their_ratchet_key: x448::PublicKey::from_bytes(&r.take_array()?),
                chain_key: ChainKey::from_bytes(&*secret_array(&mut r)?),
                header_key: HeaderKey::from_bytes(&*secret_array(&mut r)?),
            }),
            _ => return Err(DecodeError::Invalid("sending chain tag").into()),
        };
        let receiving = match r.byte()? {
            b'0' => None,
            b'1' => Some(ReceivingChain {
                chain_key: ChainKey::from_bytes(&*secret_array(&mut r)?),
                header_key: HeaderKey::from_bytes(&*secret_array(&mut r)?),
            }),
            _ => return Err(DecodeError::Invalid("receiving chain tag").into()),
        };
        let (ns, nr, pn) = <(u32, u32, u32)>::decode(&mut r)?;
        let next_header_key_send = HeaderKey::from_bytes(&*secret_array(&mut r)?);
        let next_header_key_recv = HeaderKey::from_bytes(&*secret_array(&mut r)?);
        let mut skipped = SkippedKeys::default();
        for _ in 0..u16::decode(&mut r)? {
            let header_key = HeaderKey::from_bytes(&*secret_array(&mut r)?);
            let count = u16::decode(&mut r)?;
            let mut keys = Vec::with_capacity(usize::from(count).min(r.remaining() / 52));
            for _ in 0..count {
                let n = u32::decode(&mut r)?;
                let key = secret_array(&mut r)?;
                keys.push((n, MessageKey::from_parts(&key, r.take_array()?)));
            }
            if !keys.is_empty() {
                skipped.chains.push(SkippedChain { header_key, keys });
            }
        }
        r.finish()?;
        Ok(Ratchet {
            core: RatchetCore {
                versions,
                assoc_data,
                dh_self: DhKeyPair { private, public },
                root_key,
                sending,
                receiving,
                ns,
                nr,
                pn,
                next_header_key_send,
                next_header_key_recv,
            },
            skipped,
        })
    }
}

/// Reads `N` secret bytes into a buffer that is wiped when dropped.
fn secret_array<const N: usize>(r: &mut Reader) -> Result<Zeroizing<[u8; N]>, DecodeError> {
    Ok(Zeroizing::new(r.take_array()?))
}
