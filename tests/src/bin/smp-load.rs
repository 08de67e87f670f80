//! `smp-load`: a load generator for an SMP server. It runs N senders and N recipients (one
//! queue per pair, each on its own TLS connection) against a server address, and reports
//! messages per second, p50/p99 SEND→MSG latency and, given the server's pid, its RSS and CPU.
//! The pairs are shared out among `--threads` threads (default: one per core), each polling
//! its connections, so that the load generator costs the server it measures no more wake-ups
//! than it must.
//!
//!     smp-load --server smp://FINGERPRINT@127.0.0.1:5223 --pairs 20 --messages 500 --pid PID
//!
//! `--window W` bounds the messages in flight per pair (default 1: each SEND waits until the
//! previous message arrived, so the latency measured has no queueing in it). `--websockets`
//! connects with WebSocket framing (give the server's WebSockets port in the address).
//!
//! `--keys mixed|ed25519|ed448` picks the queue keys (mixed: Ed448 recipient, Ed25519 sender).
//! `--floor` then measures, in this process after the run, the primitives a server cannot
//! avoid per message (`simplex_tests::floor`) and compares the server's CPU per message with
//! that floor (needs `--pid`).
//!
//!     smp-load --server smp://FP@127.0.0.1:5223 --idle 10000 --hold 30 --pid PID
//!
//! holds N idle connections (TLS and SMP hello done, nothing sent) for SECS seconds, then
//! checks that a sample of them still answers `PING`, and reports the server's RSS per
//! connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::ToSocketAddrs;
use std::sync::{mpsc, Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::protocol::{BrokerMsg, Command, MsgFlags};
use simplex_core::transport::Framing;
use simplex_tests::net::{open_message, NetClient};

const T: Duration = Duration::from_secs(30);

static ORIGIN: OnceLock<Instant> = OnceLock::new();

fn micros() -> u64 {
    ORIGIN.get_or_init(Instant::now).elapsed().as_micros() as u64
}

struct Args {
    server: String,
    pairs: usize,
    messages: usize,
    pid: Option<u32>,
    body: usize,
    window: usize,
    keys: (Algorithm, Algorithm),
    floor: bool,
    idle: usize,
    hold: u64,
    framing: Framing,
    threads: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        server: String::new(),
        pairs: 10,
        messages: 200,
        pid: None,
        body: 256,
        window: 1,
        keys: (Algorithm::Ed448, Algorithm::Ed25519),
        floor: false,
        idle: 0,
        hold: 10,
        framing: Framing::Raw,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--server" => args.server = value(),
            "--pairs" => args.pairs = value().parse().unwrap_or_else(|_| usage("--pairs N")),
            "--messages" => {
                args.messages = value().parse().unwrap_or_else(|_| usage("--messages M"))
            }
            "--pid" => args.pid = Some(value().parse().unwrap_or_else(|_| usage("--pid PID"))),
            "--body" => args.body = value().parse().unwrap_or_else(|_| usage("--body BYTES")),
            "--window" => args.window = value().parse().unwrap_or_else(|_| usage("--window W")),
            "--keys" => {
                args.keys = match value().as_str() {
                    "mixed" => (Algorithm::Ed448, Algorithm::Ed25519),
                    "ed25519" => (Algorithm::Ed25519, Algorithm::Ed25519),
                    "ed448" => (Algorithm::Ed448, Algorithm::Ed448),
                    _ => usage("--keys mixed|ed25519|ed448"),
                }
            }
            "--floor" => args.floor = true,
            "--idle" => args.idle = value().parse().unwrap_or_else(|_| usage("--idle N")),
            "--hold" => args.hold = value().parse().unwrap_or_else(|_| usage("--hold SECS")),
            "--websockets" => args.framing = Framing::WebSocket,
            "--threads" => args.threads = value().parse().unwrap_or_else(|_| usage("--threads N")),
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.server.is_empty() {
        usage("--server is required");
    }
    args.body = args.body.clamp(8, 15_000);
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("smp-load: {problem}");
    }
    eprintln!(
        "usage: smp-load --server smp://FINGERPRINT@HOST:PORT [--pairs N] [--messages M] \
         [--body BYTES] [--window W] [--keys mixed|ed25519|ed448] [--floor] [--pid SERVER_PID] [--websockets] [--threads N]\n\
         \x20      smp-load --server ... --idle N [--hold SECS] [--pid SERVER_PID]\n\
         --window: messages a sender may have sent and its recipient not yet received \
         (default 1: each SEND waits for the previous MSG, so latency has no queueing in it)"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The process's (user, system) CPU time in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

fn key(alg: Algorithm, seed: u64) -> SignKey {
    let len = if alg == Algorithm::Ed448 { 57 } else { 32 };
    let mut raw = vec![0u8; len];
    raw[..8].copy_from_slice(&seed.to_le_bytes());
    raw[len - 1] = 1;
    SignKey::try_from(PrivateKey::from_raw(alg, &raw).unwrap()).unwrap()
}

/// What every pair of a run does.
#[derive(Clone, Copy)]
struct Run {
    messages: usize,
    window: usize,
    body: usize,
}

/// One sender and one recipient of one queue, driven by a thread that polls many pairs: a
/// thread per connection blocked in `read` made the server pay for waking one of twenty threads
/// on every block it sent, and their scheduling disturbed the server on a small machine.
struct Pair {
    index: usize,
    run: Run,
    recipient: NetClient,
    rid: Vec<u8>,
    rkey: SignKey,
    body_key: simplex_core::crypto::cbox::CbKey,
    sender: NetClient,
    sid: Vec<u8>,
    skey: SignKey,
    /// Messages the server accepted (answered `OK`).
    sent: usize,
    /// A `SEND` is waiting for its answer.
    awaiting_answer: bool,
    /// After `ERR QUOTA` (the recipient is behind), the next try waits until then.
    retry_at: Option<Instant>,
    latencies: Vec<u64>,
    body: Vec<u8>,
}

impl Pair {
    /// Connects both clients, makes and secures the queue.
    fn connect(
        p: usize,
        addr: std::net::SocketAddr,
        key_hash: KeyHash,
        (recipient_alg, sender_alg): (Algorithm, Algorithm),
        framing: Framing,
        run: Run,
    ) -> Pair {
        let mut recipient =
            NetClient::connect_framed(addr, key_hash, 2 * p as u64, T, framing).unwrap();
        let sender =
            NetClient::connect_framed(addr, key_hash, 2 * p as u64 + 1, T, framing).unwrap();
        let rkey = key(recipient_alg, p as u64);
        let skey = key(sender_alg, p as u64);
        let dh = x25519::PrivateKey::from_bytes(&[p as u8 ^ 0x5a; 32]);
        let queue = recipient.secured_queue(&rkey, &skey, &dh, T).unwrap();
        Pair {
            index: p,
            run,
            recipient,
            rid: queue.rid,
            rkey,
            body_key: queue.body_key,
            sender,
            sid: queue.sid,
            skey,
            sent: 0,
            awaiting_answer: false,
            retry_at: None,
            latencies: Vec::with_capacity(run.messages),
            body: vec![b'x'; run.body],
        }
    }

    fn done(&self) -> bool {
        self.latencies.len() >= self.run.messages
    }

    /// Sends the next message if the window and the last answer allow.
    fn try_send(&mut self, now: Instant) {
        let window_open = self.sent < self.latencies.len() + self.run.window;
        let retry_due = self.retry_at.is_none_or(|t| t <= now);
        if self.awaiting_answer || !window_open || !retry_due || self.sent >= self.run.messages {
            return;
        }
        self.retry_at = None;
        self.body[..8].copy_from_slice(&micros().to_be_bytes());
        let send = Command::Send {
            flags: MsgFlags::default(),
            body: Bytes::copy_from_slice(&self.body),
        };
        let corr = format!("{}", self.sent % 1000);
        self.sender
            .send(&corr, &self.sid, &send, Some(&self.skey))
            .unwrap();
        self.awaiting_answer = true;
    }

    /// Handles what the sender's connection received.
    fn on_sender(&mut self, now: Instant) {
        self.sender.pump().unwrap();
        while let Some(t) = self.sender.next_received() {
            match t.message {
                Ok(BrokerMsg::Ok) => {
                    self.awaiting_answer = false;
                    self.sent += 1;
                }
                // A full queue (the recipient is behind) is retried, as a client does.
                Ok(BrokerMsg::Err(simplex_core::protocol::ErrorType::Quota)) => {
                    self.awaiting_answer = false;
                    self.retry_at = Some(now + Duration::from_millis(2));
                }
                other => panic!("pair {}: SEND answered {other:?}", self.index),
            }
        }
        self.try_send(now);
    }

    /// Handles what the recipient's connection received: each message is opened, timed and
    /// acknowledged (the `OK`s to `ACK` are not waited for).
    fn on_recipient(&mut self, now: Instant) {
        self.recipient.pump().unwrap();
        while let Some(t) = self.recipient.next_received() {
            let Ok(BrokerMsg::Msg(m)) = t.message else {
                continue;
            };
            let arrived = micros();
            let body = open_message(&self.body_key, &m).unwrap();
            let sent = u64::from_be_bytes(body[..8].try_into().unwrap());
            self.latencies.push(arrived.saturating_sub(sent));
            let ack = Command::Ack(m.msg_id.clone());
            self.recipient
                .send("a", &self.rid, &ack, Some(&self.rkey))
                .unwrap();
        }
        self.try_send(now);
    }
}

/// Runs `pairs` to the end on this thread: every connection registered (edge-triggered) with
/// one poller, each readable one pumped. Panics if nothing arrives for [`T`].
fn drive(pairs: &mut [Pair]) {
    let mut poll = mio::Poll::new().unwrap();
    for (i, pair) in pairs.iter_mut().enumerate() {
        pair.recipient.set_nonblocking().unwrap();
        pair.sender.set_nonblocking().unwrap();
        for (side, fd) in [(0, pair.recipient.raw_fd()), (1, pair.sender.raw_fd())] {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    mio::Token(2 * i + side),
                    mio::Interest::READABLE,
                )
                .unwrap();
        }
    }
    let now = Instant::now();
    for pair in pairs.iter_mut() {
        // Bytes may have come before the registration.
        pair.on_recipient(now);
        pair.on_sender(now);
    }
    let mut events = mio::Events::with_capacity(64);
    let mut last_progress = Instant::now();
    while !pairs.iter().all(Pair::done) {
        let now = Instant::now();
        let next_retry = pairs.iter().filter_map(|p| p.retry_at).min();
        let wait = next_retry.map_or(Duration::from_millis(100), |t| {
            t.saturating_duration_since(now)
                .min(Duration::from_millis(100))
        });
        match poll.poll(&mut events, Some(wait)) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            result => result.unwrap(),
        }
        let now = Instant::now();
        for event in events.iter() {
            let Some(pair) = pairs.get_mut(event.token().0 / 2) else {
                continue;
            };
            if event.token().0 % 2 == 0 {
                pair.on_recipient(now);
            } else {
                pair.on_sender(now);
            }
        }
        if !events.is_empty() {
            last_progress = now;
        }
        for pair in pairs.iter_mut().filter(|p| p.retry_at.is_some()) {
            pair.try_send(now);
        }
        if now.duration_since(last_progress) > T {
            let stuck: Vec<_> = pairs
                .iter()
                .filter(|p| !p.done())
                .map(|p| (p.index, p.sent, p.latencies.len()))
                .collect();
            panic!("no progress for {T:?}: (pair, sent, received) {stuck:?}");
        }
    }
}

fn main() {
    let args = parse_args();
    let rest = args
        .server
        .strip_prefix("smp://")
        .unwrap_or_else(|| usage("the address starts with smp://"));
    let (fp, host_port) = rest
        .split_once('@')
        .unwrap_or_else(|| usage("smp://FINGERPRINT@HOST:PORT"));
    let key_hash = KeyHash::from_base64url(fp).unwrap_or_else(|_| usage("bad fingerprint"));
    let addr = host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage("bad host:port"));
    let _ = micros();
    if args.idle > 0 {
        return hold_idle(&args, addr, key_hash);
    }
    let rss_before = args.pid.and_then(rss_kib);
    let mut cpu_before = None;

    let (lat_tx, lat_rx) = mpsc::channel::<Vec<u64>>();
    let threads_used = args.threads.clamp(1, args.pairs.max(1));
    let start_line = Arc::new(Barrier::new(threads_used + 1));
    let mut threads = Vec::new();
    for t in 0..threads_used {
        let lat_tx = lat_tx.clone();
        let barrier = start_line.clone();
        let run = Run {
            messages: args.messages,
            window: args.window.max(1),
            body: args.body,
        };
        let (keys, framing) = (args.keys, args.framing);
        let mine: Vec<usize> = (t..args.pairs).step_by(threads_used).collect();
        threads.push(std::thread::spawn(move || {
            let mut pairs: Vec<Pair> = mine
                .into_iter()
                .map(|p| Pair::connect(p, addr, key_hash, keys, framing, run))
                .collect();
            barrier.wait();
            drive(&mut pairs);
            for pair in pairs {
                lat_tx.send(pair.latencies).unwrap();
            }
        }));
    }
    drop(lat_tx);
    start_line.wait();
    let started = Instant::now();
    if let Some(pid) = args.pid {
        cpu_before = cpu_ticks(pid);
    }
    let mut rss_peak = rss_before;
    let mut all = Vec::new();
    loop {
        match lat_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => all.extend(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(r) = args.pid.and_then(rss_kib) {
            rss_peak = Some(rss_peak.map_or(r, |p| p.max(r)));
        }
    }
    let elapsed = started.elapsed();
    for t in threads {
        t.join().unwrap();
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "pairs={} window={} messages={} body={}B elapsed={:.2}s rate={:.0} msg/s p50={:.2}ms p99={:.2}ms",
        args.pairs,
        args.window,
        all.len(),
        args.body,
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
    );
    if let Some(pid) = args.pid {
        let (user, system) = cpu_ticks(pid)
            .zip(cpu_before)
            .map_or((0, 0), |((u1, s1), (u0, s0))| {
                (u1.saturating_sub(u0), s1.saturating_sub(s0))
            });
        let messages = all.len().max(1) as f64;
        let cpu_secs = (user + system) as f64 / 100.0;
        let per_msg = cpu_secs * 1e6 / messages;
        let user_per_msg = user as f64 / 100.0 * 1e6 / messages;
        println!(
            "server pid={pid} rss_before={}KiB rss_peak={}KiB rss_after={}KiB cpu={:.2}s \
             ({:.2} cores, {:.0} µs/msg: {:.0} user + {:.0} kernel)",
            rss_before.unwrap_or(0),
            rss_peak.unwrap_or(0),
            rss_kib(pid).unwrap_or(0),
            cpu_secs,
            cpu_secs / elapsed.as_secs_f64(),
            per_msg,
            user_per_msg,
            per_msg - user_per_msg,
        );
        if args.floor {
            let (recipient_alg, sender_alg) = args.keys;
            let floor = simplex_tests::floor::measure(sender_alg, recipient_alg);
            println!(
                "floor: verify sender {:.1} µs + verify recipient {:.1} µs + crypto_box {:.1} µs \
                 + 2.5 × TLS record (out and in) {:.1} µs = {:.1} µs/msg",
                floor.verify_sender_us,
                floor.verify_recipient_us,
                floor.cbox_us,
                floor.tls_record_us,
                floor.per_message_us(),
            );
            println!(
                "relay speed against the floor, per core used: {:.0}% counting all server CPU, \
                 {:.0}% counting its user-space CPU (the kernel's share: loopback TCP, and thread wake-ups with several workers)",
                floor.per_message_us() / per_msg * 100.0,
                floor.per_message_us() / user_per_msg * 100.0,
            );
        }
    }
}

/// `--idle N`: connects N clients (TLS and SMP hello), holds them idle, then checks a sample.
fn hold_idle(args: &Args, addr: std::net::SocketAddr, key_hash: KeyHash) {
    let rss_before = args.pid.and_then(rss_kib);
    let started = Instant::now();
    // Two connecting threads (handshakes cost the client an Ed448 chain check each).
    let per_thread = args.idle.div_ceil(2);
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let count = per_thread.min(args.idle.saturating_sub(t * per_thread));
            let framing = args.framing;
            std::thread::spawn(move || {
                (0..count)
                    .map(|i| {
                        let seed = (t * per_thread + i) as u64;
                        NetClient::connect_framed(addr, key_hash, seed, T, framing)
                            .unwrap_or_else(|e| panic!("connection {seed}: {e}"))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut clients: Vec<NetClient> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let connected = started.elapsed();
    let rss_connected = args.pid.and_then(rss_kib);
    println!(
        "idle: {} connections established in {:.1}s; holding {}s",
        clients.len(),
        connected.as_secs_f64(),
        args.hold
    );
    std::thread::sleep(Duration::from_secs(args.hold));
    let rss_held = args.pid.and_then(rss_kib);
    // Every 100th connection (and the last) must still answer.
    let step = 100.min(clients.len().max(1));
    let mut checked = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        if i % step == 0 || i + 1 == args.idle {
            let answer = c.request("p", &[], &Command::Ping, None, T).unwrap();
            assert_eq!(answer, BrokerMsg::Pong, "connection {i}");
            checked += 1;
        }
    }
    println!("idle: {checked} sampled connections answered PING after the hold");
    if let (Some(before), Some(connected), Some(held)) = (rss_before, rss_connected, rss_held) {
        println!(
            "server rss: {before} KiB before, {connected} KiB connected, {held} KiB after the \
             hold: {:.1} KiB per idle connection",
            (held as f64 - before as f64) / clients.len() as f64
        );
    }
}
