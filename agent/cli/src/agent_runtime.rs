//! The agent on a thread of its own, driven by either shell, used blocking-style.
//!
//! [`AgentRuntime::start`] loads the store's snapshot, then spawns a thread that runs
//! `simplex_agent::service::AgentService` (the agent machine and its store behind the shells'
//! interface) on `simplex-io-mio` or `simplex-io-smol`. Commands cross to that thread over a
//! channel and the shell's waker makes the loop take them; the agent's events come back on one
//! channel. No protocol decision is made here: this is plumbing between threads.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::{Agent, AgentCommand, AgentConfig, CorrId};
use simplex_agent::service::{AgentPort, AgentService, PortCommand, PortEvent, PortInput};
use simplex_agent::store::{ConnectionId, Store};
use simplex_core::address::ServerAddress;
use simplex_core::client::{ConnectionManager, ManagerConfig};
use simplex_core::driver::{ShellLimits, StopFlag, Waker};
use simplex_core::encoding::UnixTime;
use simplex_core::time::Clock;

use crate::client_runtime::Runtime;

/// The waker the shell hands over, shared with the caller's side.
type WakerSlot = Arc<Mutex<Option<Waker>>>;

/// The agent service's port: commands from the caller's side, events back to it.
struct ChannelPort {
    inputs: Receiver<PortInput>,
    events: Sender<Vec<PortEvent>>,
    waker: WakerSlot,
}

impl AgentPort for ChannelPort {
    fn next_input(&mut self) -> Option<PortInput> {
        self.inputs.try_recv().ok()
    }

    fn deliver(&mut self, events: Vec<PortEvent>) {
        let _ = self.events.send(events);
    }

    fn set_waker(&mut self, waker: Waker) {
        if let Ok(mut slot) = self.waker.lock() {
            *slot = Some(waker);
        }
    }
}

/// How the agent is set up.
#[derive(Debug, Clone)]
pub struct AgentRuntimeConfig {
    /// The shell.
    pub runtime: Runtime,
    /// The agent's settings (servers to create queues on...).
    pub agent: AgentConfig,
    /// The connection manager's settings (network, timeouts, reconnect schedule).
    pub manager: ManagerConfig,
    /// Seeds the agent's randomness (tests); `None` draws seeds from the OS.
    pub seed: Option<[u8; 32]>,
}

/// Why the agent could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum AgentRuntimeError {
    /// The store's snapshot could not be read.
    #[error("loading the store: {0}")]
    Load(String),
    /// The shell failed (a socket error it could not recover from) or the thread panicked.
    #[error("the agent's shell: {0}")]
    Shell(#[from] std::io::Error),
}

/// What the agent thread hands back when it ends.
type ThreadResult<S> = (std::io::Result<()>, Option<S>);

/// The agent running on its own thread.
pub struct AgentRuntime<S: Store + Send + 'static> {
    inputs: Sender<PortInput>,
    waker: WakerSlot,
    events: Receiver<Vec<PortEvent>>,
    /// Events read while waiting for something else, handed out first.
    held: VecDeque<PortEvent>,
    stop: StopFlag,
    thread: Option<JoinHandle<ThreadResult<S>>>,
}

impl<S: Store + Send + 'static> std::fmt::Debug for AgentRuntime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRuntime").finish_non_exhaustive()
    }
}

fn wall_clock() -> UnixTime {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanoseconds: since.subsec_nanos(),
    }
}

impl<S: Store + Send + 'static> AgentRuntime<S> {
    /// Loads `store`'s snapshot and starts the agent thread on it.
    pub fn start(config: AgentRuntimeConfig, mut store: S) -> Result<Self, AgentRuntimeError> {
        let state = store
            .load()
            .map_err(|e| AgentRuntimeError::Load(e.to_string()))?;
        let (agent_rng, manager_rng) = match config.seed {
            Some(seed) => {
                let mut manager_seed = seed;
                manager_seed[0] ^= 0x5e;
                (
                    ChaCha20Rng::from_seed(seed),
                    ChaCha20Rng::from_seed(manager_seed),
                )
            }
            None => (ChaCha20Rng::from_entropy(), ChaCha20Rng::from_entropy()),
        };
        let (inputs_tx, inputs_rx) = mpsc::channel();
        let (events_tx, events_rx) = mpsc::channel();
        let waker: WakerSlot = Arc::new(Mutex::new(None));
        let stop = StopFlag::new();
        let thread_stop = stop.clone();
        let thread_waker = waker.clone();
        let runtime = config.runtime;
        let thread = std::thread::Builder::new()
            .name("smp-agent".into())
            .spawn(move || {
                let start = Clock {
                    now: simplex_core::time::Instant::ZERO,
                    wall_clock: wall_clock(),
                };
                let manager =
                    ConnectionManager::new(config.manager, Box::new(manager_rng), start.now);
                let agent = Agent::new(config.agent, state, manager, Box::new(agent_rng), start);
                let port = ChannelPort {
                    inputs: inputs_rx,
                    events: events_tx,
                    waker: thread_waker,
                };
                let mut service = AgentService::new(agent, store, port);
                let limits = ShellLimits::default();
                let result = match runtime {
                    Runtime::Mio => {
                        simplex_io_mio::run_outgoing(&mut service, &thread_stop, limits)
                    }
                    Runtime::Smol => {
                        simplex_io_smol::run_outgoing(&mut service, &thread_stop, limits)
                    }
                };
                (result, Some(service.into_store()))
            })?;
        Ok(Self {
            inputs: inputs_tx,
            waker,
            events: events_rx,
            held: VecDeque::new(),
            stop,
            thread: Some(thread),
        })
    }

    /// Hands the agent a command; its answer comes as an event with the same `corr_id`.
    pub fn command(
        &self,
        corr_id: &[u8],
        conn: Option<&ConnectionId>,
        command: AgentCommand,
    ) -> Result<(), AgentRuntimeError> {
        self.send(PortInput::Command(PortCommand {
            corr_id: CorrId(corr_id.to_vec()),
            conn: conn.cloned(),
            command,
        }))
    }

    /// Suspends the agent (delivery in progress waited for at most `max_delay`); `SUSPENDED`
    /// comes as an event.
    pub fn suspend(&self, max_delay: Duration) -> Result<(), AgentRuntimeError> {
        self.send(PortInput::Suspend(max_delay))
    }

    /// Activates the agent after a suspension.
    pub fn activate(&self) -> Result<(), AgentRuntimeError> {
        self.send(PortInput::Activate)
    }

    /// The servers new connections create their queues on.
    pub fn set_servers(&self, servers: Vec<ServerAddress>) -> Result<(), AgentRuntimeError> {
        self.send(PortInput::SetServers(servers))
    }

    /// Network settings for the server connections made from now on.
    pub fn set_network(&self, config: ManagerConfig) -> Result<(), AgentRuntimeError> {
        self.send(PortInput::SetNetwork(Box::new(config)))
    }

    fn send(&self, input: PortInput) -> Result<(), AgentRuntimeError> {
        self.inputs
            .send(input)
            .map_err(|_| std::io::Error::other("the agent has stopped"))?;
        // Before the shell handed its waker over, its first turn takes the input anyway.
        if let Some(wake) = self.waker.lock().ok().and_then(|w| w.clone()) {
            wake();
        }
        Ok(())
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<PortEvent> {
        if self.held.is_empty() {
            self.held.extend(self.events.recv_timeout(timeout).ok()?);
        }
        self.held.pop_front()
    }

    /// The first event (oldest first) that `wanted` picks, waiting up to `timeout`; the events
    /// passed over stay for [`Self::next_event`] and later calls, in order.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&PortEvent) -> bool,
    ) -> Option<PortEvent> {
        let until = Instant::now() + timeout;
        let mut index = 0;
        loop {
            while let Some(event) = self.held.get(index) {
                if wanted(event) {
                    return self.held.remove(index);
                }
                index += 1;
            }
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(batch) => self.held.extend(batch),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Stops the agent (server connections closed, TLS close_notify sent), ends the thread and
    /// gives the store back, to restart on it.
    pub fn stop(mut self) -> Result<S, AgentRuntimeError> {
        let (result, store) = self.stop_inner();
        result?;
        store.ok_or_else(|| std::io::Error::other("the agent thread panicked").into())
    }

    fn stop_inner(&mut self) -> ThreadResult<S> {
        self.stop.stop();
        if let Some(wake) = self.waker.lock().ok().and_then(|w| w.clone()) {
            wake();
        }
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                (
                    Err(std::io::Error::other("the agent thread panicked")),
                    None,
                )
            }),
            None => (Ok(()), None),
        }
    }
}

impl<S: Store + Send + 'static> Drop for AgentRuntime<S> {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
