//! The mio shell: one poll loop that accepts TCP sockets (when given a listener), dials the
//! ones the service asks for, reads and writes them without blocking, keeps the clocks and the
//! service's timer, and stops on a [`StopFlag`]. Every decision is the [`Service`]'s (see
//! `simplex_core::driver`); this crate only moves bytes.
//!
//! [`run_workers`] runs several services as one server, one loop per thread: the first accepts
//! and deals the sockets out in turn, and each loop then owns its sockets to the end (see
//! [`simplex_core::driver::Workers`]).
//!
//! Dialling resolves a name and may wait on the network, so each dial runs on a short-lived
//! thread that hands the open stream back to the loop and wakes it.
//!
//! A slow or stalled peer costs its socket and its buffered bytes, never the loop: reads and
//! writes never block, and the service's handshake timeout closes peers that never finish.

use simplex_core::time::Clock;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use simplex_core::client::KeepAlive;
use simplex_core::driver::{
    instant_since_origin, unix_time, ListenerId, Service, ShellInput, ShellLimits, SocketAction,
    SocketId, StopFlag, Workers,
};

use simplex_io_common::dial::dial_blocking;
use simplex_io_common::threads;
use simplex_io_common::unsent::Unsent;

const WAKE: Token = Token(usize::MAX);

/// Listeners take the tokens just below [`WAKE`]; accepted sockets count up from 1 and dialled
/// ones from `FIRST_OUTGOING_SOCKET`, far below.
fn listener_token(listener: ListenerId) -> Token {
    Token(usize::MAX - 1 - listener)
}
/// The longest the loop sleeps without looking at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Reads from one socket per turn of the loop at most, so a peer that keeps sending cannot
/// starve the others; the rest waits for the next turn.
const READS_PER_TURN: usize = 16;

/// A finished dial: the socket's id and its stream, or why there is none.
type Dialled = (SocketId, io::Result<std::net::TcpStream>);

/// A socket accepted by the first worker for another one, with the listener it came on.
type DealtSocket = (TcpStream, ListenerId);

/// What the workers of one server share: where accepted sockets are dealt, and how many
/// sockets are open in all of them (the bound [`ShellLimits::max_connections`] is the
/// server's, not one worker's).
struct Dealer {
    /// Each worker's inbox of dealt sockets and the waker of its loop.
    inboxes: Vec<(mpsc::Sender<DealtSocket>, Arc<mio::Waker>)>,
    /// Open sockets, all workers together.
    open: AtomicUsize,
}

struct Socket {
    stream: TcpStream,
    unsent: Unsent,
    /// Set when the service closed it: no more reads, close once flushed or at this time.
    closing_by: Option<std::time::Instant>,
    wants_write: bool,
    /// The peer's end of stream (or an error) was signalled: read on until the socket says so
    /// itself, since no further edge will come.
    read_closed: bool,
}

struct Shell<'a, S: Service> {
    service: &'a mut S,
    limits: ShellLimits,
    poll: Poll,
    sockets: HashMap<SocketId, Socket>,
    /// This loop's place among the workers, and so the ids it gives sockets.
    workers: Workers,
    /// The id the next accepted socket gets here.
    next_id: SocketId,
    /// The worker the next accepted socket goes to (only the first worker accepts).
    next_worker: usize,
    dealer: Arc<Dealer>,
    /// Sockets dealt to this loop by the first worker.
    dealt: mpsc::Receiver<DealtSocket>,
    origin: std::time::Instant,
    actions: Vec<SocketAction>,
    deadline: Option<std::time::Instant>,
    read_buf: Vec<u8>,
    /// Sockets the service closed that still hold unsent bytes.
    closing: Vec<SocketId>,
    /// Sockets that had more to read when their turn ended.
    backlog: Vec<SocketId>,
    /// Outgoing sockets being dialled (forgotten if the service closes them meanwhile).
    dialling: std::collections::HashSet<SocketId>,
    dialled_tx: mpsc::Sender<Dialled>,
    waker: std::sync::Arc<mio::Waker>,
}

/// Runs `service` on `listener` until `stop` is set, then stops it gracefully: the service's
/// last writes (TLS close_notify) are flushed for at most [`ShellLimits::close_grace`] and every
/// socket is closed.
pub fn run<S: Service>(
    listener: std::net::TcpListener,
    service: &mut S,
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    run_listeners(vec![listener], service, stop, limits)
}

/// Runs `service` with no listener (a client: every socket is one it asked to dial) until
/// `stop` is set, then stops it gracefully as [`run`] does.
pub fn run_outgoing<S: Service>(
    service: &mut S,
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    run_listeners(Vec::new(), service, stop, limits)
}

/// [`run`] on several listeners (or none, as [`run_outgoing`]); sockets accepted on
/// `listeners[i]` come with [`ListenerId`] `i`.
pub fn run_listeners<S: Service>(
    listeners: Vec<std::net::TcpListener>,
    service: &mut S,
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    let (mut loops, dealer) = prepare_loops(1)?;
    let (poll, dealt) = loops.pop().ok_or_else(|| io::Error::other("no loop"))?;
    run_loop(
        Workers::single(),
        poll,
        dealt,
        dealer,
        listeners,
        service,
        stop,
        limits,
    )
}

/// Runs `services` as one server, each on a loop of its own thread (the first on the calling
/// thread), until `stop` is set; each then stops gracefully as in [`run`]. The first loop
/// accepts on `listeners` and deals the sockets out in turn, worker `i` taking ids
/// [`Workers::first_socket`] onwards in steps of the number of workers, so that
/// [`Workers::owner`] of an id names the worker holding it. A service learns its place by
/// [`Service::set_waker`]'s companion [`Service::set_workers`].
pub fn run_workers<S: Service + Send>(
    listeners: Vec<std::net::TcpListener>,
    services: &mut [S],
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    let (loops, dealer) = prepare_loops(services.len())?;
    // The first loop accepts; the others hear of their sockets from it.
    let mut listeners = Some(listeners);
    let parts: Vec<_> = loops
        .into_iter()
        .map(|(poll, dealt)| (poll, dealt, listeners.take().unwrap_or_default()))
        .collect();
    threads::run_each(
        services,
        parts,
        stop,
        |workers, (poll, dealt, listeners), service| {
            run_loop(
                workers,
                poll,
                dealt,
                dealer.clone(),
                listeners,
                service,
                stop,
                limits,
            )
        },
    )
}

/// A poll and an inbox of dealt sockets for each of `count` loops, and the dealer that
/// reaches them all.
fn prepare_loops(count: usize) -> io::Result<(Vec<LoopParts>, Arc<Dealer>)> {
    let mut parts = Vec::new();
    let mut inboxes = Vec::new();
    for _ in 0..count.max(1) {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = mpsc::channel();
        inboxes.push((tx, waker));
        parts.push((poll, rx));
    }
    let dealer = Arc::new(Dealer {
        inboxes,
        open: AtomicUsize::new(0),
    });
    Ok((parts, dealer))
}

/// One loop's poll and its inbox of dealt sockets.
type LoopParts = (Poll, mpsc::Receiver<DealtSocket>);

#[allow(clippy::too_many_arguments)]
fn run_loop<S: Service>(
    workers: Workers,
    poll: Poll,
    dealt: mpsc::Receiver<DealtSocket>,
    dealer: Arc<Dealer>,
    listeners: Vec<std::net::TcpListener>,
    service: &mut S,
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    let mut listeners = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry()
                .register(&mut listener, listener_token(i), Interest::READABLE)?;
            Ok(listener)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let waker = dealer
        .inboxes
        .get(workers.index())
        .map(|(_, w)| w.clone())
        .ok_or_else(|| io::Error::other("no waker for this worker"))?;
    let (dialled_tx, dialled_rx) = mpsc::channel();
    let mut shell = Shell {
        service,
        limits,
        poll,
        sockets: HashMap::new(),
        workers,
        next_id: workers.first_socket(),
        next_worker: 0,
        dealer,
        dealt,
        origin: std::time::Instant::now(),
        actions: Vec::new(),
        deadline: None,
        read_buf: vec![0; 64 * 1024],
        closing: Vec::new(),
        backlog: Vec::new(),
        dialling: std::collections::HashSet::new(),
        dialled_tx,
        waker: waker.clone(),
    };
    shell.service.set_workers(workers);
    shell
        .service
        .set_waker(std::sync::Arc::new(move || drop(waker.wake())));
    let mut events = Events::with_capacity(1024);
    shell.feed(ShellInput::Tick);
    while !stop.is_stopped() {
        let now = std::time::Instant::now();
        let wait = shell.deadline.map_or(STOP_POLL, |d| {
            d.saturating_duration_since(now).min(STOP_POLL)
        });
        match shell.poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let mut woken = false;
        for event in events.iter() {
            if event.token() == WAKE {
                woken = true;
                continue;
            }
            if let Some(i) = (0..listeners.len()).find(|i| event.token() == listener_token(*i)) {
                if let Some(listener) = listeners.get(i) {
                    shell.accept_all(listener, i);
                }
                continue;
            }
            let id = event.token().0 as SocketId;
            if event.is_writable() {
                shell.flush(id);
            }
            if event.is_read_closed() || event.is_error() {
                if let Some(s) = shell.sockets.get_mut(&id) {
                    s.read_closed = true;
                }
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                shell.read(id);
            }
        }
        while let Ok((id, result)) = dialled_rx.try_recv() {
            shell.dialled(id, result);
        }
        while let Ok((stream, on)) = shell.dealt.try_recv() {
            shell.adopt(stream, on);
        }
        for id in std::mem::take(&mut shell.backlog) {
            shell.read(id);
        }
        shell.expire_closing();
        if woken
            || shell
                .deadline
                .is_some_and(|d| d <= std::time::Instant::now())
        {
            shell.feed(ShellInput::Tick);
        }
    }
    listeners.clear();
    shell.shutdown();
    Ok(())
}

impl<S: Service> Shell<'_, S> {
    fn clock(&self) -> Clock {
        Clock {
            now: instant_since_origin(self.origin.elapsed()),
            wall_clock: unix_time(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
        }
    }

    /// Feeds one input and carries out the socket actions it caused.
    fn feed(&mut self, input: ShellInput<'_>) {
        let clock = self.clock();
        let mut actions = std::mem::take(&mut self.actions);
        let deadline = self.service.handle(clock, input, &mut actions);
        self.deadline = deadline.map(|d| {
            let after = d.saturating_duration_since(clock.now);
            std::time::Instant::now() + after
        });
        let mut dropped = Vec::new();
        for action in actions.drain(..) {
            match action {
                SocketAction::Write(id, bytes) => {
                    if let Some(s) = self.sockets.get_mut(&id) {
                        s.unsent.push(bytes);
                        if s.unsent.len() > self.limits.max_unsent_bytes {
                            dropped.push(id);
                        } else {
                            self.flush(id);
                        }
                    }
                }
                SocketAction::Connect {
                    socket,
                    host,
                    port,
                    keep_alive,
                } => self.dial(socket, host, port, keep_alive),
                SocketAction::Close(id) => {
                    self.dialling.remove(&id);
                    if let Some(s) = self.sockets.get_mut(&id) {
                        s.closing_by = Some(std::time::Instant::now() + self.limits.close_grace);
                        self.closing.push(id);
                        self.flush(id);
                    }
                }
            }
        }
        self.actions = actions;
        for id in dropped {
            self.remove(id);
            self.feed(ShellInput::PeerClosed(id));
        }
    }

    /// Dials on a thread of its own; the loop picks the result up in [`Shell::dialled`].
    fn dial(&mut self, id: SocketId, host: String, port: u16, keep_alive: Option<KeepAlive>) {
        if self.sockets.contains_key(&id) || !self.dialling.insert(id) {
            return; // an id in use: the service's mistake, ignored
        }
        let tx = self.dialled_tx.clone();
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("dial".into())
            .spawn(move || {
                let _ = tx.send((id, dial_blocking(&host, port, keep_alive.as_ref())));
                let _ = waker.wake();
            });
        if spawned.is_err() {
            self.dialling.remove(&id);
            self.feed(ShellInput::ConnectFailed(id));
        }
    }

    /// A dial finished: the socket joins the loop, or the service hears it failed.
    fn dialled(&mut self, id: SocketId, result: io::Result<std::net::TcpStream>) {
        if !self.dialling.remove(&id) {
            return; // the service closed it meanwhile
        }
        let inserted = result.and_then(|stream| {
            stream.set_nonblocking(true)?;
            let _ = stream.set_nodelay(true);
            self.insert(id, TcpStream::from_std(stream))
        });
        match inserted {
            Ok(()) => {
                self.dealer.open.fetch_add(1, Ordering::Relaxed);
                self.feed(ShellInput::Connected(id));
                // Bytes may have arrived before the registration.
                self.read(id);
            }
            Err(_) => self.feed(ShellInput::ConnectFailed(id)),
        }
    }

    /// Accepts what is pending and deals it out: to this loop or, in turn, to the others.
    fn accept_all(&mut self, listener: &TcpListener, on: ListenerId) {
        loop {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    if self.dealer.open.load(Ordering::Relaxed) >= self.limits.max_connections {
                        continue; // dropped: closed at once
                    }
                    let _ = stream.set_nodelay(true);
                    // Counted open from here, so that the next accept of a burst sees it.
                    self.dealer.open.fetch_add(1, Ordering::Relaxed);
                    let to = self.next_worker;
                    self.next_worker = (to + 1) % self.workers.count();
                    if to == self.workers.index() {
                        self.adopt(stream, on);
                    } else if let Some((inbox, waker)) = self.dealer.inboxes.get(to) {
                        if inbox.send((stream, on)).is_ok() {
                            let _ = waker.wake();
                        } else {
                            self.dealer.open.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of descriptors and the like: try again at the next readiness.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    return;
                }
            }
        }
    }

    /// Takes an accepted socket (already counted open) into this loop under its next id.
    fn adopt(&mut self, stream: TcpStream, on: ListenerId) {
        let id = self.next_id;
        self.next_id += self.workers.count() as SocketId;
        if self.insert(id, stream).is_ok() {
            self.feed(ShellInput::Accepted(id, on));
        } else {
            self.dealer.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Registers a socket (counted open by the caller).
    fn insert(&mut self, id: SocketId, mut stream: TcpStream) -> io::Result<()> {
        self.poll
            .registry()
            .register(&mut stream, Token(id as usize), Interest::READABLE)?;
        self.sockets.insert(
            id,
            Socket {
                stream,
                unsent: Unsent::default(),
                closing_by: None,
                wants_write: false,
                read_closed: false,
            },
        );
        Ok(())
    }

    fn read(&mut self, id: SocketId) {
        for _ in 0..READS_PER_TURN {
            let Some(s) = self.sockets.get_mut(&id) else {
                return;
            };
            if s.closing_by.is_some() {
                return;
            }
            match s.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.read_ended(id);
                    return;
                }
                Ok(n) => {
                    let bytes = std::mem::take(&mut self.read_buf);
                    let drained = n < bytes.len() && !s.read_closed;
                    self.feed(ShellInput::Received(id, bytes.get(..n).unwrap_or_default()));
                    self.read_buf = bytes;
                    // A short read emptied the kernel's buffer: anything arriving later is a
                    // new edge, so the read that would only say `WouldBlock` is skipped (one
                    // syscall fewer per block received). Not after the peer's end of stream,
                    // which brings no further edge.
                    if drained {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.read_ended(id);
                    return;
                }
            }
        }
        // Its turn is over; the edge-triggered readiness will not come again for what is left.
        if !self.backlog.contains(&id) {
            self.backlog.push(id);
        }
    }

    /// End of file or a failure: the socket is gone either way.
    fn read_ended(&mut self, id: SocketId) {
        self.remove(id);
        self.feed(ShellInput::PeerClosed(id));
    }

    /// Writes what the kernel takes; closes a closing socket once all is sent.
    fn flush(&mut self, id: SocketId) {
        let Some(s) = self.sockets.get_mut(&id) else {
            return;
        };
        let mut failed = false;
        while !s.unsent.is_empty() {
            match s.stream.write(s.unsent.front()) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => s.unsent.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let closing = s.closing_by.is_some();
        if failed || (closing && s.unsent.is_empty()) {
            let _ = s.stream.shutdown(std::net::Shutdown::Write);
            self.remove(id);
            if failed && !closing {
                self.feed(ShellInput::PeerClosed(id));
            }
            return;
        }
        let wants_write = !s.unsent.is_empty();
        if wants_write != s.wants_write {
            s.wants_write = wants_write;
            let interest = match (wants_write, closing) {
                (true, false) => Interest::READABLE | Interest::WRITABLE,
                (true, true) => Interest::WRITABLE,
                (false, _) => Interest::READABLE,
            };
            let token = Token(id as usize);
            let _ = self
                .poll
                .registry()
                .reregister(&mut s.stream, token, interest);
        }
    }

    fn remove(&mut self, id: SocketId) {
        if let Some(mut s) = self.sockets.remove(&id) {
            let _ = self.poll.registry().deregister(&mut s.stream);
            self.dealer.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Drops closing sockets whose peer did not take the last bytes in time.
    fn expire_closing(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        let now = std::time::Instant::now();
        let mut closing = std::mem::take(&mut self.closing);
        closing.retain(|id| match self.sockets.get(id).and_then(|s| s.closing_by) {
            Some(t) if t <= now => {
                self.remove(*id);
                false
            }
            Some(_) => true,
            None => false,
        });
        self.closing = closing;
    }

    fn shutdown(&mut self) {
        self.feed(ShellInput::Shutdown);
        let until = std::time::Instant::now() + self.limits.close_grace;
        let mut events = Events::with_capacity(1024);
        while !self.sockets.is_empty() && std::time::Instant::now() < until {
            let ids: Vec<SocketId> = self.sockets.keys().copied().collect();
            for id in ids {
                self.flush(id);
            }
            if self.sockets.is_empty() {
                break;
            }
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
        }
        let ids: Vec<SocketId> = self.sockets.keys().copied().collect();
        for id in ids {
            self.remove(id);
        }
    }
}
