//! A launcher for the reference smp-server: its config and log directories in a temporary
//! directory, `init` once, then `start`, stop (gracefully with `SIGINT`, which saves the
//! undelivered messages, or with `SIGTERM`) and start again on the same directories and port.
//!
//! The server is killed when the launcher is dropped, and its output is kept for failure
//! messages ([`ReferenceSmpServer::output`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use simplex_core::address::ServerAddress;
use simplex_core::encoding::string::StrDecode;

use super::process::{free_port, wait_for_port, ChildGuard, StopSignal};
use super::Programs;

/// How long `init` (it runs openssl) and a start may take before the test fails.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stop may take (saving messages included) before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Where the INI as `init` wrote it is kept, next to the config and log directories.
const GENERATED_INI: &str = "smp-server.ini.generated";
/// The server's identity: the fingerprint our fixtures have (`spec/fixtures/README.md`).
const FIXTURE_FINGERPRINT: &str = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=";

/// Which TLS identity the server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The fixture identity of `spec/fixtures` (so the address is known in advance).
    Fixture,
    /// The one `init` generates with Ed448 certificates.
    GeneratedEd448,
    /// The one `init` generates with Ed25519 certificates.
    GeneratedEd25519,
}

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    /// Its TLS identity.
    pub identity: Identity,
    /// `init -l`: the store log and the saving of messages on a graceful stop.
    pub store_log: bool,
    /// `[TRANSPORT] websockets: on`: the reference then also listens on port 80, which it
    /// cannot move, so the server binds a loopback address of its own (`127.x.y.z`, through
    /// `SIMPLEX_BIND_HOST`) where port 80 is free.
    pub websockets: bool,
}

impl Default for ServerSetup {
    fn default() -> Self {
        Self {
            identity: Identity::Fixture,
            store_log: true,
            websockets: false,
        }
    }
}

/// One reference smp-server with its own directories. See the module docs.
#[derive(Debug)]
pub struct ReferenceSmpServer {
    program: PathBuf,
    dir: tempfile::TempDir,
    /// The loopback address every listener binds (`SIMPLEX_BIND_HOST`).
    host: Ipv4Addr,
    port: u16,
    websockets: bool,
    fingerprint: String,
    child: Option<ChildGuard>,
    /// Whether a start succeeded: from then on the port stays the same.
    started_once: bool,
}

impl ReferenceSmpServer {
    /// Runs `init` in a new temporary directory and prepares the INI (comment lines removed,
    /// as the reference cannot parse its own; a free loopback port). Does not start it.
    ///
    /// # Panics
    /// When `init` fails or hangs: the programs are there, so the group must run.
    pub fn init(programs: &Programs, setup: &ServerSetup) -> Self {
        let program = programs.smp_server();
        #[allow(clippy::expect_used)]
        let dir = tempfile::Builder::new()
            .prefix("reference-smp-server")
            .tempdir()
            .expect("a temporary directory");
        let mut server = Self {
            program,
            dir,
            host: Ipv4Addr::LOCALHOST,
            port: 0,
            websockets: setup.websockets,
            fingerprint: String::new(),
            child: None,
            started_once: false,
        };
        server.run_init(setup);
        server
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .env("SIMPLEX_BIND_HOST", self.host.to_string())
            .arg("--config-dir")
            .arg(self.config_dir())
            .arg("--log-dir")
            .arg(self.log_dir());
        command
    }

    #[allow(clippy::panic)]
    fn run_init(&mut self, setup: &ServerSetup) {
        let mut init = self.command();
        init.arg("init");
        if setup.store_log {
            init.arg("-l");
        }
        let alg = match setup.identity {
            Identity::GeneratedEd25519 => "ED25519",
            Identity::Fixture | Identity::GeneratedEd448 => "ED448",
        };
        init.arg("-a").arg(alg).arg("--ip").arg("127.0.0.1");
        let mut guard = ChildGuard::spawn(init, "smp-server-init", self.dir.path())
            .unwrap_or_else(|e| panic!("reference smp-server init does not run: {e}"));
        let deadline = std::time::Instant::now() + INIT_TIMEOUT;
        while guard.is_running() {
            if std::time::Instant::now() >= deadline {
                guard.kill();
                panic!("reference smp-server init hung\n{}", guard.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let read = |name: &str| std::fs::read_to_string(self.config_dir().join(name));
        let ini = read("smp-server.ini")
            .unwrap_or_else(|e| panic!("init wrote no INI ({e})\n{}", guard.output()));
        if setup.identity == Identity::Fixture {
            // Both crates that include this file (tests/, server/) sit one level below the
            // repository root.
            let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/fixtures");
            for name in ["ca.crt", "server.crt", "server.key"] {
                std::fs::copy(fixtures.join(name), self.config_dir().join(name))
                    .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
            }
            // The server prints and serves what this file says; init wrote the generated one.
            std::fs::write(
                self.config_dir().join("fingerprint"),
                format!("{FIXTURE_FINGERPRINT}\n"),
            )
            .unwrap_or_else(|e| panic!("fingerprint: {e}"));
        }
        self.fingerprint = read("fingerprint")
            .unwrap_or_else(|e| panic!("init wrote no fingerprint ({e})\n{}", guard.output()))
            .trim()
            .to_string();
        self.pick_address();
        std::fs::write(self.dir.path().join(GENERATED_INI), &ini)
            .unwrap_or_else(|e| panic!("keeping the generated INI: {e}"));
        self.write_ini(&ini);
    }

    /// The INI exactly as `init` wrote it (comment lines and its default port included), e.g.
    /// for another program to read; [`ReferenceSmpServer::start`] prepares whatever INI is in
    /// the config directory again.
    #[allow(clippy::panic)]
    pub fn generated_ini(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(GENERATED_INI))
            .unwrap_or_else(|e| panic!("the generated INI: {e}"))
    }

    /// A free port for TLS, and with WebSockets a loopback address whose port 80 is free too.
    #[allow(clippy::panic)]
    fn pick_address(&mut self) {
        if !self.websockets {
            self.port = free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
            return;
        }
        // Spread over 127.0.0.0/8 by process id and time, so parallel tests rarely collide.
        let mut pick = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::from(d.subsec_nanos()))
                .unwrap_or_default();
        let mut last = String::new();
        for _ in 0..50 {
            pick = pick.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let [a, b, c] = [(pick >> 40) as u8, (pick >> 32) as u8, (pick >> 24) as u8];
            if a == 0 || c == 0 || c == 255 {
                continue;
            }
            let host = Ipv4Addr::new(127, a, b, c);
            let ws = std::net::TcpListener::bind((host, 80));
            let tls = std::net::TcpListener::bind((host, 0));
            match (ws, tls) {
                (Ok(_ws), Ok(tls)) => {
                    self.host = host;
                    self.port = tls
                        .local_addr()
                        .unwrap_or_else(|e| panic!("no free port: {e}"))
                        .port();
                    return;
                }
                (Err(e), _) | (_, Err(e)) => last = format!("{host}: {e}"),
            }
        }
        panic!("no loopback address with port 80 free for WebSockets: {last}");
    }

    /// Writes the INI without its comment lines and with the current port.
    #[allow(clippy::panic)]
    fn write_ini(&self, ini: &str) {
        let lines: Vec<String> = ini
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .map(|line| {
                if line.trim_start().starts_with("port:") {
                    format!("port: {}", self.port)
                } else if line.trim_start().starts_with("websockets:") {
                    let on = if self.websockets { "on" } else { "off" };
                    format!("websockets: {on}")
                } else {
                    line.to_string()
                }
            })
            .collect();
        std::fs::write(self.ini_path(), lines.join("\n") + "\n")
            .unwrap_or_else(|e| panic!("writing the INI: {e}"));
    }

    /// Appends `[MESSAGES]` settings (e.g. `quota: 8`) to the INI; takes effect at the next
    /// start.
    #[allow(clippy::panic)]
    pub fn set_messages_section(&self, settings: &[(&str, &str)]) {
        let mut ini = std::fs::read_to_string(self.ini_path())
            .unwrap_or_else(|e| panic!("reading the INI: {e}"));
        ini.push_str("\n[MESSAGES]\n");
        for (key, value) in settings {
            ini.push_str(&format!("{key}: {value}\n"));
        }
        std::fs::write(self.ini_path(), ini).unwrap_or_else(|e| panic!("writing the INI: {e}"));
    }

    /// Starts the server and waits until its port accepts. A first start that fails (the port
    /// may have been taken meanwhile) is retried on a new port; a restart is retried on the same
    /// port, as clients reconnect to the address they know.
    ///
    /// # Panics
    /// When it is already running, or does not come up within the bounded time.
    #[allow(clippy::panic)]
    pub fn start(&mut self) {
        assert!(
            self.child.is_none(),
            "the reference smp-server already runs"
        );
        // Whatever is in the INI now (another program may have used the directory): without
        // comment lines, on this server's port.
        let ini = std::fs::read_to_string(self.ini_path())
            .unwrap_or_else(|e| panic!("reading the INI: {e}"));
        self.write_ini(&ini);
        let mut last = String::new();
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            let stderr = self.dir.path().join("smp-server.stderr");
            let stderr_before = std::fs::metadata(&stderr).map_or(0, |m| m.len());
            let mut guard = ChildGuard::spawn(
                {
                    let mut c = self.command();
                    c.arg("start");
                    c
                },
                "smp-server",
                self.dir.path(),
            )
            .unwrap_or_else(|e| panic!("reference smp-server does not run: {e}"));
            let mut up = wait_for_port(self.addr(), START_TIMEOUT, || guard.is_running());
            if let (Ok(()), Some(ws)) = (&up, self.ws_addr()) {
                up = wait_for_port(ws, START_TIMEOUT, || guard.is_running());
            }
            match up {
                Ok(()) => {
                    self.child = Some(guard);
                    self.started_once = true;
                    return;
                }
                Err(e) => {
                    guard.kill();
                    last = format!("{e}\n{}", guard.output());
                    // Only a port taken meanwhile is worth another try; any other failure
                    // (a file it cannot restore, say) would fail the same way again.
                    let this_run = std::fs::read(&stderr)
                        .ok()
                        .and_then(|b| b.get(stderr_before as usize..).map(<[u8]>::to_vec))
                        .unwrap_or_default();
                    let this_run = String::from_utf8_lossy(&this_run);
                    if !this_run.contains("in use") && !this_run.contains("busy") {
                        break;
                    }
                    if !self.started_once {
                        self.pick_address();
                        let ini = std::fs::read_to_string(self.ini_path())
                            .unwrap_or_else(|e| panic!("reading the INI: {e}"));
                        self.write_ini(&ini);
                    }
                }
            }
        }
        panic!("the reference smp-server did not start: {last}");
    }

    /// Stops the server with `signal` (`Interrupt` saves undelivered messages) and waits for it
    /// to exit; it may be started again with [`ReferenceSmpServer::start`].
    ///
    /// # Panics
    /// When it is not running or does not exit in time (it is killed first).
    #[allow(clippy::panic)]
    pub fn stop(&mut self, signal: StopSignal) {
        let Some(mut guard) = self.child.take() else {
            panic!("the reference smp-server is not running");
        };
        if let Err(e) = guard.stop(signal, STOP_TIMEOUT) {
            panic!("stopping the reference smp-server: {e}");
        }
    }

    /// Kills the server (no saving) if it runs.
    pub fn kill(&mut self) {
        if let Some(mut guard) = self.child.take() {
            guard.kill();
        }
    }

    /// Whether it runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// Where it listens for TLS.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.port))
    }

    /// Where it listens for WebSockets (port 80), when set up with them.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.websockets.then(|| SocketAddr::from((self.host, 80)))
    }

    /// Its identity (the CA certificate's hash, base64url).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Its address, `smp://FINGERPRINT@HOST:PORT` (the host is `127.0.0.1` unless it serves
    /// WebSockets).
    pub fn address(&self) -> String {
        format!("smp://{}@{}:{}", self.fingerprint, self.host, self.port)
    }

    /// For the test named `test`: a server with `identity` (otherwise as
    /// [`ServerSetup::default`]) initialised and started, with its address parsed; `None` when
    /// the interop group does not run (see [`super::programs`]).
    ///
    /// # Panics
    /// As [`ReferenceSmpServer::init`] and [`ReferenceSmpServer::start`].
    #[allow(clippy::expect_used)]
    pub fn started(test: &str, identity: Identity) -> Option<(Self, ServerAddress)> {
        let programs = super::programs(test)?;
        let setup = ServerSetup {
            identity,
            ..ServerSetup::default()
        };
        let mut server = Self::init(&programs, &setup);
        server.start();
        let address = ServerAddress::str_decode(server.address().as_bytes())
            .expect("the reference server's address parses");
        Some((server, address))
    }

    /// The config directory (certificates, `fingerprint`, `smp-server.ini`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// The log directory (`smp-server-store.log`, `smp-server-messages.log`).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("var")
    }

    /// The store log.
    pub fn store_log(&self) -> PathBuf {
        self.log_dir().join("smp-server-store.log")
    }

    /// The saved undelivered messages (written on a graceful stop).
    pub fn messages_log(&self) -> PathBuf {
        self.log_dir().join("smp-server-messages.log")
    }

    fn ini_path(&self) -> PathBuf {
        self.config_dir().join("smp-server.ini")
    }

    /// Everything the server (and its `init`) printed, for failure messages.
    pub fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        let mut out = String::new();
        for name in [
            "smp-server-init.stdout",
            "smp-server-init.stderr",
            "smp-server.stdout",
            "smp-server.stderr",
        ] {
            if let Ok(text) = read(name) {
                out.push_str(&format!("--- {name} ---\n{text}"));
            }
        }
        out
    }
}

impl Drop for ReferenceSmpServer {
    fn drop(&mut self) {
        self.kill();
    }
}
