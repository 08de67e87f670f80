//! What an I/O shell drives: the small interface both shells (`simplex-io-mio`,
//! `simplex-io-smol`) call, so that they cannot differ in behaviour.
//!
//! A shell owns sockets, clocks and a stop flag, and nothing else. It tells a [`Service`] what
//! happened to its sockets ([`ShellInput`]) with the time read from both clocks, and carries
//! out the [`SocketAction`]s it gets back; the service returns its next deadline. Every
//! decision (TLS, the protocol, files, logs) is the service's. The SMP server's service is
//! `simplex_server::host::Host`; the client's is [`crate::client::ClientService`], which dials
//! out ([`SocketAction::Connect`]) instead of accepting. The in-memory tests drive the same
//! services without sockets.
//!
//! Nothing here touches a socket, a clock or a thread: the types are plain data, and
//! [`StopFlag`] is only an atomic boolean a signal handler or a test can set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::encoding::UnixTime;
use crate::time::{Clock, Instant};

/// Identifies a socket; a shell never reuses one while the service may know it. A shell
/// numbers accepted sockets from 1 upwards; a service that dials out
/// ([`SocketAction::Connect`]) picks its own ids from [`FIRST_OUTGOING_SOCKET`] upwards, so
/// the two ranges never meet.
pub type SocketId = u64;

/// Identifies a listening socket: its position in the list the shell was started with (a
/// service serving several ports, e.g. TLS and WebSockets, tells their sockets apart by it).
pub type ListenerId = usize;

/// The first id a service may give an outgoing socket ([`SocketAction::Connect`]).
pub const FIRST_OUTGOING_SOCKET: SocketId = 1 << 48;

/// What happened to the shell's sockets (or only to time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellInput<'a> {
    /// A socket was accepted on a listener.
    Accepted(SocketId, ListenerId),
    /// An outgoing socket ([`SocketAction::Connect`]) is open.
    Connected(SocketId),
    /// An outgoing socket could not be opened (the name did not resolve, or no address
    /// accepted the connection); the shell forgets it.
    ConnectFailed(SocketId),
    /// Bytes were read from a socket.
    Received(SocketId, &'a [u8]),
    /// A socket reached end of file, failed, or was dropped by the shell (e.g. its peer did
    /// not read what was written to it).
    PeerClosed(SocketId),
    /// The deadline the service asked for passed (or any other wake-up).
    Tick,
    /// Stop gracefully: the service closes its sessions, saves its state and expects no more
    /// input afterwards.
    Shutdown,
}

/// What the service asks the shell to do with a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAction {
    /// Write these bytes, in order after earlier writes.
    Write(SocketId, Vec<u8>),
    /// Close the socket once what was written before is sent; the service forgets it. A
    /// socket still being opened is abandoned (no `Connected` or `ConnectFailed` follows); an
    /// id the shell no longer knows (already reported closed or failed) is ignored.
    Close(SocketId),
    /// Open a TCP stream to `host:port` under the id `socket` (at least
    /// [`FIRST_OUTGOING_SOCKET`], unused). The shell resolves the name and dials without
    /// stalling its loop, then reports [`ShellInput::Connected`] or
    /// [`ShellInput::ConnectFailed`]. Writes before `Connected` are not allowed.
    Connect {
        /// The id the service names the socket by.
        socket: SocketId,
        /// A host name or an IP address in text form.
        host: String,
        /// The TCP port.
        port: u16,
        /// TCP keep-alive to set on the socket once open (best effort: a platform that lacks
        /// an option keeps its default).
        keep_alive: Option<crate::client::KeepAlive>,
    },
}

/// Wakes a shell from another thread: the shell then feeds [`ShellInput::Tick`].
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A loop's place among the workers of one server. A shell can run several services as one
/// server, one loop per thread (`run_workers` in both shells): the first loop accepts and
/// deals the sockets out in turn, and each loop owns the sockets dealt to it until they
/// close. Worker `i` of `n` numbers its sockets `i + n`, `i + 2n`, …, so that any worker can
/// tell from a socket's id which worker holds it ([`Workers::owner`]). One worker alone
/// numbers them 1, 2, 3, … as a shell always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    index: usize,
    count: usize,
}

impl Workers {
    /// The only worker.
    pub const fn single() -> Self {
        Self { index: 0, count: 1 }
    }

    /// Worker `index` of `count` (at least one; an index past the end is the last).
    pub fn new(index: usize, count: usize) -> Self {
        let count = count.max(1);
        Self {
            index: index.min(count - 1),
            count,
        }
    }

    /// This worker's position, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many workers there are.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The id of the first socket this worker accepts; the next are `count` apart.
    pub fn first_socket(&self) -> SocketId {
        (self.index + self.count) as SocketId
    }

    /// The worker holding accepted socket `id`.
    pub fn owner(&self, id: SocketId) -> usize {
        (id % self.count as SocketId) as usize
    }
}

/// The interface a shell drives.
pub trait Service {
    /// Called once by the shell before the first input, with a way to wake it from another
    /// thread (a service that works on other threads calls it when it has output).
    fn set_waker(&mut self, waker: Waker) {
        let _ = waker;
    }

    /// Called once by the shell before the first input, with this service's place among the
    /// workers of a server ([`Workers`]; [`Workers::single`] when it runs alone).
    fn set_workers(&mut self, workers: Workers) {
        let _ = workers;
    }

    /// Feeds one input at `clock`, appends the socket actions it caused to `actions`, and
    /// returns the next deadline (`None`: only input wakes the service).
    fn handle(
        &mut self,
        clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant>;
}

/// A flag that asks a running shell to stop gracefully (set from a signal handler, a test or
/// another thread). Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the shell to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The shared boolean (for `signal_hook::flag::register`).
    pub fn as_atomic(&self) -> &Arc<AtomicBool> {
        &self.0
    }
}

/// Resource bounds a shell enforces on sockets (the service bounds everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellLimits {
    /// Open sockets at most; sockets accepted beyond this are closed at once.
    pub max_connections: usize,
    /// Bytes written to a socket and not yet taken by the kernel, at most; a peer that does
    /// not read is dropped ([`ShellInput::PeerClosed`]) past this.
    pub max_unsent_bytes: usize,
    /// How long a closing socket may take to send what is left (also the bound on the final
    /// flush at a stop).
    pub close_grace: std::time::Duration,
}

impl Default for ShellLimits {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            max_unsent_bytes: 4 << 20,
            close_grace: std::time::Duration::from_secs(5),
        }
    }
}

/// Converts a duration since the shell's origin to an [`Instant`] (saturating).
pub fn instant_since_origin(elapsed: std::time::Duration) -> Instant {
    Instant::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
}

/// The wall clock as a [`UnixTime`] from a duration since the Unix epoch.
pub fn unix_time(since_epoch: std::time::Duration) -> UnixTime {
    UnixTime {
        seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        nanoseconds: since_epoch.subsec_nanos(),
    }
}
