//! How one agent tells another about a queue it may send to: the queue's address (server,
//! sender id, the recipient's X25519 key for the per-queue e2e box), as a URI inside connection
//! requests ([`SmpQueueUri`], with the SMP client versions it supports) and in binary inside
//! agent messages ([`SmpQueueInfo`], at one agreed version).
//!
//! Version 1 of the queue's client protocol knows one host per server. Both forms keep it
//! readable: with a minimum version of 1 the URI names only the first host in its authority
//! and lists the others in a `srv=` parameter, and the binary form carries only the first host.
//! Reading a version-1 form also adds the onion host the reference knows for some preset
//! servers ([`with_known_onion_host`]).

use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::DhPublicKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::query::{Escaping, QueryParams};
use simplex_core::encoding::string::{
    base64url_encode, str_encode_list, str_parse_sep_by1, Scanner, StrDecode, StrEncode,
};
use simplex_core::encoding::{
    Decode, DecodeError, Encode, NonEmpty, Reader, Version, VersionRange,
};
use simplex_core::protocol::EntityId;

/// The SMP client versions this agent offers in the queues it creates (the reference's
/// `supportedSMPClientVRange` at v3.2.0: 1–2).
pub const SMP_CLIENT_VERSIONS: VersionRange = VersionRange::between(1, 2);

/// Where a queue is and how to encrypt for its recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpQueueAddress {
    /// The server the queue lives on.
    pub server: ServerAddress,
    /// The id a sender sends with.
    pub sender_id: EntityId,
    /// The recipient's key for the per-queue crypto_box.
    pub dh_public: x25519::PublicKey,
}

/// A queue address at one SMP client version, as sent inside agent messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpQueueInfo {
    /// The agreed SMP client version.
    pub client_version: Version,
    /// The queue.
    pub address: SmpQueueAddress,
}

/// A queue address with the SMP client versions its creator supports, as written in
/// connection requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpQueueUri {
    /// The supported SMP client versions.
    pub client_versions: VersionRange,
    /// The queue.
    pub address: SmpQueueAddress,
}

impl SmpQueueUri {
    /// This queue at the version both sides support, or `None` when the ranges do not meet.
    pub fn compatible(&self, ours: &VersionRange) -> Option<SmpQueueInfo> {
        Some(SmpQueueInfo {
            client_version: self.client_versions.compatible_version(ours)?,
            address: self.address.clone(),
        })
    }
}

/// Preset servers whose onion host the reference adds when it reads a single-host (version 1)
/// address of theirs.
const KNOWN_ONION_HOSTS: [(&str, &str); 6] = [
    (
        "smp4.simplex.im",
        "o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion",
    ),
    (
        "smp5.simplex.im",
        "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion",
    ),
    (
        "smp6.simplex.im",
        "bylepyau3ty4czmn77q4fglvperknl4bi2eb2fdy2bh4jxtf32kf73yd.onion",
    ),
    (
        "smp8.simplex.im",
        "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion",
    ),
    (
        "smp9.simplex.im",
        "jssqzccmrcws6bhmn77vgmhfjmhwlyr3u7puw4erkyoosywgl67slqqd.onion",
    ),
    (
        "smp10.simplex.im",
        "rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion",
    ),
];

/// A single-host address of a preset server with its onion host added (the reference's
/// `updateSMPServerHosts`); any other address unchanged.
pub fn with_known_onion_host(mut server: ServerAddress) -> ServerAddress {
    if let [TransportHost::Domain(name)] = server.hosts.as_slice() {
        if let Some((_, onion)) = KNOWN_ONION_HOSTS.iter().find(|(host, _)| host == name) {
            let hosts = vec![
                TransportHost::Domain(name.clone()),
                TransportHost::Onion((*onion).to_owned()),
            ];
            if let Some(hosts) = NonEmpty::new(hosts) {
                server.hosts = hosts;
            }
        }
    }
    server
}

fn dh_key_text(key: &x25519::PublicKey) -> Vec<u8> {
    DhPublicKey::X25519(*key).to_base64url().into_bytes()
}

fn dh_key_from_text(text: &[u8]) -> Result<x25519::PublicKey, DecodeError> {
    let text = std::str::from_utf8(text).map_err(|_| DecodeError::Invalid("DH key"))?;
    match DhPublicKey::from_base64url(text) {
        Ok(DhPublicKey::X25519(key)) => Ok(key),
        _ => Err(DecodeError::Invalid("X25519 DH key")),
    }
}

impl Encode for SmpQueueInfo {
    fn encode(&self, out: &mut Vec<u8>) {
        self.client_version.encode(out);
        if self.client_version > 1 {
            self.address.server.encode(out);
        } else {
            self.address.server.encode_legacy(out);
        }
        self.address.sender_id.encode(out);
        self.address.dh_public.encode(out);
    }
}

impl Decode for SmpQueueInfo {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let client_version = Version::decode(r)?;
        let server = if client_version > 1 {
            ServerAddress::decode(r)?
        } else {
            let host = TransportHost::decode(r)?;
            let port = String::from_utf8(r.short_bytes()?.to_vec())
                .map_err(|_| DecodeError::Invalid("port"))?;
            let key_hash = KeyHash::decode(r)?;
            with_known_onion_host(ServerAddress {
                scheme: simplex_core::address::Scheme::Smp,
                hosts: NonEmpty::one(host),
                port,
                key_hash,
            })
        };
        Ok(Self {
            client_version,
            address: SmpQueueAddress {
                server,
                sender_id: EntityId::decode(r)?,
                dh_public: x25519::PublicKey::decode(r)?,
            },
        })
    }
}

impl StrEncode for SmpQueueUri {
    fn str_encode(&self, out: &mut Vec<u8>) {
        let server = &self.address.server;
        let mut params = vec![
            (b"v".to_vec(), self.client_versions.to_str_bytes()),
            (b"dh".to_vec(), dh_key_text(&self.address.dh_public)),
        ];
        if self.client_versions.min() > 1 {
            server.str_encode(out);
        } else {
            out.extend_from_slice(&server.to_legacy_str());
            let extra = &server.hosts.as_slice()[1..];
            if !extra.is_empty() {
                let mut hosts = Vec::new();
                str_encode_list(extra, &mut hosts);
                params.push((b"srv".to_vec(), hosts));
            }
        }
        out.push(b'/');
        out.extend_from_slice(base64url_encode(self.address.sender_id.as_bytes()).as_bytes());
        out.extend_from_slice(b"#/?");
        QueryParams {
            escaping: Escaping::Escape,
            params,
        }
        .str_encode(out)
    }
}

impl StrDecode for SmpQueueUri {
    /// Reads both forms (all hosts in the authority, or the first there and the rest in
    /// `srv=`), and the oldest one with no query: `…/SENDER_ID#DH_KEY`.
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let mut server = ServerAddress::str_parse(s)?;
        s.expect(b'/', "queue URI")?;
        let sender_id = EntityId::new(s.base64url()?)
            .map_err(|_| DecodeError::Invalid("sender id too long"))?;
        s.eat(b'/');
        s.expect(b'#', "queue URI")?;
        // The oldest form has the key right after `#` and no query.
        let key_before_query = match s.peek() {
            Some(b'/' | b'?') => None,
            _ => Some(dh_key_from_text(
                s.take_till(|b| matches!(b, b'?' | b'/' | b' ' | b'\n')),
            )?),
        };
        let (client_versions, extra_hosts, dh_public) = match key_before_query {
            Some(key) if s.is_empty() || matches!(s.peek(), Some(b' ' | b'\n')) => {
                (VersionRange::single(1), Vec::new(), key)
            }
            key => query_part(s, key)?,
        };
        if !extra_hosts.is_empty() {
            let mut hosts = server.hosts.clone().into_vec();
            hosts.extend(extra_hosts);
            if let Some(hosts) = NonEmpty::new(hosts) {
                server.hosts = hosts;
            }
        }
        if client_versions.max() == 1 {
            server = with_known_onion_host(server);
        }
        Ok(Self {
            client_versions,
            address: SmpQueueAddress {
                server,
                sender_id,
                dh_public,
            },
        })
    }
}

type QueryPart = (VersionRange, Vec<TransportHost>, x25519::PublicKey);

/// `[/]?v=…&dh=…[&srv=…]`; a key given before the query wins over `dh=`.
fn query_part(
    s: &mut Scanner<'_>,
    key: Option<x25519::PublicKey>,
) -> Result<QueryPart, DecodeError> {
    s.eat(b'/');
    s.expect(b'?', "queue URI query")?;
    let query = QueryParams::str_parse(s)?;
    let versions: VersionRange = query.param(b"v")?;
    let key = match key {
        Some(key) => key,
        None => dh_key_from_text(
            query
                .get(b"dh")
                .ok_or(DecodeError::Invalid("missing dh parameter"))?,
        )?,
    };
    let hosts = match query.get(b"srv") {
        Some(text) if !text.is_empty() => {
            let mut hosts = Scanner::new(text);
            let list = str_parse_sep_by1(&mut hosts, TransportHost::str_parse)?;
            hosts.finish()?;
            list
        }
        _ => Vec::new(),
    };
    Ok((versions, hosts, key))
}
