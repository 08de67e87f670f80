//! The simulated network: byte streams between endpoints, as one more seeded machine.
//!
//! A stream is TCP-like: bytes arrive in order and unduplicated, but split into chunks of
//! arbitrary size (partial reads and writes) after a latency with jitter. Faults: a stream can
//! be reset (both ends see it close, bytes in flight are lost), a partition holds every byte
//! between two sides until it is repaired. Everything random comes from the network's own RNG,
//! derived from the simulation's root seed, so a seed replays exactly.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::time::Instant;

/// Identifies a stream in the network.
pub type StreamId = u64;

/// Which end of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    /// The end that connected.
    Client,
    /// The end that accepted.
    Server,
}

impl End {
    /// The other end.
    pub fn peer(self) -> End {
        match self {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }
}

/// How the network behaves.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Base one-way delay.
    pub latency: Duration,
    /// Extra delay, uniform in `0..=jitter`, per chunk (order is kept regardless).
    pub jitter: Duration,
    /// The largest chunk a write is split into on the way.
    pub max_chunk: usize,
    /// Chance per delivered chunk (in millionths) that the stream is reset.
    pub reset_per_million: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            max_chunk: 8 * 1024,
            reset_per_million: 0,
        }
    }
}

/// What the network hands to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Bytes arrived at `end` of `stream`.
    Bytes {
        /// The stream.
        stream: StreamId,
        /// The receiving end.
        end: End,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The stream was reset or closed by the peer; `end` sees end-of-file.
    Closed {
        /// The stream.
        stream: StreamId,
        /// The end that is told.
        end: End,
    },
}

#[derive(Debug, Default)]
struct Direction {
    /// Chunks in flight, in order, with the time each arrives.
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    /// The sender closed after these bytes.
    closing: bool,
}

#[derive(Debug)]
struct Stream {
    /// Direction towards each end.
    towards: BTreeMap<End, Direction>,
    /// Partition side of each end (streams cross a partition when the sides differ).
    sides: (u32, u32),
    open: bool,
}

/// The network.
#[derive(Debug)]
pub struct SimNet {
    config: NetConfig,
    rng: ChaCha20Rng,
    streams: BTreeMap<StreamId, Stream>,
    next_id: StreamId,
    /// Sides cut off from each other until repaired.
    partitioned: Vec<(u32, u32)>,
    /// Bytes in flight in total (for the memory bound).
    in_flight_bytes: usize,
}

impl SimNet {
    /// A network whose randomness derives from `seed`.
    pub fn new(seed: u64, config: NetConfig) -> Self {
        Self {
            config,
            rng: ChaCha20Rng::seed_from_u64(seed),
            streams: BTreeMap::new(),
            next_id: 1,
            partitioned: Vec::new(),
            in_flight_bytes: 0,
        }
    }

    /// Opens a stream between a client on partition side `client_side` and a server on
    /// `server_side` (the default side is 0).
    pub fn open(&mut self, client_side: u32, server_side: u32) -> StreamId {
        let id = self.next_id;
        self.next_id += 1;
        let mut towards = BTreeMap::new();
        towards.insert(End::Client, Direction::default());
        towards.insert(End::Server, Direction::default());
        self.streams.insert(
            id,
            Stream {
                towards,
                sides: (client_side, server_side),
                open: true,
            },
        );
        id
    }

    /// Whether the stream is still open.
    pub fn is_open(&self, stream: StreamId) -> bool {
        self.streams.get(&stream).is_some_and(|s| s.open)
    }

    /// Bytes currently in flight anywhere.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.config.jitter.as_micros() as u64;
        let extra = if jitter == 0 {
            0
        } else {
            self.rng.next_u64() % (jitter + 1)
        };
        self.config.latency + Duration::from_micros(extra)
    }

    /// `from` writes `bytes` on `stream` at `now`; they travel split into random chunks.
    pub fn send(&mut self, now: Instant, stream: StreamId, from: End, bytes: &[u8]) {
        if !self.is_open(stream) {
            return;
        }
        let mut rest = bytes;
        let mut chunks = Vec::new();
        while !rest.is_empty() {
            let max = self.config.max_chunk.max(1).min(rest.len());
            let n = 1 + (self.rng.next_u64() as usize) % max;
            let (chunk, tail) = rest.split_at(n);
            chunks.push(chunk.to_vec());
            rest = tail;
        }
        for chunk in chunks {
            let delay = self.delay();
            let Some(dir) = self
                .streams
                .get_mut(&stream)
                .and_then(|s| s.towards.get_mut(&from.peer()))
            else {
                return;
            };
            // TCP keeps order: a chunk never arrives before the one written before it.
            let last = dir.in_flight.back().map_or(now, |(t, _)| *t);
            let at = (now + delay).max(last);
            self.in_flight_bytes += chunk.len();
            dir.in_flight.push_back((at, chunk));
        }
    }

    /// `from` closes its end after the bytes already written.
    pub fn close(&mut self, stream: StreamId, from: End) {
        if let Some(dir) = self
            .streams
            .get_mut(&stream)
            .and_then(|s| s.towards.get_mut(&from.peer()))
        {
            dir.closing = true;
        }
    }

    /// Resets the stream: both ends are told, bytes in flight are lost.
    pub fn reset(&mut self, stream: StreamId) -> Vec<Delivery> {
        let Some(s) = self.streams.get_mut(&stream) else {
            return Vec::new();
        };
        if !s.open {
            return Vec::new();
        }
        s.open = false;
        for dir in s.towards.values_mut() {
            self.in_flight_bytes -= dir.in_flight.iter().map(|(_, b)| b.len()).sum::<usize>();
            dir.in_flight.clear();
        }
        vec![
            Delivery::Closed {
                stream,
                end: End::Client,
            },
            Delivery::Closed {
                stream,
                end: End::Server,
            },
        ]
    }

    /// Cuts side `a` off from side `b` until [`SimNet::repair`].
    pub fn partition(&mut self, a: u32, b: u32) {
        self.partitioned.push((a.min(b), a.max(b)));
    }

    /// Ends every partition; held bytes flow again.
    pub fn repair(&mut self, now: Instant) {
        self.partitioned.clear();
        // Held chunks leave now rather than all at once when their old time has passed long ago.
        for s in self.streams.values_mut() {
            for dir in s.towards.values_mut() {
                for (at, _) in dir.in_flight.iter_mut() {
                    *at = (*at).max(now);
                }
            }
        }
    }

    fn crosses_partition(&self, sides: (u32, u32)) -> bool {
        let key = (sides.0.min(sides.1), sides.0.max(sides.1));
        sides.0 != sides.1 && self.partitioned.contains(&key)
    }

    /// When the next chunk arrives, if any.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.streams
            .values()
            .filter(|s| s.open && !self.crosses_partition(s.sides))
            .flat_map(|s| s.towards.values())
            .filter_map(|d| d.in_flight.front().map(|(t, _)| *t))
            .min()
    }

    /// Everything due by `now`, in a deterministic order (stream id, then end).
    pub fn deliver(&mut self, now: Instant) -> Vec<Delivery> {
        let mut out = Vec::new();
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            let Some(s) = self.streams.get(&id) else {
                continue;
            };
            if !s.open || self.crosses_partition(s.sides) {
                continue;
            }
            for end in [End::Client, End::Server] {
                loop {
                    let due = self
                        .streams
                        .get(&id)
                        .and_then(|s| s.towards.get(&end))
                        .and_then(|d| d.in_flight.front())
                        .is_some_and(|(t, _)| *t <= now);
                    if !due {
                        break;
                    }
                    let reset = self.config.reset_per_million > 0
                        && (self.rng.next_u32() % 1_000_000) < self.config.reset_per_million;
                    if reset {
                        out.extend(self.reset(id));
                        break;
                    }
                    let Some((_, bytes)) = self
                        .streams
                        .get_mut(&id)
                        .and_then(|s| s.towards.get_mut(&end))
                        .and_then(|d| d.in_flight.pop_front())
                    else {
                        break;
                    };
                    self.in_flight_bytes -= bytes.len();
                    out.push(Delivery::Bytes {
                        stream: id,
                        end,
                        bytes,
                    });
                }
                let closing = self
                    .streams
                    .get(&id)
                    .and_then(|s| s.towards.get(&end))
                    .is_some_and(|d| d.closing && d.in_flight.is_empty());
                if closing {
                    if let Some(d) = self
                        .streams
                        .get_mut(&id)
                        .and_then(|s| s.towards.get_mut(&end))
                    {
                        d.closing = false;
                    }
                    out.push(Delivery::Closed { stream: id, end });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(net: &mut SimNet, until: Instant) -> Vec<Delivery> {
        let mut all = vec![];
        while let Some(t) = net.next_delivery().filter(|t| *t <= until) {
            all.extend(net.deliver(t));
        }
        all
    }

    #[test]
    fn bytes_arrive_in_order_in_chunks() {
        let mut net = SimNet::new(
            1,
            NetConfig {
                max_chunk: 7,
                ..NetConfig::default()
            },
        );
        let s = net.open(0, 0);
        let data: Vec<u8> = (0..200u8).collect();
        net.send(Instant::ZERO, s, End::Client, &data);
        let got: Vec<u8> = run(&mut net, Instant::from_micros(u64::MAX))
            .into_iter()
            .flat_map(|d| match d {
                Delivery::Bytes {
                    end: End::Server,
                    bytes,
                    ..
                } => bytes,
                _ => vec![],
            })
            .collect();
        assert_eq!(got, data);
        assert_eq!(net.in_flight_bytes(), 0);
    }

    #[test]
    fn partitions_hold_bytes_until_repaired() {
        let mut net = SimNet::new(2, NetConfig::default());
        let s = net.open(1, 0);
        net.partition(0, 1);
        net.send(Instant::ZERO, s, End::Client, b"hello");
        assert!(run(&mut net, Instant::from_micros(10_000_000)).is_empty());
        net.repair(Instant::from_micros(10_000_000));
        let got: Vec<u8> = run(&mut net, Instant::from_micros(20_000_000))
            .into_iter()
            .flat_map(|d| match d {
                Delivery::Bytes { bytes, .. } => bytes,
                Delivery::Closed { .. } => vec![],
            })
            .collect();
        assert_eq!(got, b"hello");
    }

    #[test]
    fn same_seed_same_chunks() {
        let chunks = |seed| {
            let mut net = SimNet::new(
                seed,
                NetConfig {
                    max_chunk: 100,
                    ..NetConfig::default()
                },
            );
            let s = net.open(0, 0);
            net.send(Instant::ZERO, s, End::Server, &[0u8; 5000]);
            run(&mut net, Instant::from_micros(u64::MAX))
        };
        assert_eq!(chunks(3), chunks(3));
        assert_ne!(chunks(3), chunks(4));
    }
}
