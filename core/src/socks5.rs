//! The client side of a SOCKS5 handshake (RFC 1928, with RFC 1929 username/password) as a
//! sans-IO machine: bytes in, bytes out.
//!
//! The reference connects through a SOCKS proxy (Tor) with the "no authentication" method and a
//! CONNECT whose destination is a domain name — so `.onion` names and DNS are resolved at the
//! proxy, never locally — or an IPv4 address when the host is one. See `spec/client.md`.
//!
//! Use, as every machine here (`spec/machines.md`): create with [`Socks5Client::new`], then
//! drain [`Socks5Client::poll_output`] until it says [`Socks5Output::Wait`] — bytes to send,
//! then once the outcome, [`Socks5Output::Connected`] or [`Socks5Output::Failed`] — and feed
//! what the proxy sends to [`Socks5Client::handle_input`]. Feeding input before the outputs are
//! drained is [`Socks5ApiError::OutputPending`]. Bytes after the CONNECT reply are not
//! consumed: they belong to the tunnelled protocol (TLS) and go to it.
//!
//! Everything is bounded: the machine never holds more than one reply (at most 262 bytes).

use zeroize::Zeroizing;

/// Where the proxy should connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socks5Target {
    /// A host name (domain or `.onion`), resolved by the proxy.
    Domain(String),
    /// An IPv4 address.
    Ipv4([u8; 4]),
}

impl From<&crate::address::TransportHost> for Socks5Target {
    fn from(host: &crate::address::TransportHost) -> Self {
        use crate::address::TransportHost;
        match host {
            TransportHost::Ipv4(ip) => Self::Ipv4(*ip),
            TransportHost::Onion(name) | TransportHost::Domain(name) => Self::Domain(name.clone()),
        }
    }
}

/// Username/password credentials (RFC 1929); each 1 to 255 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Socks5Credentials {
    username: Zeroizing<Vec<u8>>,
    password: Zeroizing<Vec<u8>>,
}

impl Socks5Credentials {
    /// Credentials; `None` unless both are 1 to 255 bytes.
    pub fn new(username: &[u8], password: &[u8]) -> Option<Self> {
        let ok = |b: &[u8]| (1..=255).contains(&b.len());
        (ok(username) && ok(password)).then(|| Self {
            username: Zeroizing::new(username.to_vec()),
            password: Zeroizing::new(password.to_vec()),
        })
    }
}

impl std::fmt::Debug for Socks5Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Socks5Credentials(..)")
    }
}

/// The failure a proxy reports in its CONNECT reply (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyCode {
    /// 0x01 general SOCKS server failure.
    GeneralFailure,
    /// 0x02 connection not allowed by ruleset.
    NotAllowed,
    /// 0x03 network unreachable.
    NetworkUnreachable,
    /// 0x04 host unreachable.
    HostUnreachable,
    /// 0x05 connection refused.
    ConnectionRefused,
    /// 0x06 TTL expired.
    TtlExpired,
    /// 0x07 command not supported.
    CommandNotSupported,
    /// 0x08 address type not supported.
    AddressTypeNotSupported,
    /// Any other non-zero code.
    Other(u8),
}

impl ReplyCode {
    fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::GeneralFailure,
            2 => Self::NotAllowed,
            3 => Self::NetworkUnreachable,
            4 => Self::HostUnreachable,
            5 => Self::ConnectionRefused,
            6 => Self::TtlExpired,
            7 => Self::CommandNotSupported,
            8 => Self::AddressTypeNotSupported,
            other => Self::Other(other),
        }
    }
}

/// Why a SOCKS5 handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Socks5Error {
    /// The target cannot be put in a request (empty or longer than 255 bytes).
    #[error("the destination name must be 1 to 255 bytes")]
    InvalidTarget,
    /// The proxy answered with a version other than 5.
    #[error("the proxy answered with SOCKS version {0}")]
    BadVersion(u8),
    /// The proxy accepted none of the offered methods (0xFF).
    #[error("the proxy accepted no offered authentication method")]
    NoAcceptableMethod,
    /// The proxy chose a method that was not offered.
    #[error("the proxy chose method {0:#04x}, which was not offered")]
    UnexpectedMethod(u8),
    /// Username/password authentication was refused (with the proxy's status byte).
    #[error("the proxy refused the credentials (status {0})")]
    AuthFailed(u8),
    /// The CONNECT failed.
    #[error("the proxy could not connect: {0:?}")]
    Reply(ReplyCode),
    /// The reply's address type is not one RFC 1928 defines.
    #[error("the proxy's reply has address type {0}")]
    BadAddressType(u8),
    /// The proxy closed the stream during the handshake.
    #[error("the proxy closed the connection during the handshake")]
    Closed,
}

/// The address the proxy reports it bound for the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundAddress {
    /// IPv4 and port.
    Ipv4([u8; 4], u16),
    /// IPv6 and port.
    Ipv6([u8; 16], u16),
    /// A name and port.
    Domain(Vec<u8>, u16),
}

/// What the handshake asks of its user next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socks5Output {
    /// Send these bytes to the proxy.
    Transmit(Vec<u8>),
    /// The tunnel is open (given once): the stream now carries the tunnelled protocol.
    Connected(BoundAddress),
    /// The handshake failed (given once): close the stream.
    Failed(Socks5Error),
    /// Nothing until the proxy sends more (the connect timeout is the caller's).
    Wait,
}

/// Using the machine out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Socks5ApiError {
    /// Input before the previous outputs were drained with [`Socks5Client::poll_output`].
    #[error("outputs are pending: drain poll_output first")]
    OutputPending,
}

/// Where the handshake stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socks5Status {
    /// Still exchanging messages.
    InProgress,
    /// The tunnel is open: the stream now carries the tunnelled protocol.
    Connected(BoundAddress),
    /// The handshake failed; the stream should be closed.
    Failed(Socks5Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    MethodChoice,
    AuthReply,
    ConnectReply,
    Done,
}

const VERSION: u8 = 5;
const METHOD_NONE: u8 = 0x00;
const METHOD_PASSWORD: u8 = 0x02;
const NO_METHOD: u8 = 0xFF;

/// One SOCKS5 client handshake.
#[derive(Debug)]
pub struct Socks5Client {
    target: Socks5Target,
    port: u16,
    credentials: Option<Socks5Credentials>,
    step: Step,
    status: Socks5Status,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    /// Whether the outcome (connected or failed) has been handed out by `poll_output`.
    outcome_reported: bool,
}

impl Socks5Client {
    /// A handshake to reach `target:port`, offering "no authentication" (and username/password
    /// when credentials are given). The greeting is the first output.
    pub fn new(
        target: Socks5Target,
        port: u16,
        credentials: Option<Socks5Credentials>,
    ) -> Result<Self, Socks5Error> {
        if let Socks5Target::Domain(name) = &target {
            if name.is_empty() || name.len() > 255 {
                return Err(Socks5Error::InvalidTarget);
            }
        }
        let outbox = if credentials.is_some() {
            vec![VERSION, 2, METHOD_NONE, METHOD_PASSWORD]
        } else {
            vec![VERSION, 1, METHOD_NONE]
        };
        Ok(Self {
            target,
            port,
            credentials,
            step: Step::MethodChoice,
            status: Socks5Status::InProgress,
            inbox: Vec::new(),
            outbox,
            outcome_reported: false,
        })
    }

    /// The next thing to do: bytes to send first, then the outcome once it is known.
    pub fn poll_output(&mut self) -> Socks5Output {
        if !self.outbox.is_empty() {
            return Socks5Output::Transmit(std::mem::take(&mut self.outbox));
        }
        if self.outcome_reported {
            return Socks5Output::Wait;
        }
        match &self.status {
            Socks5Status::InProgress => Socks5Output::Wait,
            Socks5Status::Connected(bound) => {
                self.outcome_reported = true;
                Socks5Output::Connected(bound.clone())
            }
            Socks5Status::Failed(e) => {
                self.outcome_reported = true;
                Socks5Output::Failed(e.clone())
            }
        }
    }

    /// Whether outputs wait to be drained.
    fn output_pending(&self) -> bool {
        !self.outbox.is_empty()
            || (!self.outcome_reported && self.status != Socks5Status::InProgress)
    }

    /// Where the handshake stands.
    pub fn status(&self) -> &Socks5Status {
        &self.status
    }

    /// Feeds bytes from the proxy; returns how many were consumed. Once the handshake is over
    /// (either way) nothing more is consumed: the rest belongs to the tunnelled protocol.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<usize, Socks5ApiError> {
        if self.output_pending() {
            return Err(Socks5ApiError::OutputPending);
        }
        let mut consumed = 0;
        while self.step != Step::Done {
            let need = match self.needed() {
                Ok(n) => n,
                Err(e) => {
                    self.fail(e);
                    break;
                }
            };
            if self.inbox.len() >= need {
                self.process();
                continue;
            }
            if consumed == bytes.len() {
                break;
            }
            let take = (need - self.inbox.len()).min(bytes.len() - consumed);
            self.inbox
                .extend_from_slice(&bytes[consumed..consumed + take]);
            consumed += take;
        }
        Ok(consumed)
    }

    /// The proxy closed the stream.
    pub fn handle_peer_closed(&mut self) {
        if self.step != Step::Done {
            self.fail(Socks5Error::Closed);
        }
    }

    /// How many bytes the message being read has in total, as far as is known yet.
    fn needed(&self) -> Result<usize, Socks5Error> {
        match self.step {
            Step::MethodChoice | Step::AuthReply => Ok(2),
            Step::ConnectReply => {
                if self.inbox.len() < 5 {
                    return Ok(5);
                }
                match self.inbox[3] {
                    1 => Ok(4 + 4 + 2),
                    3 => Ok(5 + usize::from(self.inbox[4]) + 2),
                    4 => Ok(4 + 16 + 2),
                    other => Err(Socks5Error::BadAddressType(other)),
                }
            }
            Step::Done => Ok(0),
        }
    }

    fn fail(&mut self, e: Socks5Error) {
        self.step = Step::Done;
        self.status = Socks5Status::Failed(e);
        self.inbox.clear();
        self.outbox.clear();
    }

    /// Handles one complete message in the inbox.
    fn process(&mut self) {
        let msg = std::mem::take(&mut self.inbox);
        match self.step {
            Step::MethodChoice => {
                if msg[0] != VERSION {
                    return self.fail(Socks5Error::BadVersion(msg[0]));
                }
                match (msg[1], &self.credentials) {
                    (METHOD_NONE, _) => self.send_connect(),
                    (METHOD_PASSWORD, Some(creds)) => {
                        let mut out = Zeroizing::new(Vec::with_capacity(
                            3 + creds.username.len() + creds.password.len(),
                        ));
                        out.push(1);
                        // Both lengths were checked to be 1..=255 when the credentials were made.
                        out.push(creds.username.len() as u8);
                        out.extend_from_slice(&creds.username);
                        out.push(creds.password.len() as u8);
                        out.extend_from_slice(&creds.password);
                        self.outbox.extend_from_slice(&out);
                        self.step = Step::AuthReply;
                    }
                    (NO_METHOD, _) => self.fail(Socks5Error::NoAcceptableMethod),
                    (other, _) => self.fail(Socks5Error::UnexpectedMethod(other)),
                }
            }
            Step::AuthReply => {
                if msg[1] == 0 {
                    self.send_connect();
                } else {
                    self.fail(Socks5Error::AuthFailed(msg[1]));
                }
            }
            Step::ConnectReply => {
                if msg[0] != VERSION {
                    return self.fail(Socks5Error::BadVersion(msg[0]));
                }
                if msg[1] != 0 {
                    return self.fail(Socks5Error::Reply(ReplyCode::from_byte(msg[1])));
                }
                let port_at = msg.len() - 2;
                let port = u16::from_be_bytes([msg[port_at], msg[port_at + 1]]);
                let addr = &msg[4..port_at];
                let bound = match msg[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        ip.copy_from_slice(addr);
                        BoundAddress::Ipv4(ip, port)
                    }
                    4 => {
                        let mut ip = [0u8; 16];
                        ip.copy_from_slice(addr);
                        BoundAddress::Ipv6(ip, port)
                    }
                    _ => BoundAddress::Domain(addr[1..].to_vec(), port),
                };
                self.step = Step::Done;
                self.status = Socks5Status::Connected(bound);
            }
            Step::Done => {}
        }
    }

    fn send_connect(&mut self) {
        self.outbox.extend_from_slice(&[VERSION, 1, 0]);
        match &self.target {
            Socks5Target::Ipv4(ip) => {
                self.outbox.push(1);
                self.outbox.extend_from_slice(ip);
            }
            Socks5Target::Domain(name) => {
                self.outbox.push(3);
                // Checked to be 1..=255 bytes in `new`.
                self.outbox.push(name.len() as u8);
                self.outbox.extend_from_slice(name.as_bytes());
            }
        }
        self.outbox.extend_from_slice(&self.port.to_be_bytes());
        self.step = Step::ConnectReply;
    }
}
