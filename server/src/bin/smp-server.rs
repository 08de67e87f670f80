//! `smp-server`: the SMP server program (`init`, `start`, `delete`), with the reference's
//! files in its configuration and log directories so that identities and store logs move
//! between the reference server and this one. See `README.md` and `spec/server.md`.

use simplex_core::time::Clock;
use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use rand_core::{OsRng, RngCore};
use simplex_core::driver::{unix_time, ShellLimits, StopFlag};
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;
use simplex_server::certs::{self, CertAlgorithm};
use simplex_server::driver::DriverConfig;
use simplex_server::files::{DataFiles, FileOptions};
use simplex_server::host::{Host, HostConfig};
use simplex_server::ini::{self, Ini, Settings};
use simplex_server::{ServerConfig, StatsConfig};

const REFERENCE_CONFIG_DIR: &str = "/etc/opt/simplex";
const REFERENCE_LOG_DIR: &str = "/var/opt/simplex";
const LOCAL_CONFIG_DIR: &str = "smp-server-data/etc";
const LOCAL_LOG_DIR: &str = "smp-server-data/var";
const INI_FILE: &str = "smp-server.ini";

/// SMP server (SimpleX Messaging Protocol, compatible with simplexmq v3.2.0).
#[derive(Debug, Parser)]
#[command(
    name = "smp-server",
    version = concat!("v", env!("CARGO_PKG_VERSION"), " (SMP server v3.2.0 compatible)"),
    about
)]
struct Cli {
    /// Configuration directory: ca.crt, ca.key, server.crt, server.key, fingerprint,
    /// smp-server.ini [default: /etc/opt/simplex if it holds smp-server.ini, else
    /// ./smp-server-data/etc]
    #[arg(long, global = true, env = "SMP_SERVER_CONFIG_DIR", value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Log directory: store log, saved messages, stats [default: /var/opt/simplex with the
    /// reference's configuration directory, ./smp-server-data/var with the local one, else
    /// the configuration directory]
    #[arg(long, global = true, env = "SMP_SERVER_LOG_DIR", value_name = "DIR")]
    log_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the server identity (CA and online certificates) and smp-server.ini
    Init(InitArgs),
    /// Start the server (initialising a default identity first if there is none)
    Start {
        /// The I/O shell to run on
        #[arg(long, value_enum, default_value_t = Runtime::Mio)]
        runtime: Runtime,
        /// Listen on this address instead of the INI's `[TRANSPORT] bind`
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Listen on this port instead of the INI's `[TRANSPORT] port` (0: any free port)
        #[arg(long)]
        port: Option<u16>,
        /// Record a trace of the run to FILE for exact replay (one shard; the file holds
        /// clients' encrypted traffic, keep it private)
        #[arg(long, value_name = "FILE")]
        trace: Option<std::path::PathBuf>,
        /// Also serve WebSockets, on this port (0: any free port), whatever the INI's
        /// `[TRANSPORT] websockets` and `websockets_port` say
        #[arg(long, value_name = "PORT")]
        websockets_port: Option<u16>,
    },
    /// Delete the configuration and log files (the server identity changes forever)
    Delete {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct InitArgs {
    /// Ed25519 certificates instead of Ed448
    #[arg(long)]
    ed25519: bool,
    /// Server IP address: the online certificate's CN when there is no --fqdn
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    ip: String,
    /// Server FQDN: the online certificate's CN and the host in the server address
    #[arg(long, value_name = "FQDN")]
    fqdn: Option<String>,
    /// Do not keep a store log (queues and messages are lost at restart)
    #[arg(long)]
    no_store_log: bool,
    /// TCP port
    #[arg(long, default_value_t = 5223)]
    port: u16,
}

impl Default for InitArgs {
    fn default() -> Self {
        Self {
            ed25519: false,
            ip: "127.0.0.1".to_string(),
            fqdn: None,
            no_store_log: false,
            port: 5223,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runtime {
    /// mio: one poll loop
    Mio,
    /// smol: an executor with a task per socket
    Smol,
}

struct Dirs {
    config: PathBuf,
    log: PathBuf,
}

impl Dirs {
    fn resolve(cli: &Cli) -> Self {
        let reference = Path::new(REFERENCE_CONFIG_DIR);
        let config = cli.config_dir.clone().unwrap_or_else(|| {
            if reference.join(INI_FILE).exists() {
                reference.to_path_buf()
            } else {
                PathBuf::from(LOCAL_CONFIG_DIR)
            }
        });
        let log = cli.log_dir.clone().unwrap_or_else(|| {
            if config == reference {
                PathBuf::from(REFERENCE_LOG_DIR)
            } else if config == Path::new(LOCAL_CONFIG_DIR) {
                PathBuf::from(LOCAL_LOG_DIR)
            } else {
                config.clone()
            }
        });
        Self { config, log }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.config.join(name)
    }
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMP_SERVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let dirs = Dirs::resolve(&cli);
    let result = match cli.command {
        Command::Init(args) => init(&dirs, &args),
        Command::Start {
            runtime,
            bind,
            port,
            trace,
            websockets_port,
        } => start(&dirs, runtime, bind, port, websockets_port, trace),
        Command::Delete { yes } => delete(&dirs, yes),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn version() -> String {
    format!(
        "SMP server v{} (simplexmq v3.2.0 compatible)",
        env!("CARGO_PKG_VERSION")
    )
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn init(dirs: &Dirs, args: &InitArgs) -> Result<()> {
    let ini_path = dirs.file(INI_FILE);
    if ini_path.exists() {
        bail!(
            "server is already initialized ({} exists). Run `smp-server start`.",
            ini_path.display()
        );
    }
    for dir in [&dirs.config, &dirs.log] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let alg = if args.ed25519 {
        CertAlgorithm::Ed25519
    } else {
        CertAlgorithm::Ed448
    };
    let host = args.fqdn.clone().unwrap_or_else(|| args.ip.clone());
    let id = certs::generate(alg, &host, &mut OsRng, wall_clock())?;
    for name in [
        "ca.key",
        "ca.crt",
        "server.key",
        "server.crt",
        "fingerprint",
    ] {
        if dirs.file(name).exists() {
            bail!(
                "{} exists: remove it or run `smp-server delete`",
                dirs.file(name).display()
            );
        }
    }
    write_file(&dirs.file("ca.key"), &id.ca_key_pem, true)?;
    write_file(&dirs.file("ca.crt"), &id.ca_cert_pem, false)?;
    write_file(&dirs.file("server.key"), &id.server_key_pem, true)?;
    write_file(&dirs.file("server.crt"), &id.server_cert_pem, false)?;
    write_file(
        &dirs.file("fingerprint"),
        &format!("{}\n", id.fingerprint),
        false,
    )?;
    write_file(
        &ini_path,
        &ini::initial_file(!args.no_store_log, args.port, &host),
        false,
    )?;
    println!(
        "New server identity and settings written; edit {} to change the settings.\nStart it with `smp-server start`.",
        ini_path.display()
    );
    println!("{}", version());
    println!("Fingerprint: {}", id.fingerprint);
    println!(
        "Server address: smp://{}@{}:{}",
        id.fingerprint, host, args.port
    );
    println!(
        "----------\nThe offline CA key is at {}.\n\
         Move it off this machine and keep it safe: it is the server's identity. With it you can\n\
         issue a new online certificate if the current one leaks, and clients keep the same\n\
         address and their connections.\n----------",
        dirs.file("ca.key").display()
    );
    Ok(())
}

fn wall_clock() -> simplex_core::encoding::UnixTime {
    unix_time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn start(
    dirs: &Dirs,
    runtime: Runtime,
    bind: Option<String>,
    port: Option<u16>,
    websockets_port: Option<u16>,
    trace: Option<std::path::PathBuf>,
) -> Result<()> {
    let ini_path = dirs.file(INI_FILE);
    if !ini_path.exists() {
        println!(
            "No server in {}: initialising a default one (Ed448, 127.0.0.1, store log on).",
            dirs.config.display()
        );
        init(dirs, &InitArgs::default())?;
    }
    let text = String::from_utf8(read(&ini_path)?)
        .with_context(|| format!("{} is not UTF-8", ini_path.display()))?;
    let ini = Ini::parse(&text).with_context(|| format!("reading {}", ini_path.display()))?;
    let mut settings =
        Settings::from_ini(&ini).with_context(|| format!("in {}", ini_path.display()))?;
    settings.bind = bind.unwrap_or(settings.bind);
    settings.port = port.unwrap_or(settings.port);
    if let Some(ws_port) = websockets_port {
        settings.websockets = true;
        settings.websockets_port = ws_port;
    }
    let identity = ServerIdentity::from_pem(
        &read(&dirs.file("server.crt"))?,
        &read(&dirs.file("ca.crt"))?,
        &read(&dirs.file("server.key"))?,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "the server identity in {} does not load: {e}",
            dirs.config.display()
        )
    })?;
    let fingerprint = identity.key_hash().to_base64url();
    let saved = String::from_utf8_lossy(&read(&dirs.file("fingerprint"))?)
        .trim()
        .to_string();
    if saved != fingerprint {
        bail!("Stored fingerprint is invalid.");
    }
    std::fs::create_dir_all(&dirs.log)
        .with_context(|| format!("creating {}", dirs.log.display()))?;
    let listener = TcpListener::bind((settings.bind.as_str(), settings.port))
        .with_context(|| format!("listening on {}:{}", settings.bind, settings.port))?;
    let port = listener.local_addr()?.port();
    let ws_listener = if settings.websockets {
        let ws = TcpListener::bind((settings.bind.as_str(), settings.websockets_port))
            .with_context(|| {
                format!(
                    "listening for WebSockets on {}:{}",
                    settings.bind, settings.websockets_port
                )
            })?;
        Some(ws)
    } else {
        None
    };

    println!("{}", version());
    println!("Fingerprint: {fingerprint}");
    println!(
        "Server address: smp://{fingerprint}@{}:{port}",
        settings.host
    );
    let files = DataFiles::in_dir(
        &dirs.log,
        FileOptions {
            store_log: settings.store_log,
            restore_messages: settings.restore_messages,
            log_stats: settings.log_stats,
            durable: settings.durable,
        },
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut shards = settings
        .shards
        .unwrap_or_else(|| u16::try_from(cores.min(64)).unwrap_or(1));
    if shards > 1 && settings.inactive_clients.is_some() {
        shards = 1;
    }
    if trace.is_some() {
        shards = 1;
    }
    print_settings(&settings, &files);
    println!(
        "Server shards: {shards} ({cores} cores{})",
        if settings.shards.is_none() {
            ", one per core"
        } else {
            ""
        }
    );
    if let Some(path) = &trace {
        println!(
            "Recording a trace to {} (one shard; replay with the server identity).",
            path.display()
        );
    }
    let mut listeners = vec![listener];
    let mut framings = vec![Framing::Raw];
    let mut ws_port = None;
    if let Some(ws) = ws_listener {
        ws_port = Some(ws.local_addr()?.port());
        listeners.push(ws);
        framings.push(Framing::WebSocket);
    }

    let config = HostConfig {
        server: ServerConfig {
            msg_queue_quota: settings.quota,
            message_expiration: settings.message_expiration,
            inactive_client_expiration: settings.inactive_clients,
            log_stats: settings.log_stats.then(StatsConfig::default),
            store_log: settings.store_log,
            durable_messages: settings.durable,
            ..ServerConfig::default()
        },
        driver: DriverConfig {
            handshake_timeout: settings.handshake_timeout,
        },
        files,
        shards,
        listeners: framings,
        trace,
    };
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let clock = Clock {
        now: Instant::ZERO,
        wall_clock: wall_clock(),
    };
    // The handlers go in before the (possibly long) restore and `Listening on` comes after it:
    // whoever waits for that line may signal or connect at once and must find a server that
    // stops gracefully and holds every restored queue.
    let stop = StopFlag::new();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.as_atomic().clone())
            .context("installing the signal handlers")?;
    }
    let (mut hosts, _report) = Host::start(config, identity, clock, seed)?;
    println!(
        "Listening on {}:{port} (TLS, {} runtime)...",
        settings.bind,
        match runtime {
            Runtime::Mio => "mio",
            Runtime::Smol => "smol",
        }
    );
    if let Some(ws_port) = ws_port {
        println!(
            "Listening on {}:{ws_port} (WebSockets over TLS)...",
            settings.bind
        );
    }
    std::io::stdout().flush()?;
    let limits = ShellLimits {
        max_connections: settings.max_connections,
        ..ShellLimits::default()
    };
    match runtime {
        Runtime::Mio => simplex_io_mio::run_workers(listeners, &mut hosts, &stop, limits)?,
        Runtime::Smol => simplex_io_smol::run_workers(listeners, &mut hosts, &stop, limits)?,
    }
    println!("Server stopped.");
    Ok(())
}

fn print_settings(s: &Settings, files: &DataFiles) {
    match &files.store_log {
        Some(f) => println!("Store log: {}", f.display()),
        None => println!("Store log disabled."),
    }
    match &files.messages {
        Some(f) => println!("Saved messages: {}", f.display()),
        None => println!("Messages are not saved at stop."),
    }
    if let Some(f) = &files.journal {
        println!("Durable messages: journal {}", f.display());
    }
    match &files.stats_log {
        Some(f) => println!("Stats log: {}", f.display()),
        None => println!("Stats log disabled."),
    }
    println!("Queue quota: {} messages", s.quota);
    match s.message_expiration {
        Some(e) => println!(
            "Expiring messages older than {} seconds every {} seconds",
            e.ttl_secs, e.check_interval_secs
        ),
        None => println!("Messages do not expire."),
    }
    match s.inactive_clients {
        Some(e) => println!(
            "expiring clients inactive for {} seconds every {} seconds",
            e.ttl_secs, e.check_interval_secs
        ),
        None => println!("not expiring inactive clients"),
    }
    println!(
        "Handshake timeout: {} seconds; at most {} connections",
        s.handshake_timeout.as_secs(),
        s.max_connections
    );
}

fn delete(dirs: &Dirs, yes: bool) -> Result<()> {
    if !yes {
        println!(
            "WARNING: deleting the server will make all queues inaccessible, because the server \
             identity (certificate fingerprint) will change.\nTHIS CANNOT BE UNDONE!"
        );
        print!("Continue (Y/n): ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim_end_matches(['\r', '\n']) != "Y" {
            bail!("not deleted");
        }
    }
    // Only what is ours: a directory given by mistake loses nothing else.
    let config_files = [
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "fingerprint",
        INI_FILE,
    ];
    let log_files = [
        "smp-server-store.log",
        "smp-server-store.log.tmp",
        "smp-server-messages.log",
        "smp-server-messages.log.bak",
        "smp-server-journal.log",
        "smp-server-journal.log.tmp",
        "smp-server-stats.daily.log",
        "smp-server-stats.log",
        "smp-server-stats.log.bak",
        "smp-server-stats.log.tmp",
    ];
    for (dir, names) in [
        (&dirs.config, &config_files[..]),
        (&dirs.log, &log_files[..]),
    ] {
        for name in names {
            let path = dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
        }
        // Removed only when nothing else is left in it.
        let _ = std::fs::remove_dir(dir);
    }
    println!("Deleted configuration and log files");
    Ok(())
}
