//! X3DH on X448 with two key pairs per party (the reference's `x3dhSnd`/`x3dhRcv`).
//!
//! With the initiator's (Alice's) keys `a1`, `a2` and the joining party's (Bob's) keys `b1`,
//! `b2`, both sides compute `DH(a1, b2) || DH(a2, b1) || DH(a2, b2)` (168 bytes). The first
//! 32 bytes are the header key of Bob's first sending chain, the next 32 the header key of
//! Alice's first sending chain, and the remaining 104 bytes the first root key. The associated
//! data of every message is Bob's raw `b1` public key followed by Alice's raw `a1` (112 bytes).

use super::header::HeaderKey;
use super::params::E2eRatchetParams;
use super::root_key::RootKey;
use crate::crypto::error::CryptoError;
use crate::crypto::rng::CryptoRng;
use crate::crypto::x448;
use crate::encoding::Version;

/// The associated data both parties bind every message to: the joining party's first public
/// key followed by the initiator's, raw (56 + 56 bytes). Not secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssocData(Vec<u8>);

impl AssocData {
    /// Associated data from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What X3DH gives both parties (the reference's `RatchetInitParams`).
#[derive(Clone, Debug)]
pub struct RatchetInitParams {
    /// The associated data of every message.
    pub assoc_data: AssocData,
    /// The first root key (104 bytes).
    pub ratchet_key: RootKey,
    /// The header key of the joining party's first sending chain.
    pub snd_header_key: HeaderKey,
    /// The header key of the initiator's first sending chain.
    pub rcv_next_header_key: HeaderKey,
}

/// Generates the two key pairs a party publishes (the reference's `generateE2EParams`):
/// returns both private keys and the public params.
pub fn generate_e2e_params(
    rng: &mut (impl CryptoRng + ?Sized),
    version: Version,
) -> (x448::PrivateKey, x448::PrivateKey, E2eRatchetParams) {
    let k1 = x448::PrivateKey::generate(rng);
    let k2 = x448::PrivateKey::generate(rng);
    let params = E2eRatchetParams {
        version,
        key1: k1.public_key(),
        key2: k2.public_key(),
    };
    (k1, k2, params)
}

/// X3DH for the joining party (Bob): his two private keys and the initiator's params.
pub fn x3dh_sender(
    own1: &x448::PrivateKey,
    own2: &x448::PrivateKey,
    theirs: &E2eRatchetParams,
) -> Result<RatchetInitParams, CryptoError> {
    let dh1 = own2.diffie_hellman(&theirs.key1)?;
    let dh2 = own1.diffie_hellman(&theirs.key2)?;
    let dh3 = own2.diffie_hellman(&theirs.key2)?;
    Ok(combine(
        &own1.public_key(),
        &theirs.key1,
        [
            dh1.as_secret().expose(),
            dh2.as_secret().expose(),
            dh3.as_secret().expose(),
        ],
    ))
}

/// X3DH for the initiator (Alice): her two private keys and the joining party's params.
pub fn x3dh_receiver(
    own1: &x448::PrivateKey,
    own2: &x448::PrivateKey,
    theirs: &E2eRatchetParams,
) -> Result<RatchetInitParams, CryptoError> {
    let dh1 = own1.diffie_hellman(&theirs.key2)?;
    let dh2 = own2.diffie_hellman(&theirs.key1)?;
    let dh3 = own2.diffie_hellman(&theirs.key2)?;
    Ok(combine(
        &theirs.key1,
        &own1.public_key(),
        [
            dh1.as_secret().expose(),
            dh2.as_secret().expose(),
            dh3.as_secret().expose(),
        ],
    ))
}

fn combine(
    joiner_key1: &x448::PublicKey,
    initiator_key1: &x448::PublicKey,
    dhs: [&[u8; 56]; 3],
) -> RatchetInitParams {
    let mut assoc_data = Vec::with_capacity(112);
    assoc_data.extend_from_slice(joiner_key1.as_bytes());
    assoc_data.extend_from_slice(initiator_key1.as_bytes());
    let mut secret = zeroize::Zeroizing::new([0u8; 168]);
    for (i, dh) in dhs.iter().enumerate() {
        secret[i * 56..(i + 1) * 56].copy_from_slice(&dh[..]);
    }
    let mut hk = [0u8; 32];
    let mut nhk = [0u8; 32];
    hk.copy_from_slice(&secret[..32]);
    nhk.copy_from_slice(&secret[32..64]);
    let params = RatchetInitParams {
        assoc_data: AssocData(assoc_data),
        ratchet_key: RootKey::from_bytes(&secret[64..]),
        snd_header_key: HeaderKey::from_bytes(&hk),
        rcv_next_header_key: HeaderKey::from_bytes(&nhk),
    };
    zeroize::Zeroize::zeroize(&mut hk);
    zeroize::Zeroize::zeroize(&mut nhk);
    params
}
