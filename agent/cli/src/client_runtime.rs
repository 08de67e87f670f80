//! The SMP client on a thread of its own, driven by either shell, used blocking-style.
//!
//! [`ClientRuntime::start`] spawns a thread that runs `simplex_core::client::ClientService`
//! (the connection manager behind the shells' interface) on `simplex-io-mio` or
//! `simplex-io-smol`. Requests cross to that thread over a channel and the shell's waker makes
//! the loop take them; answers come back on a channel per request, and everything else the
//! manager reports (messages, notifications, subscriptions down and up) on one event channel.
//! No protocol decision is made here: this is plumbing between threads.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    ClientCommand, ClientPort, ClientService, ConnectionManager, ManagerConfig, ManagerEvent,
    ManagerRequestId, QueueSubscription, Reply, Request, RequestError, SubKey,
};
use simplex_core::driver::{ShellLimits, StopFlag, Waker};

/// Which shell drives the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `simplex-io-mio`.
    Mio,
    /// `simplex-io-smol`.
    Smol,
}

impl std::str::FromStr for Runtime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mio" => Ok(Self::Mio),
            "smol" => Ok(Self::Smol),
            other => Err(format!("unknown runtime {other:?} (mio or smol)")),
        }
    }
}

/// Why a blocking call returned without an answer from the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The server (or the network) answered with an error.
    #[error("{0}")]
    Request(#[from] RequestError),
    /// No answer within the caller's time limit.
    #[error("no answer in time")]
    Timeout,
    /// The client thread is gone.
    #[error("the client has stopped")]
    Stopped,
    /// A subscription failed.
    #[error("subscription failed: {0}")]
    Subscription(RequestError),
}

/// Work handed to the client thread.
enum Job {
    Request {
        server: ServerAddress,
        request: Box<Request>,
        answer: Sender<Result<Reply, RequestError>>,
    },
    Subscribe {
        server: ServerAddress,
        subs: Vec<QueueSubscription>,
    },
    Forget {
        server: ServerAddress,
        sub: SubKey,
    },
}

/// The waker the shell hands over, shared with the caller's side.
type WakerSlot = Arc<Mutex<Option<Waker>>>;

/// The client service's port: jobs from the caller's side become commands, answers go to
/// their callers and the other events to the event channel.
struct ChannelPort {
    jobs: Receiver<Job>,
    events: Sender<Vec<ManagerEvent>>,
    /// The answer channel of the request just handed over, until its id comes back.
    next_answer: Option<Sender<Result<Reply, RequestError>>>,
    waiting: HashMap<ManagerRequestId, Sender<Result<Reply, RequestError>>>,
    waker: WakerSlot,
}

impl ClientPort for ChannelPort {
    fn next_command(&mut self) -> Option<ClientCommand> {
        let job = self.jobs.try_recv().ok()?;
        Some(match job {
            Job::Request {
                server,
                request,
                answer,
            } => {
                self.next_answer = Some(answer);
                ClientCommand::Request { server, request }
            }
            Job::Subscribe { server, subs } => ClientCommand::Subscribe { server, subs },
            Job::Forget { server, sub } => ClientCommand::Forget { server, sub },
        })
    }

    fn accepted(&mut self, id: ManagerRequestId) {
        if let Some(answer) = self.next_answer.take() {
            self.waiting.insert(id, answer);
        }
    }

    /// Answers go to their callers; the other events of one turn go out together, so a
    /// caller never sees half of what one input caused (a subscription without the message
    /// delivered in answer to it, say).
    fn deliver(&mut self, events: Vec<ManagerEvent>) {
        let mut batch = Vec::new();
        for event in events {
            match event {
                ManagerEvent::Response { id, result, .. } if self.waiting.contains_key(&id) => {
                    if let Some(answer) = self.waiting.remove(&id) {
                        let _ = answer.send(result);
                    }
                }
                other => batch.push(other),
            }
        }
        if !batch.is_empty() {
            let _ = self.events.send(batch);
        }
    }

    fn set_waker(&mut self, waker: Waker) {
        if let Ok(mut slot) = self.waker.lock() {
            *slot = Some(waker);
        }
    }
}

/// How the client is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The shell.
    pub runtime: Runtime,
    /// The manager's settings (network, timeouts, reconnect schedule).
    pub manager: ManagerConfig,
    /// Seeds the client's randomness (tests); `None` draws a seed from the OS.
    pub seed: Option<[u8; 32]>,
}

impl RuntimeConfig {
    /// The defaults on `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime,
            manager: ManagerConfig::default(),
            seed: None,
        }
    }
}

/// The SMP client running on its own thread.
pub struct ClientRuntime {
    jobs: Sender<Job>,
    waker: WakerSlot,
    events: Receiver<Vec<ManagerEvent>>,
    /// Events read while waiting for something else, handed out first.
    held: VecDeque<ManagerEvent>,
    stop: StopFlag,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for ClientRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRuntime").finish_non_exhaustive()
    }
}

impl ClientRuntime {
    /// Starts the client thread.
    pub fn start(config: RuntimeConfig) -> std::io::Result<Self> {
        let rng = match config.seed {
            Some(seed) => ChaCha20Rng::from_seed(seed),
            None => ChaCha20Rng::from_entropy(),
        };
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (events_tx, events_rx) = mpsc::channel();
        let waker: WakerSlot = Arc::new(Mutex::new(None));
        let stop = StopFlag::new();
        let thread_stop = stop.clone();
        let thread_waker = waker.clone();
        let runtime = config.runtime;
        let manager_config = config.manager;
        let thread = std::thread::Builder::new()
            .name("smp-client".into())
            .spawn(move || {
                let manager = ConnectionManager::new(
                    manager_config,
                    Box::new(rng),
                    simplex_core::time::Instant::ZERO,
                );
                let port = ChannelPort {
                    jobs: jobs_rx,
                    events: events_tx,
                    next_answer: None,
                    waiting: HashMap::new(),
                    waker: thread_waker,
                };
                let mut service = ClientService::with_port(manager, port);
                let limits = ShellLimits::default();
                match runtime {
                    Runtime::Mio => {
                        simplex_io_mio::run_outgoing(&mut service, &thread_stop, limits)
                    }
                    Runtime::Smol => {
                        simplex_io_smol::run_outgoing(&mut service, &thread_stop, limits)
                    }
                }
            })?;
        Ok(Self {
            jobs: jobs_tx,
            waker,
            events: events_rx,
            held: VecDeque::new(),
            stop,
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<(), RuntimeError> {
        self.jobs.send(job).map_err(|_| RuntimeError::Stopped)?;
        // Before the shell handed its waker over, its first turn takes the job anyway.
        if let Some(wake) = self.waker.lock().ok().and_then(|w| w.clone()) {
            wake();
        }
        Ok(())
    }

    /// Sends a request and waits up to `timeout` for its answer.
    pub fn request(
        &self,
        server: &ServerAddress,
        request: Request,
        timeout: Duration,
    ) -> Result<Reply, RuntimeError> {
        let (answer, rx) = mpsc::channel();
        self.send(Job::Request {
            server: server.clone(),
            request: Box::new(request),
            answer,
        })?;
        match rx.recv_timeout(timeout) {
            Ok(result) => Ok(result?),
            Err(RecvTimeoutError::Timeout) => Err(RuntimeError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(RuntimeError::Stopped),
        }
    }

    /// Subscribes queues of one server (kept across reconnections); the outcome comes as
    /// events.
    pub fn subscribe(
        &self,
        server: &ServerAddress,
        subs: Vec<QueueSubscription>,
    ) -> Result<(), RuntimeError> {
        self.send(Job::Subscribe {
            server: server.clone(),
            subs,
        })
    }

    /// Subscribes one queue and waits until it is active. Other events that come meanwhile
    /// (a message delivered in answer, for one) stay queued for [`Self::next_event`].
    pub fn subscribe_wait(
        &mut self,
        server: &ServerAddress,
        sub: QueueSubscription,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let key: SubKey = (sub.party, sub.queue_id.clone());
        self.subscribe(server, vec![sub])?;
        let until = Instant::now() + timeout;
        // Events already held were seen before this call: look only at new ones.
        let mut index = self.held.len();
        loop {
            while let Some(event) = self.held.get(index) {
                match event {
                    ManagerEvent::Subscribed { sub, .. } if *sub == key => {
                        self.held.remove(index);
                        return Ok(());
                    }
                    ManagerEvent::SubscriptionFailed { sub, error, .. } if *sub == key => {
                        let error = error.clone();
                        self.held.remove(index);
                        return Err(RuntimeError::Subscription(error));
                    }
                    _ => index += 1,
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(batch) => self.held.extend(batch),
                Err(RecvTimeoutError::Timeout) => return Err(RuntimeError::Timeout),
                Err(RecvTimeoutError::Disconnected) => return Err(RuntimeError::Stopped),
            }
        }
    }

    /// Stops keeping a subscription (the server keeps it until the connection ends).
    pub fn forget(&self, server: &ServerAddress, sub: SubKey) -> Result<(), RuntimeError> {
        self.send(Job::Forget {
            server: server.clone(),
            sub,
        })
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<ManagerEvent> {
        if self.held.is_empty() {
            self.held.extend(self.events.recv_timeout(timeout).ok()?);
        }
        self.held.pop_front()
    }

    /// Stops the client: connections are closed (TLS close_notify sent) and the thread ends.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> std::io::Result<()> {
        self.stop.stop();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the client thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
