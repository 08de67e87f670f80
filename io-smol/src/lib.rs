//! The smol shell: an executor with one accept task (when given a listener), a dial task per
//! outgoing socket (resolving and connecting on smol's blocking pool), a reader task per socket
//! (and a writer task for a socket whose kernel buffer once filled up: other writes go straight
//! to the socket), and one loop that owns the [`Service`] and feeds it what the tasks report.
//! Every decision is the service's (see `simplex_core::driver`); this crate only moves bytes.
//!
//! [`run_workers`] runs several services as one server, one executor and loop per thread: the
//! first accepts and deals the sockets out in turn, and each loop then owns its sockets to the
//! end (see [`simplex_core::driver::Workers`]).
//!
//! A slow or stalled peer blocks only its own tasks; its unsent bytes are bounded, and the
//! service's handshake timeout closes peers that never finish.

use simplex_core::time::Clock;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_channel::{Receiver, Sender, TrySendError};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use simplex_core::client::KeepAlive;
use simplex_core::driver::{
    instant_since_origin, unix_time, ListenerId, Service, ShellInput, ShellLimits, SocketAction,
    SocketId, StopFlag, Workers,
};
use simplex_io_common::dial::dial_blocking;
use smol::{Async, LocalExecutor, Task, Timer};

/// The longest the loop sleeps without looking at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// A write is at most one TLS flight of one block, so this many writes bound the unsent bytes.
const WRITE_CHUNK: usize = 17 * 1024;
/// Bytes read from a socket at once: two TLS records of a block and more.
const READ_CHUNK: usize = 64 * 1024;

enum Event {
    Accepted(Async<TcpStream>, ListenerId),
    /// A dial finished.
    Dialled(SocketId, io::Result<TcpStream>),
    /// Bytes read: the first `n` of a buffer from the loop's [`ReadBuffers`].
    Data(SocketId, Vec<u8>, usize),
    Closed(SocketId),
    /// The service has output from another thread.
    Wake,
}

struct Socket {
    stream: Arc<Async<TcpStream>>,
    /// False once the service closed the socket (a writer then finishes and shuts it).
    open: bool,
    /// Started the first time the kernel does not take a whole write, and kept from then on:
    /// most sockets never need one, and an idle socket then holds no task and no queue.
    writer: Option<Writer>,
    closing_by: Option<Instant>,
}

/// A socket's writer task and the queue it writes from.
struct Writer {
    /// Dropped when the service closes the socket: the task writes what is queued, then
    /// shuts the socket.
    tx: Option<Sender<Vec<u8>>>,
    /// Set while the task holds bytes it has not written yet.
    writing: std::rc::Rc<std::cell::Cell<bool>>,
    task: Task<()>,
}

impl Socket {
    /// Ends the socket now: both directions shut (which ends its reader), writer cancelled.
    fn abort(self) {
        let _ = self.stream.get_ref().shutdown(Shutdown::Both);
        drop(self.writer);
    }

    /// Whether a write may go straight to the socket: nothing is queued before it.
    fn nothing_queued(&self) -> bool {
        self.writer
            .as_ref()
            .is_none_or(|w| w.tx.as_ref().is_none_or(|tx| tx.is_empty()) && !w.writing.get())
    }

    /// Whether what the service wrote has all left (or can no longer leave).
    fn flushed(&self) -> bool {
        self.writer.as_ref().is_none_or(|w| w.task.is_finished())
    }
}

/// A loop's spare read buffers. A buffer exists only while a read is under way or its bytes
/// wait for the service (an idle connection holds none), and it comes back here afterwards:
/// allocating 64 KiB per read cost more than the read (the allocator gave the memory back to
/// the kernel and took it again, page by page).
#[derive(Default)]
struct ReadBuffers(std::cell::RefCell<Vec<Vec<u8>>>);

impl ReadBuffers {
    /// Kept at most; more are freed.
    const SPARE: usize = 16;

    fn take(&self) -> Vec<u8> {
        self.0
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0; READ_CHUNK])
    }

    fn give(&self, buf: Vec<u8>) {
        let mut spare = self.0.borrow_mut();
        if spare.len() < Self::SPARE && buf.len() == READ_CHUNK {
            spare.push(buf);
        }
    }
}

/// A loop's event channel: both ends.
type EventChannel = (Sender<Event>, Receiver<Event>);

/// What the workers of one server share: each one's event channel (where accepted sockets are
/// dealt), and how many sockets are open in all of them (the bound
/// [`ShellLimits::max_connections`] is the server's, not one worker's).
struct Dealer {
    inboxes: Vec<Sender<Event>>,
    open: AtomicUsize,
}

struct Shell<'s, 'e, S: Service> {
    service: &'s mut S,
    buffers: std::rc::Rc<ReadBuffers>,
    ex: &'s LocalExecutor<'e>,
    limits: ShellLimits,
    events: Sender<Event>,
    sockets: HashMap<SocketId, Socket>,
    workers: Workers,
    dealer: Arc<Dealer>,
    /// The id the next accepted socket gets here.
    next_id: SocketId,
    origin: Instant,
    deadline: Option<Instant>,
    actions: Vec<SocketAction>,
    /// Sockets the service closed whose writer may still be flushing.
    closing: Vec<SocketId>,
    /// Outgoing sockets being dialled (forgotten if the service closes them meanwhile).
    dialling: std::collections::HashSet<SocketId>,
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
    let (mut inboxes, dealer) = prepare_loops(1);
    let inbox = inboxes.pop().ok_or_else(|| io::Error::other("no loop"))?;
    run_loop(
        Workers::single(),
        inbox,
        dealer,
        listeners,
        service,
        stop,
        limits,
    )
}

/// Runs `services` as one server, each on an executor and loop of its own thread (the first
/// on the calling thread), until `stop` is set; each then stops gracefully as in [`run`]. The
/// first loop accepts on `listeners` and deals the sockets out in turn; worker `i` numbers its
/// sockets from [`Workers::first_socket`] in steps of the number of workers (as the mio shell
/// does), and each service hears its place by [`Service::set_workers`].
pub fn run_workers<S: Service + Send>(
    listeners: Vec<std::net::TcpListener>,
    services: &mut [S],
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    let (inboxes, dealer) = prepare_loops(services.len());
    // The first loop accepts; the others hear of their sockets from it.
    let mut listeners = Some(listeners);
    let parts: Vec<_> = inboxes
        .into_iter()
        .map(|inbox| (inbox, listeners.take().unwrap_or_default()))
        .collect();
    simplex_io_common::threads::run_each(
        services,
        parts,
        stop,
        |workers, (inbox, listeners), service| {
            run_loop(
                workers,
                inbox,
                dealer.clone(),
                listeners,
                service,
                stop,
                limits,
            )
        },
    )
}

/// Each of `count` loops' event channel, and the dealer that reaches them all.
fn prepare_loops(count: usize) -> (Vec<EventChannel>, Arc<Dealer>) {
    let channels: Vec<EventChannel> = (0..count.max(1))
        .map(|_| async_channel::bounded(1024))
        .collect();
    let dealer = Arc::new(Dealer {
        inboxes: channels.iter().map(|(tx, _)| tx.clone()).collect(),
        open: AtomicUsize::new(0),
    });
    (channels, dealer)
}

fn run_loop<S: Service>(
    workers: Workers,
    (events, rx): EventChannel,
    dealer: Arc<Dealer>,
    listeners: Vec<std::net::TcpListener>,
    service: &mut S,
    stop: &StopFlag,
    limits: ShellLimits,
) -> io::Result<()> {
    let listeners = listeners
        .into_iter()
        .map(Async::new)
        .collect::<io::Result<Vec<_>>>()?;
    let ex = LocalExecutor::new();
    // The loop drives the reactor itself, so readiness does not hop through another thread.
    smol::block_on(ex.run(async {
        let accept: Vec<Task<()>> = listeners
            .into_iter()
            .enumerate()
            .map(|(i, listener)| {
                ex.spawn(accept_loop(
                    listener,
                    i,
                    dealer.clone(),
                    limits.max_connections,
                ))
            })
            .collect();
        let mut shell = Shell {
            service,
            buffers: std::rc::Rc::default(),
            ex: &ex,
            limits,
            events,
            sockets: HashMap::new(),
            workers,
            dealer,
            next_id: workers.first_socket(),
            origin: Instant::now(),
            deadline: None,
            actions: Vec::new(),
            closing: Vec::new(),
            dialling: std::collections::HashSet::new(),
        };
        let wake = shell.events.clone();
        shell.service.set_workers(workers);
        shell.service.set_waker(std::sync::Arc::new(move || {
            // A full channel means the loop is busy and will look again soon anyway.
            let _ = wake.try_send(Event::Wake);
        }));
        shell.feed(ShellInput::Tick);
        shell.serve(&rx, stop).await;
        drop(accept);
        shell.shutdown().await;
    }));
    Ok(())
}

/// Accepts on one listener and deals the sockets to the workers in turn (counted open from
/// here, so that a burst of accepts sees the bound).
async fn accept_loop(
    listener: Async<std::net::TcpListener>,
    on: ListenerId,
    dealer: Arc<Dealer>,
    max_connections: usize,
) {
    let mut next = 0;
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                if dealer.open.load(Ordering::Relaxed) >= max_connections {
                    continue; // dropped: closed at once
                }
                let _ = stream.get_ref().set_nodelay(true);
                let Some(inbox) = dealer.inboxes.get(next) else {
                    return;
                };
                next = (next + 1) % dealer.inboxes.len();
                dealer.open.fetch_add(1, Ordering::Relaxed);
                if inbox.send(Event::Accepted(stream, on)).await.is_err() {
                    dealer.open.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_loop(
    id: SocketId,
    stream: Arc<Async<TcpStream>>,
    events: Sender<Event>,
    buffers: std::rc::Rc<ReadBuffers>,
) {
    loop {
        // A buffer is taken only once there is something to read: most connections are idle
        // most of the time.
        if stream.readable().await.is_err() {
            break;
        }
        let mut buf = buffers.take();
        match (&*stream).read(&mut buf).await {
            Ok(0) | Err(_) => {
                buffers.give(buf);
                break;
            }
            Ok(n) => {
                if events.send(Event::Data(id, buf, n)).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = events.send(Event::Closed(id)).await;
}

/// Writes what the socket's queue holds, waiting for the socket when the kernel's buffer is
/// full (only then does anything reach it: see [`Shell::write`]).
async fn write_loop(
    stream: Arc<Async<TcpStream>>,
    rx: Receiver<Vec<u8>>,
    writing: std::rc::Rc<std::cell::Cell<bool>>,
    events: Sender<Event>,
    id: SocketId,
) {
    while let Ok(bytes) = rx.recv().await {
        // Set in the same poll that took the bytes, so the loop never sees the queue empty
        // and the writer idle while bytes are still unwritten.
        writing.set(true);
        let written = (&*stream).write_all(&bytes).await;
        writing.set(false);
        if written.is_err() {
            let _ = events.send(Event::Closed(id)).await;
            break;
        }
    }
    let _ = (&*stream).flush().await;
    let _ = stream.get_ref().shutdown(Shutdown::Both);
}

impl<S: Service> Shell<'_, '_, S> {
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

    async fn serve(&mut self, rx: &Receiver<Event>, stop: &StopFlag) {
        // One timer, set again only when the wake-up must come earlier or has passed: each
        // setting interrupts async-io's reactor (an eventfd write and an extra return from
        // epoll), which per event cost more than the event's own reads and writes.
        let mut wake_at = Instant::now() + STOP_POLL;
        let mut timer = Timer::at(wake_at);
        while !stop.is_stopped() {
            let now = Instant::now();
            let wake = self
                .deadline
                .map_or(now + STOP_POLL, |d| d.min(now + STOP_POLL));
            if wake < wake_at || wake_at <= now {
                wake_at = wake;
                timer.set_at(wake);
            }
            let event = future::or(async { rx.recv().await.ok() }, async {
                (&mut timer).await;
                None
            })
            .await;
            if let Some(event) = event {
                self.handle_event(event);
                // What else is queued is handled before waiting again.
                while let Ok(event) = rx.try_recv() {
                    self.handle_event(event);
                }
            }
            self.expire_closing();
            if self.deadline.is_some_and(|d| d <= Instant::now()) {
                self.feed(ShellInput::Tick);
            }
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Accepted(stream, on) => self.accepted(stream, on),
            Event::Dialled(id, result) => self.dialled(id, result),
            Event::Data(id, buf, n) => {
                if self.sockets.get(&id).is_some_and(|s| s.open) {
                    self.feed(ShellInput::Received(id, buf.get(..n).unwrap_or_default()));
                }
                self.buffers.give(buf);
            }
            Event::Wake => self.feed(ShellInput::Tick),
            Event::Closed(id) => {
                if let Some(s) = self.forget(id) {
                    s.abort();
                    self.feed(ShellInput::PeerClosed(id));
                }
            }
        }
    }

    /// A socket dealt to this loop (already counted open) joins under its next id.
    fn accepted(&mut self, stream: Async<TcpStream>, on: ListenerId) {
        let id = self.next_id;
        self.next_id += self.workers.count() as SocketId;
        self.add_socket(id, stream);
        self.feed(ShellInput::Accepted(id, on));
    }

    /// Forgets a socket, no longer counted open.
    fn forget(&mut self, id: SocketId) -> Option<Socket> {
        let s = self.sockets.remove(&id)?;
        self.dealer.open.fetch_sub(1, Ordering::Relaxed);
        Some(s)
    }

    /// Dials on smol's blocking pool; the loop picks the result up in [`Shell::dialled`].
    fn dial(&mut self, id: SocketId, host: String, port: u16, keep_alive: Option<KeepAlive>) {
        if self.sockets.contains_key(&id) || !self.dialling.insert(id) {
            return; // an id in use: the service's mistake, ignored
        }
        let events = self.events.clone();
        self.ex
            .spawn(async move {
                let result =
                    smol::unblock(move || dial_blocking(&host, port, keep_alive.as_ref())).await;
                let _ = events.send(Event::Dialled(id, result)).await;
            })
            .detach();
    }

    /// A dial finished: the socket joins the loop, or the service hears it failed.
    fn dialled(&mut self, id: SocketId, result: io::Result<TcpStream>) {
        if !self.dialling.remove(&id) {
            return; // the service closed it meanwhile
        }
        let stream = result.and_then(|stream| {
            let _ = stream.set_nodelay(true);
            Async::new(stream)
        });
        match stream {
            Ok(stream) => {
                self.dealer.open.fetch_add(1, Ordering::Relaxed);
                self.add_socket(id, stream);
                self.feed(ShellInput::Connected(id));
            }
            Err(_) => self.feed(ShellInput::ConnectFailed(id)),
        }
    }

    /// Starts the reader task of a new socket (its writer waits until it is needed).
    fn add_socket(&mut self, id: SocketId, stream: Async<TcpStream>) {
        let stream = Arc::new(stream);
        self.ex
            .spawn(read_loop(
                id,
                stream.clone(),
                self.events.clone(),
                self.buffers.clone(),
            ))
            .detach();
        self.sockets.insert(
            id,
            Socket {
                stream,
                open: true,
                writer: None,
                closing_by: None,
            },
        );
    }

    /// Feeds one input and carries out the socket actions it caused.
    fn feed(&mut self, input: ShellInput<'_>) {
        let clock = self.clock();
        let mut actions = std::mem::take(&mut self.actions);
        let deadline = self.service.handle(clock, input, &mut actions);
        self.deadline = deadline.map(|d| Instant::now() + d.saturating_duration_since(clock.now));
        let mut dropped = Vec::new();
        for action in actions.drain(..) {
            match action {
                SocketAction::Write(id, bytes) => {
                    if !self.write(id, bytes) {
                        dropped.push(id);
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
                        // A writer sends what is queued, then shuts the socket.
                        s.open = false;
                        if let Some(w) = &mut s.writer {
                            w.tx = None;
                        }
                        s.closing_by = Some(Instant::now() + self.limits.close_grace);
                        self.closing.push(id);
                    }
                }
            }
        }
        self.actions = actions;
        for id in dropped {
            if let Some(s) = self.forget(id) {
                s.abort();
                self.feed(ShellInput::PeerClosed(id));
            }
        }
    }

    /// Writes to a socket: straight away when nothing is queued before these bytes (most
    /// writes: the kernel takes a block at once), otherwise, or for what the kernel does not
    /// take, through the socket's writer task. False when the queue is full: the peer does not
    /// read, and is dropped rather than buffered without bound.
    fn write(&mut self, id: SocketId, mut bytes: Vec<u8>) -> bool {
        let unsent_bound = (self.limits.max_unsent_bytes / WRITE_CHUNK).max(1);
        let (ex, events) = (self.ex, &self.events);
        let Some(s) = self.sockets.get_mut(&id) else {
            return true;
        };
        if !s.open {
            return true;
        }
        if s.nothing_queued() {
            match s.stream.get_ref().write(&bytes) {
                Ok(n) if n == bytes.len() => return true,
                Ok(n) => {
                    bytes.drain(..n);
                }
                // Left to the writer, which waits for room or meets the error itself.
                Err(_) => {}
            }
        }
        let writer = s.writer.get_or_insert_with(|| {
            let (tx, rx) = async_channel::bounded(unsent_bound);
            let writing = std::rc::Rc::default();
            let task = ex.spawn(write_loop(
                s.stream.clone(),
                rx,
                std::rc::Rc::clone(&writing),
                events.clone(),
                id,
            ));
            Writer {
                tx: Some(tx),
                writing,
                task,
            }
        });
        match writer.tx.as_ref().map(|tx| tx.try_send(bytes)) {
            None | Some(Ok(())) | Some(Err(TrySendError::Closed(_))) => true,
            Some(Err(TrySendError::Full(_))) => false,
        }
    }

    /// Forgets closed sockets whose writer finished, and aborts those past their grace.
    fn expire_closing(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut closing = std::mem::take(&mut self.closing);
        closing.retain(|id| {
            let done = match self.sockets.get(id) {
                Some(s) => s.closing_by.is_none_or(|t| t <= now || s.flushed()),
                None => true,
            };
            if done {
                if let Some(s) = self.forget(*id) {
                    s.abort();
                }
            }
            !done
        });
        self.closing = closing;
    }

    async fn shutdown(&mut self) {
        self.feed(ShellInput::Shutdown);
        let until = Instant::now() + self.limits.close_grace;
        for (id, s) in self.sockets.iter_mut() {
            if s.closing_by.is_none() {
                self.closing.push(*id);
            }
            s.open = false;
            if let Some(w) = &mut s.writer {
                w.tx = None;
            }
            s.closing_by = Some(s.closing_by.map_or(until, |t| t.min(until)));
        }
        while !self.sockets.is_empty() {
            self.expire_closing();
            Timer::after(Duration::from_millis(10)).await;
        }
    }
}
