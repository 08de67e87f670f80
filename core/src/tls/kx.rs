//! Key-exchange groups for rustls: X448 and X25519 (RFC 7748) over `crypto::x448` and
//! `crypto::x25519`, with private keys drawn from the session's lent RNG.
//!
//! rustls's own X25519 draws from OS randomness, which would make a seeded handshake
//! irreproducible, and rustls has no X448 at all, so both groups are ours.

use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved};
use zeroize::Zeroizing;

use super::rng;
use crate::crypto::{x25519, x448};

/// One of our two key-exchange groups.
#[derive(Debug)]
pub struct EcdhGroup(NamedGroup);

/// X448, the reference's preferred group.
pub static X448: EcdhGroup = EcdhGroup(NamedGroup::X448);
/// X25519.
pub static X25519: EcdhGroup = EcdhGroup(NamedGroup::X25519);

enum PrivateKey {
    X448(x448::PrivateKey),
    X25519(x25519::PrivateKey),
}

struct Exchange {
    private: PrivateKey,
    public: Vec<u8>,
    group: NamedGroup,
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut bytes = Zeroizing::new([0u8; N]);
    if rng::fill(bytes.as_mut()) {
        Ok(bytes)
    } else {
        Err(Error::FailedToGetRandomBytes)
    }
}

fn bad_share() -> Error {
    PeerMisbehaved::InvalidKeyShare.into()
}

/// Rejects the all-zero output of a low-order peer key (RFC 8446 §7.4.2).
fn contributory(shared: &[u8]) -> Result<SharedSecret, Error> {
    if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
        return Err(bad_share());
    }
    Ok(SharedSecret::from(shared))
}

impl SupportedKxGroup for EcdhGroup {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let (private, public) = match self.0 {
            NamedGroup::X448 => {
                let key = x448::PrivateKey::from_bytes(&*random::<56>()?);
                let public = key.public_key().as_bytes().to_vec();
                (PrivateKey::X448(key), public)
            }
            _ => {
                let key = x25519::PrivateKey::from_bytes(&*random::<32>()?);
                let public = key.public_key().as_bytes().to_vec();
                (PrivateKey::X25519(key), public)
            }
        };
        Ok(Box::new(Exchange {
            private,
            public,
            group: self.0,
        }))
    }

    fn name(&self) -> NamedGroup {
        self.0
    }
}

impl ActiveKeyExchange for Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        match &self.private {
            PrivateKey::X448(key) => {
                let peer =
                    x448::PublicKey::from_bytes(peer_pub_key.try_into().map_err(|_| bad_share())?);
                let shared = key.diffie_hellman(&peer).map_err(|_| bad_share())?;
                contributory(shared.as_secret().expose())
            }
            PrivateKey::X25519(key) => {
                let peer = x25519::PublicKey::from_bytes(
                    peer_pub_key.try_into().map_err(|_| bad_share())?,
                );
                let shared = key.diffie_hellman(&peer).map_err(|_| bad_share())?;
                contributory(shared.as_secret().expose())
            }
        }
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        self.group
    }
}
