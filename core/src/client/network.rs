//! Network configuration as the reference agent has it, and the choice of one host from a
//! server address that lists several (`smp://FP@host1,host2:port`).

use std::time::Duration;

use crate::address::{ServerAddress, TransportHost};
use crate::socks5::Socks5Credentials;

/// The SMP port when an address names none (the reference's `defaultSMPPort`).
pub const DEFAULT_SMP_PORT: u16 = 5223;

/// Which kind of host to prefer among a server's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMode {
    /// Onion hosts when a SOCKS proxy is configured, public hosts otherwise (the default).
    #[default]
    OnionViaSocks,
    /// Onion hosts.
    Onion,
    /// Public hosts (domains and IP addresses).
    Public,
}

/// A SOCKS5 proxy: the address the shell connects to, and optional credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksProxy {
    /// Proxy host (an IPv4 address in the reference; `127.0.0.1` by default).
    pub host: TransportHost,
    /// Proxy port (9050 by default, Tor's).
    pub port: u16,
    /// Username/password, if the proxy wants them (the reference never sends any).
    pub credentials: Option<Socks5Credentials>,
}

impl Default for SocksProxy {
    /// Tor's usual local proxy, `127.0.0.1:9050`, without credentials.
    fn default() -> Self {
        Self {
            host: TransportHost::Ipv4([127, 0, 0, 1]),
            port: 9050,
            credentials: None,
        }
    }
}

/// TCP keep-alive settings the shell applies to each socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Probes before the connection is dropped.
    pub count: u32,
}

impl Default for KeepAlive {
    /// The reference's defaults: 30 s idle, 15 s interval, 4 probes.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(15),
            count: 4,
        }
    }
}

/// How to reach servers (the reference's `NetworkConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Connect through this SOCKS5 proxy (for Tor).
    pub socks_proxy: Option<SocksProxy>,
    /// Which hosts to prefer.
    pub host_mode: HostMode,
    /// When no host matches the mode: fail (`true`) or use the first host (`false`).
    pub required_host_mode: bool,
    /// Time allowed for TCP + TLS + the SMP hello.
    pub tcp_connect_timeout: Duration,
    /// Time allowed for each command's response.
    pub tcp_timeout: Duration,
    /// TCP keep-alive for the shell to set; `None` leaves it off.
    pub tcp_keep_alive: Option<KeepAlive>,
    /// Idle time after which the client sends `PING`.
    pub smp_ping_interval: Duration,
}

impl Default for NetworkConfig {
    /// The reference's `defaultNetworkConfig`: no proxy, onion-via-SOCKS, not required, 7.5 s
    /// connect timeout, 5 s response timeout, keep-alive on, ping every 10 minutes.
    fn default() -> Self {
        Self {
            socks_proxy: None,
            host_mode: HostMode::OnionViaSocks,
            required_host_mode: false,
            tcp_connect_timeout: Duration::from_millis(7_500),
            tcp_timeout: Duration::from_secs(5),
            tcp_keep_alive: Some(KeepAlive::default()),
            smp_ping_interval: Duration::from_secs(600),
        }
    }
}

/// No host of the server fits the required host mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no host of the server is compatible with the network configuration")]
pub struct IncompatibleHost;

impl NetworkConfig {
    /// Picks the host to connect to (the reference's `chooseTransportHost`): the first onion
    /// or the first public host per the mode; if there is none, the first host, or
    /// [`IncompatibleHost`] when the mode is required.
    pub fn choose_host<'a>(
        &self,
        hosts: &'a [TransportHost],
    ) -> Result<&'a TransportHost, IncompatibleHost> {
        let want_onion = match self.host_mode {
            HostMode::OnionViaSocks => self.socks_proxy.is_some(),
            HostMode::Onion => true,
            HostMode::Public => false,
        };
        match hosts.iter().find(|h| h.is_onion() == want_onion) {
            Some(host) => Ok(host),
            None if self.required_host_mode => Err(IncompatibleHost),
            None => hosts.first().ok_or(IncompatibleHost),
        }
    }

    /// The host and port to reach `server` at.
    pub fn target(&self, server: &ServerAddress) -> Result<(TransportHost, u16), IncompatibleHost> {
        let host = self.choose_host(server.hosts.as_slice())?.clone();
        Ok((host, server_port(server)))
    }
}

/// The server's port: its own, or [`DEFAULT_SMP_PORT`] when empty or not a number (as the
/// reference's SOCKS path reads it).
pub fn server_port(server: &ServerAddress) -> u16 {
    server.port.parse().unwrap_or(DEFAULT_SMP_PORT)
}
