//! `smp-client`: create, secure, use and delete SMP queues on any server, for operators and
//! tests. Queues are kept in a state directory between invocations (one file a queue); output
//! is `name=value` lines (see `spec/client.md`, "The smp-client program").

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use rand_core::OsRng;
use simplex_agent::queue_file::{id_text, parse_id, NotifierState, QueueState};
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime, RuntimeConfig, RuntimeError};
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::client::{
    generate_sign_key, ManagerConfig, ManagerEvent, NetworkConfig, QueueSubscription,
    RecipientKeys, Reply, Request, RequestError, SignAlgorithm, SocksProxy, SubParty,
};
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::protocol::{Command as SmpCommand, EntityId, ErrorType, MsgFlags};
use zeroize::Zeroizing;

/// Exit code of `receive` when the queue has no message.
const NO_MESSAGE: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "smp-client", version, about = "A command-line SMP client")]
struct Cli {
    /// Where queue files are kept (one `NAME.queue` file a queue, private keys included).
    #[arg(
        long,
        env = "SMP_CLIENT_STATE_DIR",
        default_value = "./smp-client-state"
    )]
    state_dir: PathBuf,
    /// The I/O shell: mio or smol.
    #[arg(long, global = true, default_value = "mio")]
    runtime: Runtime,
    /// Reach servers through this SOCKS5 proxy (HOST:PORT).
    #[arg(long, global = true)]
    socks_proxy: Option<String>,
    /// Seconds to wait for each answer (connecting included).
    #[arg(long, global = true, default_value_t = 15)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a queue on a server and keep it under NAME.
    Create {
        /// The queue's local name.
        name: String,
        /// The server: smp://FINGERPRINT@HOST:PORT (more hosts after commas; the port may be left
        /// out for 5223).
        #[arg(long, env = "SMP_SERVER")]
        server: String,
    },
    /// Print what is known about a queue, with its sender address.
    Show {
        /// The queue's local name.
        name: String,
        /// Also print the sender and notifier private keys (to hand to a sender or notifier).
        #[arg(long)]
        secret: bool,
    },
    /// Secure the queue with a new sender key (kept in the queue file).
    Secure {
        /// The queue's local name.
        name: String,
    },
    /// Send a message (the text, as UTF-8) to a queue.
    Send {
        /// A local queue (its sender key is used once it is secured).
        #[arg(required_unless_present = "to")]
        name: Option<String>,
        /// Or a sender address (`SERVER#SENDER_ID`, as `show` prints it).
        #[arg(long, conflicts_with = "name")]
        to: Option<String>,
        /// With `--to`: the sender key (as `show --secret` prints it) of a secured queue.
        #[arg(long, requires = "to")]
        sender_key: Option<String>,
        /// Ask the server to notify the queue's notifier.
        #[arg(long)]
        notify: bool,
        /// The message.
        #[arg(long, short)]
        message: String,
    },
    /// Receive the queue's next message (left on the server unless --ack).
    Receive {
        /// The queue's local name.
        name: String,
        /// Acknowledge the message, so the server deletes it.
        #[arg(long)]
        ack: bool,
        /// Seconds to wait for a message when the queue is empty.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Enable notifications for the queue (new notifier keys, kept in the queue file).
    Notifications {
        /// The queue's local name.
        name: String,
    },
    /// Delete the queue on the server, then its file.
    Delete {
        /// The queue's local name.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `name=value` lines and flushes.
fn print(lines: &[(&str, String)]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for (name, value) in lines {
        writeln!(out, "{name}={value}")?;
    }
    out.flush()?;
    Ok(())
}

fn queue_path(dir: &Path, name: &str) -> Result<PathBuf> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if !ok {
        bail!("a queue name is letters, digits, '-', '_' and '.' (not first)");
    }
    Ok(dir.join(format!("{name}.queue")))
}

fn load(dir: &Path, name: &str) -> Result<QueueState> {
    let path = queue_path(dir, name)?;
    let text = std::fs::read(&path).with_context(|| format!("no queue {name:?}"))?;
    QueueState::parse(&text).with_context(|| format!("{} is damaged", path.display()))
}

/// Writes the queue file through a temporary file, readable by its owner only.
fn save(dir: &Path, name: &str, state: &QueueState) -> Result<()> {
    write_private(dir, &queue_path(dir, name)?, state.to_text().as_bytes())
}

/// `NAME.securing`: a sender key saved before `KEY` is sent with it, until the queue file
/// holds it. Its presence marks securing as in progress (see `spec/client.md`, "Securing").
fn securing_path(dir: &Path, name: &str) -> Result<PathBuf> {
    Ok(queue_path(dir, name)?.with_extension("securing"))
}

/// The sender key of a securing left in progress, if any.
fn pending_sender_key(path: &Path) -> Result<Option<SignKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let key = text
        .trim_end()
        .strip_prefix("sender_key=")
        .map(SignKey::from_base64url)
        .with_context(|| format!("{} is damaged", path.display()))?
        .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?;
    Ok(Some(key))
}

/// Writes `bytes` to `path` through a synced temporary file and a rename, readable by its
/// owner only: a crash leaves the old file or the new one.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn parse_server(text: &str) -> Result<ServerAddress> {
    ServerAddress::str_decode(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("bad server address {text:?}: {e}"))
}

fn server_text(server: &ServerAddress) -> String {
    String::from_utf8_lossy(&server.to_str_bytes()).into_owned()
}

fn sender_address(state: &QueueState) -> String {
    format!(
        "{}#{}",
        server_text(&state.server),
        id_text(&state.sender_id)
    )
}

fn parse_proxy(text: &str) -> Result<SocksProxy> {
    let (host, port) = text
        .rsplit_once(':')
        .context("--socks-proxy is HOST:PORT")?;
    let port: u16 = port.parse().context("--socks-proxy port")?;
    let host = TransportHost::str_decode(host.as_bytes())
        .map_err(|e| anyhow::anyhow!("--socks-proxy host: {e}"))?;
    Ok(SocksProxy {
        host,
        port,
        ..SocksProxy::default()
    })
}

struct Session {
    client: ClientRuntime,
    timeout: Duration,
}

impl Session {
    fn start(cli: &Cli) -> Result<Self> {
        let mut network = NetworkConfig::default();
        if let Some(proxy) = &cli.socks_proxy {
            network.socks_proxy = Some(parse_proxy(proxy)?);
        }
        let timeout = Duration::from_secs(cli.timeout.max(1));
        let mut config = RuntimeConfig::new(cli.runtime);
        config.manager = ManagerConfig::from_network(network);
        let client = ClientRuntime::start(config).context("cannot start the client")?;
        Ok(Self { client, timeout })
    }

    fn request(&self, server: &ServerAddress, request: Request) -> Result<Reply> {
        let tag = request.command.tag();
        self.client
            .request(server, request, self.timeout)
            .with_context(|| format!("{tag} failed"))
    }

    fn expect_ok(&self, server: &ServerAddress, request: Request) -> Result<()> {
        match self.request(server, request)? {
            Reply::Ok => Ok(()),
            other => bail!("unexpected answer {other:?}"),
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let dir = cli.state_dir.clone();
    match &cli.command {
        Command::Show { name, secret } => {
            let state = load(&dir, name)?;
            show(&state)?;
            if *secret {
                let mut lines = Vec::new();
                if let Some(key) = &state.sender_key {
                    lines.push(("sender_key", key.to_base64url()));
                }
                if let Some(n) = &state.notifier {
                    lines.push(("notifier_key", n.notifier_key.to_base64url()));
                }
                print(&lines)?;
            }
        }
        Command::Create { name, server } => {
            let server = parse_server(server)?;
            let path = queue_path(&dir, name)?;
            if path.exists() {
                bail!("queue {name:?} exists already");
            }
            let session = Session::start(&cli)?;
            let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut OsRng);
            let (recipient_id, sender_id, server_dh_key) =
                match session.request(&server, Request::create(&keys))? {
                    Reply::Ids {
                        recipient_id,
                        sender_id,
                        server_dh_key,
                    } => (recipient_id, sender_id, server_dh_key),
                    other => bail!("unexpected answer {other:?}"),
                };
            let state = QueueState {
                server,
                recipient_id,
                sender_id,
                recipient_key: keys.sign_key,
                dh_key: keys.dh_key,
                server_dh_key,
                sender_key: None,
                notifier: None,
            };
            save(&dir, name, &state)?;
            print(&[("queue", name.clone())])?;
            show(&state)?;
        }
        Command::Secure { name } => {
            let mut state = load(&dir, name)?;
            let pending = securing_path(&dir, name)?;
            if state.sender_key.is_some() {
                // A crash after the queue file took the key left the marker behind.
                let _ = std::fs::remove_file(&pending);
                bail!("queue {name:?} is secured already");
            }
            // The key is on disk before the server hears of it, so a crash between the two
            // never leaves a queue secured with a key nobody has.
            let (sender_key, resumed) = match pending_sender_key(&pending)? {
                Some(key) => (key, true),
                None => {
                    let key = generate_sign_key(SignAlgorithm::Ed448, &mut OsRng);
                    let line = Zeroizing::new(format!("sender_key={}\n", key.to_base64url()));
                    write_private(&dir, &pending, line.as_bytes())?;
                    (key, false)
                }
            };
            let session = Session::start(&cli)?;
            let request = Request::signed(
                state.recipient_id.clone(),
                &state.recipient_key,
                SmpCommand::Key(sender_key.verify_key()),
            );
            match session
                .client
                .request(&state.server, request, session.timeout)
            {
                Ok(Reply::Ok) => {}
                // Resuming: only the holder of the recipient key can send KEY, so a queue
                // that refuses it now was secured by the earlier try with this same key,
                // whose answer was lost (v3.2.0 servers answer AUTH to any second KEY).
                Err(RuntimeError::Request(RequestError::Protocol(ErrorType::Auth))) if resumed => {}
                // Refused: the key was never set, so it is of no use.
                Err(RuntimeError::Request(RequestError::Protocol(e))) => {
                    std::fs::remove_file(&pending)?;
                    bail!("KEY failed: the server answered {e:?}");
                }
                // No answer (or a strange one): the key may or may not be set; a rerun
                // tries again with the same key.
                Ok(other) => bail!("unexpected answer {other:?}; rerun to finish securing"),
                Err(e) => return Err(e).context("KEY failed; rerun to finish securing"),
            }
            state.sender_key = Some(sender_key);
            save(&dir, name, &state)?;
            std::fs::remove_file(&pending)?;
            print(&[("secured", "yes".into())])?;
        }
        Command::Send {
            name,
            to,
            sender_key,
            notify,
            message,
        } => {
            let (server, sender_id, key) = match (name, to) {
                (Some(name), _) => {
                    let state = load(&dir, name)?;
                    (state.server, state.sender_id, state.sender_key)
                }
                (None, Some(to)) => {
                    let (server, id) = to
                        .rsplit_once('#')
                        .context("a sender address is SERVER#SENDER_ID")?;
                    let key = sender_key
                        .as_deref()
                        .map(SignKey::from_base64url)
                        .transpose()
                        .map_err(|e| anyhow::anyhow!("bad --sender-key: {e}"))?;
                    (
                        parse_server(server)?,
                        parse_id(id).context("bad sender id")?,
                        key,
                    )
                }
                (None, None) => bail!("name a queue or give --to"),
            };
            let session = Session::start(&cli)?;
            let flags = MsgFlags {
                notification: *notify,
            };
            let body = Bytes::from(message.clone().into_bytes());
            session.expect_ok(&server, Request::send(sender_id, key.as_ref(), flags, body))?;
            print(&[("sent", "yes".into())])?;
        }
        Command::Receive { name, ack, wait } => {
            let state = load(&dir, name)?;
            let mut session = Session::start(&cli)?;
            return receive(&mut session, &state, *ack, Duration::from_secs(*wait));
        }
        Command::Notifications { name } => {
            let mut state = load(&dir, name)?;
            if state.notifier.is_some() {
                bail!("queue {name:?} has notifications already");
            }
            let session = Session::start(&cli)?;
            let notifier_key = generate_sign_key(SignAlgorithm::Ed448, &mut OsRng);
            let dh_key = x25519::PrivateKey::generate(&mut OsRng);
            let request = Request::signed(
                state.recipient_id.clone(),
                &state.recipient_key,
                SmpCommand::NKey {
                    notifier_key: notifier_key.verify_key(),
                    dh_key: dh_key.public_key(),
                },
            );
            let (notifier_id, server_dh_key) = match session.request(&state.server, request)? {
                Reply::Nid {
                    notifier_id,
                    server_dh_key,
                } => (notifier_id, server_dh_key),
                other => bail!("unexpected answer {other:?}"),
            };
            print(&[("notifier_id", id_text(&notifier_id))])?;
            state.notifier = Some(NotifierState {
                notifier_id,
                notifier_key,
                dh_key,
                server_dh_key,
            });
            save(&dir, name, &state)?;
        }
        Command::Delete { name } => {
            let state = load(&dir, name)?;
            let session = Session::start(&cli)?;
            let request = Request::signed(
                state.recipient_id.clone(),
                &state.recipient_key,
                SmpCommand::Del,
            );
            session.expect_ok(&state.server, request)?;
            std::fs::remove_file(queue_path(&dir, name)?)?;
            let _ = std::fs::remove_file(securing_path(&dir, name)?);
            print(&[("deleted", name.clone())])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(state: &QueueState) -> Result<()> {
    let mut lines = vec![
        ("server", server_text(&state.server)),
        ("recipient_id", id_text(&state.recipient_id)),
        ("sender_id", id_text(&state.sender_id)),
        ("sender_address", sender_address(state)),
        (
            "secured",
            if state.sender_key.is_some() {
                "yes"
            } else {
                "no"
            }
            .into(),
        ),
        (
            "notifications",
            if state.notifier.is_some() {
                "yes"
            } else {
                "no"
            }
            .into(),
        ),
    ];
    if let Some(n) = &state.notifier {
        lines.push(("notifier_id", id_text(&n.notifier_id)));
    }
    print(&lines)
}

/// Subscribes and takes the first message (delivered in answer to `SUB`, or within `wait`).
fn receive(
    session: &mut Session,
    state: &QueueState,
    ack: bool,
    wait: Duration,
) -> Result<ExitCode> {
    let body_key = simplex_core::client::body_key(&state.dh_key, &state.server_dh_key)
        .context("the queue's keys do not agree")?;
    let queue_id: EntityId = state.recipient_id.clone();
    let sub = QueueSubscription {
        party: SubParty::Recipient,
        queue_id: queue_id.clone(),
        sign_key: state.recipient_key.clone(),
        body_key: Some(body_key),
    };
    let timeout = session.timeout;
    session
        .client
        .subscribe_wait(&state.server, sub, timeout)
        .context("SUB failed")?;
    let until = std::time::Instant::now() + wait;
    let message = loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match session.client.next_event(left) {
            Some(ManagerEvent::Message {
                queue_id: q,
                message,
                ..
            }) if q == queue_id => break Some(message),
            Some(_) => {}
            None => break None,
        }
    };
    let Some(message) = message else {
        print(&[("message", "none".into())])?;
        return Ok(ExitCode::from(NO_MESSAGE));
    };
    let message = message.map_err(|e| anyhow::anyhow!("the message does not open: {e}"))?;
    print(&[
        (
            "msg_id",
            simplex_core::encoding::string::base64url_encode(message.msg_id.as_bytes()),
        ),
        ("timestamp", message.timestamp.seconds.to_string()),
        (
            "notification",
            if message.flags.notification {
                "yes"
            } else {
                "no"
            }
            .into(),
        ),
        ("body", String::from_utf8_lossy(&message.body).into_owned()),
    ])?;
    if ack {
        session.expect_ok(
            &state.server,
            Request::ack(queue_id, &state.recipient_key, message.msg_id),
        )?;
        print(&[("acked", "yes".into())])?;
    }
    Ok(ExitCode::SUCCESS)
}
