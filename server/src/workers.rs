//! The post between the workers of a multi-core server.
//!
//! A server on N cores runs N workers, each a [`crate::driver::ServerDriver`] on a shell loop
//! of its own thread (`run_workers` in both shells). A worker owns the sockets its shell
//! dealt to it (their TLS, blocks and the transport's checks) and one shard of the queue space
//! ([`crate::Shard`]: a whole [`crate::Server`] machine). A command for a queue of its own
//! shard never leaves the thread; one for a queue of another shard, and a shard's answer to a
//! client held elsewhere, travel as [`Mail`].
//!
//! Mail is posted during a turn (one input of the shell) and sent at its end
//! ([`Post::send`]), one channel message per peer, after the turn's journal records are on
//! disk: a peer must not answer `OK` for a message the journal does not hold yet. A peer is
//! woken only if no wake is pending since it last read its inbox, because a wake (an eventfd
//! or channel write, then a return from its poll) costs more than the mail it announces.
//!
//! Which worker holds a client: the shells number worker `i`'s sockets `i + N·k`
//! ([`simplex_core::driver::Workers`]), and a client's id is its socket's id, so the holder
//! is `id mod N`. That is also the client's home shard, where `NEW` and `PING` go
//! ([`ShardRouter::route`]): a queue lives with the connection that created it.
//!
//! Every shard learns of every client (`ClientConnected` and `ClientClosed` are posted to
//! all): a shard answers a client only while it knows it. Mail from one worker to another is
//! delivered in the order it was posted, so a client's connection is announced before its
//! first command and its close after its last.
//!
//! Not deterministic across runs (thread scheduling orders the mail); the single worker stays
//! the reference for simulation and replay, and posts nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use simplex_core::driver::Waker;
use simplex_core::encoding::Version;
use simplex_core::protocol::{Command, VerifiedTransmission};

use crate::{ClientId, ShardRouter};

/// What one worker sends another.
#[derive(Debug)]
pub enum Mail {
    /// A client of the sender connected: the receiver's shard should know it.
    ClientConnected {
        /// The client.
        client: ClientId,
        /// Its TLS session binding.
        session_id: Bytes,
        /// Its protocol version.
        version: Version,
    },
    /// Transmissions from a client of the sender for queues of the receiver's shard, in the
    /// order they came.
    Transmissions {
        /// The client.
        client: ClientId,
        /// The transmissions.
        transmissions: Vec<VerifiedTransmission<Command>>,
    },
    /// A client of the sender closed.
    ClientClosed {
        /// The client.
        client: ClientId,
    },
    /// The sender's shard has transmissions for a client the receiver holds.
    Transmit {
        /// The client.
        client: ClientId,
        /// Encoded server transmissions.
        transmissions: Vec<Vec<u8>>,
    },
    /// The sender's shard closes a client the receiver holds.
    Close {
        /// The client.
        client: ClientId,
    },
}

/// Each worker's inbox, waker and pending-wake flag, shared by all.
struct PostOffice {
    inboxes: Vec<Sender<Vec<Mail>>>,
    /// Set by each worker's shell ([`Post::set_waker`]) before its first input.
    wakers: Vec<OnceLock<Waker>>,
    /// Whether a wake is pending for the worker since it last read its inbox.
    pending: Vec<AtomicBool>,
}

/// One worker's end of the post. See the module docs.
pub struct Post {
    me: usize,
    router: Arc<ShardRouter>,
    office: Arc<PostOffice>,
    inbox: Receiver<Vec<Mail>>,
    /// Mail posted this turn, by receiving worker.
    outbox: Vec<Vec<Mail>>,
}

impl std::fmt::Debug for Post {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Post")
            .field("me", &self.me)
            .field("workers", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

impl Post {
    /// The posts of `count` workers routing by `router` (built for `count` shards); worker `i`
    /// gets `posts[i]`.
    pub fn set(count: usize, router: ShardRouter) -> Vec<Post> {
        let count = count.max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| mpsc::channel()).unzip();
        let office = Arc::new(PostOffice {
            inboxes: senders,
            wakers: (0..count).map(|_| OnceLock::new()).collect(),
            pending: (0..count).map(|_| AtomicBool::new(false)).collect(),
        });
        let router = Arc::new(router);
        receivers
            .into_iter()
            .enumerate()
            .map(|(me, inbox)| Post {
                me,
                router: router.clone(),
                office: office.clone(),
                inbox,
                outbox: (0..count).map(|_| Vec::new()).collect(),
            })
            .collect()
    }

    /// This worker's position.
    pub fn index(&self) -> usize {
        self.me
    }

    /// How many workers share the post.
    pub fn count(&self) -> usize {
        self.outbox.len()
    }

    /// How this worker's shell is woken when mail comes (once; later calls are ignored).
    pub fn set_waker(&self, waker: Waker) {
        if let Some(slot) = self.office.wakers.get(self.me) {
            let _ = slot.set(waker);
        }
    }

    /// The worker holding `client` (see the module docs).
    pub fn holder(&self, client: ClientId) -> usize {
        (client.0 % self.count() as u64) as usize
    }

    /// The shard (worker) a transmission from `client` goes to.
    pub fn shard_of(&self, client: ClientId, t: &VerifiedTransmission<Command>) -> usize {
        usize::from(
            self.router
                .route(client, &t.entity_id, t.message.as_ref().ok()),
        )
    }

    /// Posts `mail` to worker `to` (sent at [`Post::send`]).
    pub fn post(&mut self, to: usize, mail: Mail) {
        if let Some(box_) = self.outbox.get_mut(to) {
            box_.push(mail);
        }
    }

    /// Posts to every other worker what `mail` makes.
    pub fn post_to_others(&mut self, mail: impl Fn() -> Mail) {
        for (to, box_) in self.outbox.iter_mut().enumerate() {
            if to != self.me {
                box_.push(mail());
            }
        }
    }

    /// Takes the mail that came since the last call. Mail sent after this wakes the worker
    /// again.
    pub fn receive(&self) -> impl Iterator<Item = Mail> + '_ {
        if let Some(p) = self.office.pending.get(self.me) {
            p.store(false, Ordering::SeqCst);
        }
        self.inbox.try_iter().flatten()
    }

    /// Sends this turn's mail, one message per peer, and wakes the peers that need it.
    pub fn send(&mut self) {
        for (to, box_) in self.outbox.iter_mut().enumerate() {
            if box_.is_empty() {
                continue;
            }
            let mail = std::mem::take(box_);
            let Some(inbox) = self.office.inboxes.get(to) else {
                continue;
            };
            // A peer that stopped has dropped its inbox: its mail is of no use any more.
            if inbox.send(mail).is_err() {
                continue;
            }
            let was_pending = self
                .office
                .pending
                .get(to)
                .is_some_and(|p| p.swap(true, Ordering::SeqCst));
            if !was_pending {
                if let Some(wake) = self.office.wakers.get(to).and_then(OnceLock::get) {
                    wake();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        (
            Arc::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
            count,
        )
    }

    #[test]
    fn mail_arrives_in_order_with_one_wake_per_reading() {
        let mut posts = Post::set(2, ShardRouter::new(2));
        let (wake, wakes) = counting_waker();
        posts[1].set_waker(wake);
        for n in 0..3u64 {
            posts[0].post(
                1,
                Mail::ClientClosed {
                    client: ClientId(n),
                },
            );
        }
        posts[0].send();
        posts[0].post(
            1,
            Mail::ClientClosed {
                client: ClientId(3),
            },
        );
        posts[0].send();
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            1,
            "the second send finds a wake pending"
        );
        let got: Vec<u64> = posts[1]
            .receive()
            .map(|m| match m {
                Mail::ClientClosed { client } => client.0,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        posts[0].post(
            1,
            Mail::ClientClosed {
                client: ClientId(4),
            },
        );
        posts[0].send();
        assert_eq!(wakes.load(Ordering::SeqCst), 2, "read since: woken again");
    }

    #[test]
    fn broadcasts_skip_the_sender_and_nothing_leaves_before_send() {
        let mut posts = Post::set(3, ShardRouter::new(3));
        posts[1].post_to_others(|| Mail::ClientClosed {
            client: ClientId(4),
        });
        assert_eq!(posts[0].receive().count(), 0);
        posts[1].send();
        assert_eq!(posts[0].receive().count(), 1);
        assert_eq!(posts[1].receive().count(), 0);
        assert_eq!(posts[2].receive().count(), 1);
        assert_eq!(posts[2].holder(ClientId(7)), 1);
    }

    #[test]
    fn mail_to_a_stopped_worker_is_dropped() {
        let mut posts = Post::set(2, ShardRouter::new(2));
        let stopped = posts.pop();
        drop(stopped);
        posts[0].post(
            1,
            Mail::ClientClosed {
                client: ClientId(1),
            },
        );
        posts[0].send();
    }
}
