//! `smp-server.ini`: a small INI reader (sections, `key: value` or `key = value`, comment
//! lines starting with `#` or `;`, which the reference's own generated file needs), the
//! settings read from it, and the commented file `init` writes.
//!
//! The reference's keys keep their meaning: `[STORE_LOG] enable, restore_messages, log_stats`,
//! `[TRANSPORT] port, websockets`, `[INACTIVE_CLIENTS] disconnect, ttl, check_interval`.
//! Ours (all optional, defaults in [`Settings::default`]): `[TRANSPORT] host, bind,
//! handshake_timeout, max_connections, websockets_port`, `[MESSAGES] quota, ttl, check_interval, durable`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::ExpirationConfig;

/// A parsed INI file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

/// Why an INI file or one of its settings was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    /// A line is neither a section, a setting, a comment nor blank.
    #[error("line {line}: expected `[SECTION]`, `key: value` or a comment")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A setting has a value it cannot have.
    #[error("[{section}] {key}: {reason}")]
    Value {
        /// Its section.
        section: String,
        /// Its key.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

impl Ini {
    /// Parses INI text. Keys before any section belong to the section `""`.
    pub fn parse(text: &str) -> Result<Self, IniError> {
        let mut ini = Ini::default();
        let mut section = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                ini.sections.entry(section.clone()).or_default();
                continue;
            }
            let split = line
                .find([':', '='])
                .ok_or(IniError::Syntax { line: i + 1 })?;
            let (key, value) = (line.get(..split), line.get(split + 1..));
            let (Some(key), Some(value)) = (key, value) else {
                return Err(IniError::Syntax { line: i + 1 });
            };
            if key.trim().is_empty() {
                return Err(IniError::Syntax { line: i + 1 });
            }
            ini.sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_string(), value.trim().to_string());
        }
        Ok(ini)
    }

    /// A value, if set.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .map(String::as_str)
    }

    fn error(section: &str, key: &str, reason: &str) -> IniError {
        IniError::Value {
            section: section.to_string(),
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    /// An `on`/`off` setting.
    pub fn flag(&self, section: &str, key: &str) -> Result<Option<bool>, IniError> {
        match self.get(section, key) {
            None => Ok(None),
            Some("on") => Ok(Some(true)),
            Some("off") => Ok(Some(false)),
            Some(_) => Err(Self::error(section, key, "expected `on` or `off`")),
        }
    }

    /// A number setting.
    pub fn number<T: std::str::FromStr>(
        &self,
        section: &str,
        key: &str,
    ) -> Result<Option<T>, IniError> {
        self.get(section, key)
            .map(|v| {
                v.parse()
                    .map_err(|_| Self::error(section, key, "expected a number"))
            })
            .transpose()
    }
}

/// Everything `smp-server start` takes from the INI file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `[STORE_LOG] enable` (default on).
    pub store_log: bool,
    /// `[STORE_LOG] restore_messages` (default: as `enable`, like the reference).
    pub restore_messages: bool,
    /// `[STORE_LOG] log_stats` (default off).
    pub log_stats: bool,
    /// `[TRANSPORT] port` (default 5223).
    pub port: u16,
    /// `[TRANSPORT] websockets`: also serve SMP over WebSockets (inside TLS) on
    /// `websockets_port` (default off).
    pub websockets: bool,
    /// `[TRANSPORT] websockets_port`: the WebSockets port (ours; default 80, the reference's
    /// fixed port; e.g. 8080 for a server not run as root).
    pub websockets_port: u16,
    /// `[TRANSPORT] host`: the host name in the printed server address (ours; `init` writes
    /// its `--fqdn` or `--ip`; default `127.0.0.1`).
    pub host: String,
    /// `[TRANSPORT] bind`: the address to listen on (ours; default `0.0.0.0`).
    pub bind: String,
    /// `[TRANSPORT] handshake_timeout`: seconds for TLS and the SMP hello (ours; default 120).
    pub handshake_timeout: Duration,
    /// `[TRANSPORT] max_connections`: open sockets at most (ours; default 16384).
    pub max_connections: usize,
    /// `[INACTIVE_CLIENTS] disconnect` with `ttl` and `check_interval` (default off).
    pub inactive_clients: Option<ExpirationConfig>,
    /// `[MESSAGES] quota`: messages a queue holds (ours; default 128).
    pub quota: usize,
    /// `[MESSAGES] ttl` (seconds, or `off`) and `check_interval` (ours; default 30 days,
    /// checked every 12 hours).
    pub message_expiration: Option<ExpirationConfig>,
    /// `[MESSAGES] durable`: journal every message and sync before answering (ours; off).
    pub durable: bool,
    /// `[TRANSPORT] shards`: workers, each a loop on its own thread with its own sockets and
    /// shard of the queues (ours; default `None`: one per core; more than one needs
    /// `[INACTIVE_CLIENTS] disconnect` off, else one is used).
    pub shards: Option<u16>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            store_log: true,
            restore_messages: true,
            log_stats: false,
            port: 5223,
            websockets: false,
            websockets_port: 80,
            host: "127.0.0.1".to_string(),
            bind: "0.0.0.0".to_string(),
            handshake_timeout: Duration::from_secs(120),
            max_connections: 16_384,
            inactive_clients: None,
            quota: 128,
            message_expiration: Some(ExpirationConfig::MESSAGES),
            durable: false,
            shards: None,
        }
    }
}

impl Settings {
    /// Reads the settings; missing keys take their defaults.
    pub fn from_ini(ini: &Ini) -> Result<Self, IniError> {
        let d = Settings::default();
        let store_log = ini.flag("STORE_LOG", "enable")?.unwrap_or(d.store_log);
        let inactive_clients = match ini.flag("INACTIVE_CLIENTS", "disconnect")? {
            Some(true) => Some(ExpirationConfig {
                ttl_secs: ini
                    .number("INACTIVE_CLIENTS", "ttl")?
                    .unwrap_or(ExpirationConfig::INACTIVE_CLIENTS.ttl_secs),
                check_interval_secs: ini
                    .number("INACTIVE_CLIENTS", "check_interval")?
                    .unwrap_or(ExpirationConfig::INACTIVE_CLIENTS.check_interval_secs),
            }),
            _ => None,
        };
        let message_expiration = match ini.get("MESSAGES", "ttl") {
            Some("off") => None,
            _ => Some(ExpirationConfig {
                ttl_secs: ini
                    .number("MESSAGES", "ttl")?
                    .unwrap_or(ExpirationConfig::MESSAGES.ttl_secs),
                check_interval_secs: ini
                    .number("MESSAGES", "check_interval")?
                    .unwrap_or(ExpirationConfig::MESSAGES.check_interval_secs),
            }),
        };
        let quota = ini.number("MESSAGES", "quota")?.unwrap_or(d.quota);
        if quota == 0 {
            return Err(Ini::error("MESSAGES", "quota", "must be at least 1"));
        }
        Ok(Self {
            store_log,
            restore_messages: ini
                .flag("STORE_LOG", "restore_messages")?
                .unwrap_or(store_log),
            log_stats: ini.flag("STORE_LOG", "log_stats")?.unwrap_or(d.log_stats),
            port: ini.number("TRANSPORT", "port")?.unwrap_or(d.port),
            websockets: ini.flag("TRANSPORT", "websockets")?.unwrap_or(false),
            websockets_port: ini
                .number("TRANSPORT", "websockets_port")?
                .unwrap_or(d.websockets_port),
            host: ini.get("TRANSPORT", "host").map_or(d.host, str::to_string),
            bind: ini.get("TRANSPORT", "bind").map_or(d.bind, str::to_string),
            handshake_timeout: ini
                .number("TRANSPORT", "handshake_timeout")?
                .map_or(d.handshake_timeout, Duration::from_secs),
            max_connections: ini
                .number("TRANSPORT", "max_connections")?
                .unwrap_or(d.max_connections),
            inactive_clients,
            quota,
            message_expiration,
            durable: ini.flag("MESSAGES", "durable")?.unwrap_or(false),
            shards: ini
                .number::<u16>("TRANSPORT", "shards")?
                .map(|n| n.max(1))
                .or(d.shards),
        })
    }
}

/// The file `init` writes: the reference's sections, keys and comments, then ours, commented.
pub fn initial_file(store_log: bool, port: u16, host: &str) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    let inactive = ExpirationConfig::INACTIVE_CLIENTS;
    let messages = ExpirationConfig::MESSAGES;
    format!(
        "[STORE_LOG]\n\
         # The server keeps queues in memory; this log of changes restores them at start.\n\
         # It is compacted at start (deleted queues are removed).\n\
         enable: {store}\n\
         # Undelivered messages are saved at a graceful stop and restored at start\n\
         # (kept as smp-server-messages.log.bak until the next start).\n\
         restore_messages: {store}\n\
         # A daily stats line in smp-server-stats.daily.log.\n\
         log_stats: off\n\
         \n\
         [TRANSPORT]\n\
         port: {port}\n\
         # SMP over WebSockets (inside the same TLS) on another port, as browsers need.\n\
         websockets: off\n\
         # Ours: the WebSockets port (default 80, which needs root; e.g. 8080).\n\
         # websockets_port: 80\n\
         # Ours: the host in the printed server address, the listening address,\n\
         # seconds allowed for TLS and the SMP hello, and the most open sockets.\n\
         host: {host}\n\
         bind: 0.0.0.0\n\
         handshake_timeout: 120\n\
         max_connections: 16384\n\
         # Ours: workers, each a thread with its own sockets and share of the queues\n\
         # (default: one per core). More than one needs [INACTIVE_CLIENTS] disconnect\n\
         # off, else one is used.\n\
         # shards: 2\n\
         \n\
         [INACTIVE_CLIENTS]\n\
         # Closing clients that stay silent: after ttl seconds, checked every check_interval.\n\
         disconnect: off\n\
         # ttl: {ittl}\n\
         # check_interval: {icheck}\n\
         \n\
         [MESSAGES]\n\
         # Ours: messages a queue holds, their time to live in seconds (or off) and how\n\
         # often that is checked, and durable mode (every message journalled and synced\n\
         # to disk before the sender's OK, so even a crash loses none).\n\
         quota: 128\n\
         ttl: {mttl}\n\
         check_interval: {mcheck}\n\
         durable: off\n",
        store = on(store_log),
        ittl = inactive.ttl_secs,
        icheck = inactive.check_interval_secs,
        mttl = messages.ttl_secs,
        mcheck = messages.check_interval_secs,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A file shaped like the one the reference's `init` writes: comment lines, including the
    /// `# ttl:` ones its own parser rejects (comments reworded here).
    const REFERENCE_INI: &str = "[STORE_LOG]\n# Queues live in memory; this log restores\n\
        # them at the next start.\nenable: on\n\
        restore_messages: on\nlog_stats: off\n\n[TRANSPORT]\nport: 5223\nwebsockets: off\n\n\
        [INACTIVE_CLIENTS]\n# Silent clients: time to live, check interval\ndisconnect: off\n\
        # ttl: 86400\n# check_interval: 43200\n";

    #[test]
    fn reads_the_reference_file() {
        let s = Settings::from_ini(&Ini::parse(REFERENCE_INI).unwrap()).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn reads_its_own_file() {
        let s = Settings::from_ini(&Ini::parse(&initial_file(false, 443, "smp.example")).unwrap())
            .unwrap();
        assert!(!s.store_log && !s.restore_messages);
        assert_eq!((s.port, s.host.as_str()), (443, "smp.example"));
        assert_eq!(s.message_expiration, Some(ExpirationConfig::MESSAGES));
    }

    #[test]
    fn websockets_as_the_reference_and_our_port() {
        let on = REFERENCE_INI.replace("websockets: off", "websockets: on");
        let s = Settings::from_ini(&Ini::parse(&on).unwrap()).unwrap();
        assert!(s.websockets);
        assert_eq!(s.websockets_port, 80, "the reference's port");
        let ours = Ini::parse(&format!("{on}[TRANSPORT]\nwebsockets_port: 8080\n")).unwrap();
        let s = Settings::from_ini(&ours).unwrap();
        assert_eq!((s.websockets, s.websockets_port), (true, 8080));
        // `init` writes the key commented: the default holds.
        let init =
            Settings::from_ini(&Ini::parse(&initial_file(true, 5223, "h")).unwrap()).unwrap();
        assert_eq!((init.websockets, init.websockets_port), (false, 80));
        assert!(initial_file(true, 5223, "h").contains("# websockets_port: 80\n"));
    }

    #[test]
    fn inactive_clients_and_bad_values() {
        let ini = Ini::parse("[INACTIVE_CLIENTS]\ndisconnect: on\nttl = 10\n").unwrap();
        let s = Settings::from_ini(&ini).unwrap();
        assert_eq!(
            s.inactive_clients,
            Some(ExpirationConfig {
                ttl_secs: 10,
                check_interval_secs: 43_200
            })
        );
        let bad = Ini::parse("[TRANSPORT]\nport: http\n").unwrap();
        assert!(Settings::from_ini(&bad).is_err());
        let bad = Ini::parse("[STORE_LOG]\nenable: yes\n").unwrap();
        assert!(Settings::from_ini(&bad).is_err());
        assert_eq!(Ini::parse("junk\n"), Err(IniError::Syntax { line: 1 }));
        let off = Ini::parse("[MESSAGES]\nttl: off\n").unwrap();
        assert_eq!(Settings::from_ini(&off).unwrap().message_expiration, None);
    }
}
