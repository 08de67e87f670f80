//! Server addresses: `smp://<key hash>@<host>[,<host>...][:<port>]`.
//!
//! The key hash is the server's identity (SHA-256 of its CA certificate). A server may be
//! reachable under several hosts — a domain, an IPv4 address, a Tor `.onion` name — listed
//! with commas. In binary form an address is the host list, the port as a short string
//! (empty for the default) and the key hash.

use crate::crypto::hash::KeyHash;
use crate::encoding::string::{str_encode_list, str_parse_sep_by1, Scanner, StrDecode, StrEncode};
use crate::encoding::{Decode, DecodeError, Encode, NonEmpty, Reader, ShortBytes};

/// A host a server can be reached at. Names are at most [`MAX_HOST_LEN`] bytes of UTF-8 when
/// parsed; build longer ones by hand and their binary form is cut short.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportHost {
    /// A dotted IPv4 address.
    Ipv4([u8; 4]),
    /// A Tor onion service name, `.onion` included.
    Onion(String),
    /// A domain name (or anything else that is not one of the above).
    Domain(String),
}

impl TransportHost {
    /// Whether this is a Tor onion service.
    pub fn is_onion(&self) -> bool {
        matches!(self, Self::Onion(_))
    }

    /// The host as a shell dials it: a dotted address or the name.
    pub fn dial_name(&self) -> String {
        match self {
            Self::Ipv4([a, b, c, d]) => format!("{a}.{b}.{c}.{d}"),
            Self::Onion(name) | Self::Domain(name) => name.clone(),
        }
    }
}

/// Bytes that end a host name in an address.
fn ends_host(b: u8) -> bool {
    matches!(b, b':' | b'#' | b',' | b';' | b'/' | b' ')
}

fn ipv4(s: &mut Scanner<'_>) -> Result<[u8; 4], DecodeError> {
    let mut octets = [0u8; 4];
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            s.expect(b'.', "IPv4 address")?;
        }
        *octet = u8::try_from(s.decimal()?).map_err(|_| DecodeError::Invalid("IPv4 octet"))?;
    }
    Ok(octets)
}

/// The longest host name we accept: its binary form has a 1-byte length (the reference would
/// silently wrap a longer one), and DNS names are at most 253 bytes anyway.
pub const MAX_HOST_LEN: usize = 255;

/// A host name as text: valid UTF-8 (the reference allows any byte; real names are ASCII) and
/// at most [`MAX_HOST_LEN`] bytes.
fn host_name(bytes: &[u8]) -> Result<String, DecodeError> {
    if bytes.len() > MAX_HOST_LEN {
        return Err(DecodeError::Invalid("host name too long"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid("host name"))
}

fn onion(s: &mut Scanner<'_>) -> Result<String, DecodeError> {
    let start = s.rest();
    let name = s.take_till(|b| b == b'.');
    s.expect_str(b".onion", "onion host")?;
    host_name(&start[..name.len() + b".onion".len()])
}

impl StrEncode for TransportHost {
    fn str_encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ipv4([a, b, c, d]) => {
                out.extend_from_slice(format!("{a}.{b}.{c}.{d}").as_bytes())
            }
            Self::Onion(host) | Self::Domain(host) => out.extend_from_slice(host.as_bytes()),
        }
    }
}

impl StrDecode for TransportHost {
    /// Tries an IPv4 address, then an onion name, then a domain name, as the reference.
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        if let Some(ip) = s.optional(ipv4) {
            return Ok(Self::Ipv4(ip));
        }
        if let Some(host) = s.optional(onion) {
            return Ok(Self::Onion(host));
        }
        let name = s.take_while1(|b| !ends_host(b), "host name")?;
        Ok(Self::Domain(host_name(name)?))
    }
}

impl Encode for TransportHost {
    /// The text form as a short byte string.
    fn encode(&self, out: &mut Vec<u8>) {
        let text = self.to_str_bytes();
        // Parsed names are at most MAX_HOST_LEN bytes. A longer name built by hand is cut to
        // what a 1-byte length can describe (the reference would write an undecodable one).
        let len = text.len().min(MAX_HOST_LEN);
        out.push(len as u8);
        out.extend_from_slice(&text[..len]);
    }
}

impl Decode for TransportHost {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        TransportHost::str_decode(&r.short_bytes()?)
    }
}

/// Which protocol a server address is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// `smp://`, a messaging server.
    Smp,
    /// `ntf://`, a notifications server.
    Ntf,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Smp => "smp",
            Self::Ntf => "ntf",
        }
    }
}

/// A server address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    /// `smp` or `ntf`.
    pub scheme: Scheme,
    /// Hosts the server is reachable at, in order of preference.
    pub hosts: NonEmpty<TransportHost>,
    /// The port, in decimal; empty for the protocol's default.
    pub port: String,
    /// The server's identity.
    pub key_hash: KeyHash,
}

impl ServerAddress {
    /// The address in the legacy single-host text form (the first host only), which v3.2.0
    /// agents write inside connection requests.
    pub fn to_legacy_str(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_with_hosts(std::slice::from_ref(self.hosts.first()), &mut out);
        out
    }

    fn encode_with_hosts(&self, hosts: &[TransportHost], out: &mut Vec<u8>) {
        out.extend_from_slice(self.scheme.as_str().as_bytes());
        out.extend_from_slice(b"://");
        self.key_hash.str_encode(out);
        out.push(b'@');
        str_encode_list(hosts, out);
        if !self.port.is_empty() {
            out.push(b':');
            out.extend_from_slice(self.port.as_bytes());
        }
    }

    /// The address in binary form with only its first host (the reference's legacy form).
    pub fn encode_legacy(&self, out: &mut Vec<u8>) {
        self.hosts.first().encode(out);
        self.encode_port_and_hash(out);
    }

    fn encode_port_and_hash(&self, out: &mut Vec<u8>) {
        // A port is at most 5 digits.
        if let Ok(port) = ShortBytes::from_slice(self.port.as_bytes()) {
            port.encode(out);
        }
        self.key_hash.encode(out);
    }
}

impl StrEncode for ServerAddress {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.encode_with_hosts(self.hosts.as_slice(), out)
    }
}

impl StrDecode for ServerAddress {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let scheme = if s.eat_str(b"smp") {
            Scheme::Smp
        } else if s.eat_str(b"ntf") {
            Scheme::Ntf
        } else {
            return Err(DecodeError::Invalid("address scheme"));
        };
        s.expect_str(b"://", "address")?;
        let key_hash = KeyHash::str_parse(s)?;
        s.expect(b'@', "address")?;
        let hosts = NonEmpty::new(str_parse_sep_by1(s, TransportHost::str_parse)?)
            .ok_or(DecodeError::Invalid("host list"))?;
        // The reference reads the port as a number and writes it back in decimal.
        let port = match s.optional(|s| {
            s.expect(b':', "port")?;
            s.decimal()
        }) {
            Some(port) => port.to_string(),
            None => String::new(),
        };
        Ok(Self {
            scheme,
            hosts,
            port,
            key_hash,
        })
    }
}

/// The binary form of an SMP server address: hosts, port, key hash.
impl Encode for ServerAddress {
    fn encode(&self, out: &mut Vec<u8>) {
        self.hosts.encode(out);
        self.encode_port_and_hash(out);
    }
}

impl Decode for ServerAddress {
    /// Decodes an SMP server address (the binary form does not carry the scheme).
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let hosts = NonEmpty::<TransportHost>::decode(r)?;
        let port = String::from_utf8(r.short_bytes()?.to_vec())
            .map_err(|_| DecodeError::Invalid("port"))?;
        let key_hash = KeyHash::decode(r)?;
        Ok(Self {
            scheme: Scheme::Smp,
            hosts,
            port,
            key_hash,
        })
    }
}

/// A host and optional port, as in the `https://host:port` of a connection link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceLocation {
    /// The host.
    pub host: String,
    /// The port, in decimal; empty when absent.
    pub port: String,
}

impl StrEncode for ServiceLocation {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.host.as_bytes());
        if !self.port.is_empty() {
            out.push(b':');
            out.extend_from_slice(self.port.as_bytes());
        }
    }
}

impl StrDecode for ServiceLocation {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let host = host_name(s.take_while1(|b| !ends_host(b), "host")?)?;
        let port = s
            .optional(|s| {
                s.expect(b':', "port")?;
                s.decimal()
            })
            .map(|p| p.to_string())
            .unwrap_or_default();
        Ok(Self { host, port })
    }
}
