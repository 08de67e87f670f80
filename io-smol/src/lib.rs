//! The smol shell: an executor with one accept task (when given a listener), a dial task per
//! outgoing socket (resolving and connecting on smol's blocking pool), a reader and a writer
//! task per socket, and one loop that owns the [`Service`] and feeds it what the tasks report.
//! Every decision is the service's (see `simplex_core::driver`); this crate only moves bytes.
//!
//! A slow or stalled peer blocks only its own tasks; its unsent bytes are bounded, and the
//! service's handshake timeout closes peers that never finish.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_channel::{Receiver, Sender, TrySendError};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use simplex_core::client::KeepAlive;
use simplex_core::driver::{
    instant_since_origin, unix_time, ListenerId, Service, ShellClock, ShellInput, ShellLimits,
    SocketAction, SocketId, StopFlag,
};
use simplex_io_mio::dial::dial_blocking;
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
    Data(SocketId, Vec<u8>),
    Closed(SocketId),
    /// The service has output from another thread.
    Wake,
}

struct Socket {
    stream: Arc<Async<TcpStream>>,
    /// `None` once the service closed the socket (the writer then finishes and shuts it).
    tx: Option<Sender<Vec<u8>>>,
    writer: Task<()>,
    closing_by: Option<Instant>,
}

impl Socket {
    /// Ends the socket now: both directions shut (which ends its reader), writer cancelled.
    fn abort(self) {
        let _ = self.stream.get_ref().shutdown(Shutdown::Both);
        drop(self.writer);
    }
}

struct Shell<'s, 'e, S: Service> {
    service: &'s mut S,
    ex: &'s LocalExecutor<'e>,
    limits: ShellLimits,
    events: Sender<Event>,
    sockets: HashMap<SocketId, Socket>,
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
    let listeners = listeners
        .into_iter()
        .map(Async::new)
        .collect::<io::Result<Vec<_>>>()?;
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let (events, rx) = async_channel::bounded(1024);
        let accept: Vec<Task<()>> = listeners
            .into_iter()
            .enumerate()
            .map(|(i, listener)| ex.spawn(accept_loop(listener, i, events.clone())))
            .collect();
        let mut shell = Shell {
            service,
            ex: &ex,
            limits,
            events,
            sockets: HashMap::new(),
            next_id: 1,
            origin: Instant::now(),
            deadline: None,
            actions: Vec::new(),
            closing: Vec::new(),
            dialling: std::collections::HashSet::new(),
        };
        let wake = shell.events.clone();
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

async fn accept_loop(
    listener: Async<std::net::TcpListener>,
    on: ListenerId,
    events: Sender<Event>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.get_ref().set_nodelay(true);
                if events.send(Event::Accepted(stream, on)).await.is_err() {
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

async fn read_loop(id: SocketId, stream: Arc<Async<TcpStream>>, events: Sender<Event>) {
    loop {
        // The buffer exists only once there is something to read: most connections are idle
        // most of the time, and a buffer held per connection cost each of them 64 KiB.
        if stream.readable().await.is_err() {
            break;
        }
        let mut buf = vec![0u8; READ_CHUNK];
        match (&*stream).read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.truncate(n);
                if events.send(Event::Data(id, buf)).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = events.send(Event::Closed(id)).await;
}

async fn write_loop(
    stream: Arc<Async<TcpStream>>,
    rx: Receiver<Vec<u8>>,
    events: Sender<Event>,
    id: SocketId,
) {
    while let Ok(bytes) = rx.recv().await {
        if (&*stream).write_all(&bytes).await.is_err() {
            let _ = events.send(Event::Closed(id)).await;
            break;
        }
    }
    let _ = (&*stream).flush().await;
    let _ = stream.get_ref().shutdown(Shutdown::Both);
}

impl<S: Service> Shell<'_, '_, S> {
    fn clock(&self) -> ShellClock {
        ShellClock {
            now: instant_since_origin(self.origin.elapsed()),
            wall_clock: unix_time(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
        }
    }

    async fn serve(&mut self, rx: &Receiver<Event>, stop: &StopFlag) {
        while !stop.is_stopped() {
            let now = Instant::now();
            let wake = self
                .deadline
                .map_or(now + STOP_POLL, |d| d.min(now + STOP_POLL));
            let event = future::or(async { rx.recv().await.ok() }, async {
                Timer::at(wake).await;
                None
            })
            .await;
            match event {
                Some(Event::Accepted(stream, on)) => self.accepted(stream, on),
                Some(Event::Dialled(id, result)) => self.dialled(id, result),
                Some(Event::Data(id, data))
                    if self.sockets.get(&id).is_some_and(|s| s.tx.is_some()) =>
                {
                    self.feed(ShellInput::Received(id, &data));
                }
                Some(Event::Data(..)) => {}
                Some(Event::Wake) => self.feed(ShellInput::Tick),
                Some(Event::Closed(id)) => {
                    if let Some(s) = self.sockets.remove(&id) {
                        s.abort();
                        self.feed(ShellInput::PeerClosed(id));
                    }
                }
                None => {}
            }
            self.expire_closing();
            if self.deadline.is_some_and(|d| d <= Instant::now()) {
                self.feed(ShellInput::Tick);
            }
        }
    }

    fn accepted(&mut self, stream: Async<TcpStream>, on: ListenerId) {
        if self.sockets.len() >= self.limits.max_connections {
            return; // dropped: closed at once
        }
        let id = self.next_id;
        self.next_id += 1;
        self.add_socket(id, stream);
        self.feed(ShellInput::Accepted(id, on));
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
                self.add_socket(id, stream);
                self.feed(ShellInput::Connected(id));
            }
            Err(_) => self.feed(ShellInput::ConnectFailed(id)),
        }
    }

    /// Starts the reader and writer tasks of a new socket.
    fn add_socket(&mut self, id: SocketId, stream: Async<TcpStream>) {
        let stream = Arc::new(stream);
        let (tx, rx) = async_channel::bounded((self.limits.max_unsent_bytes / WRITE_CHUNK).max(1));
        self.ex
            .spawn(read_loop(id, stream.clone(), self.events.clone()))
            .detach();
        let writer = self
            .ex
            .spawn(write_loop(stream.clone(), rx, self.events.clone(), id));
        self.sockets.insert(
            id,
            Socket {
                stream,
                tx: Some(tx),
                writer,
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
                    let Some(tx) = self.sockets.get(&id).and_then(|s| s.tx.as_ref()) else {
                        continue;
                    };
                    match tx.try_send(bytes) {
                        Ok(()) => {}
                        // The peer does not read: drop it rather than buffer without bound.
                        Err(TrySendError::Full(_)) => dropped.push(id),
                        Err(TrySendError::Closed(_)) => {}
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
                        // The writer sends what is queued, then shuts the socket.
                        s.tx = None;
                        s.closing_by = Some(Instant::now() + self.limits.close_grace);
                        self.closing.push(id);
                    }
                }
            }
        }
        self.actions = actions;
        for id in dropped {
            if let Some(s) = self.sockets.remove(&id) {
                s.abort();
                self.feed(ShellInput::PeerClosed(id));
            }
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
                Some(s) => s
                    .closing_by
                    .is_none_or(|t| t <= now || s.writer.is_finished()),
                None => true,
            };
            if done {
                if let Some(s) = self.sockets.remove(id) {
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
            s.tx = None;
            s.closing_by = Some(s.closing_by.map_or(until, |t| t.min(until)));
        }
        while !self.sockets.is_empty() {
            self.expire_closing();
            Timer::after(Duration::from_millis(10)).await;
        }
    }
}
