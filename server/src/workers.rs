//! The post between the workers of a multi-core server: the threads' side of
//! [`crate::mail`].
//!
//! A server on N cores runs N workers, each a [`crate::host::Host`] on a shell loop of its own
//! thread (`run_workers` in both shells). A worker owns:
//!
//! - the sockets its shell dealt to it, with their TLS, blocks and the transport's checks (its
//!   [`crate::driver::ServerDriver`] holds their connection machines);
//! - one shard of the queue space ([`crate::Shard`]: a whole [`crate::Server`] machine), so
//!   a command for a queue of its own shard never leaves the thread;
//! - its end of this post ([`Post`]): an inbox, and an outbox per peer.
//!
//! How mail moves. The driver never touches this post: it says where a letter goes
//! ([`crate::driver::DriverOutput::Mail`]) and takes the letters that came
//! ([`crate::driver::DriverInput::Mail`]), and no channel is read inside its `handle_input`.
//! The host does the carrying, once per turn (one input of the shell):
//!
//! 1. before the turn's input, it takes what is in its inbox ([`Post::receive`]) and feeds it
//!    to the driver as one `DriverInput::Mail`;
//! 2. while draining the driver's outputs, it puts each `DriverOutput::Mail` in the outbox of
//!    its shard ([`Post::post`]);
//! 3. at the end of the turn, after the turn's journal records are on disk (a peer must not
//!    answer `OK` for a message the journal does not hold yet), it sends each outbox as one
//!    channel message ([`Post::send`]).
//!
//! A peer is woken only if no wake is pending since it last read its inbox, because a wake
//! (an eventfd or channel write, then a return from its poll) costs more than the mail it
//! announces; the wake reaches the peer's host as a tick, and step 1 reads the mail.
//!
//! Mail from one worker to another arrives in the order it was posted; mail from different
//! workers interleaves as the threads run, so a multi-worker run is not deterministic across
//! runs. The simulator (`simplex_tests::sim::sharded`) delivers the same mail in a seeded
//! order instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};

use simplex_core::driver::Waker;

use crate::mail::Letter as Mail;
#[cfg(test)]
use crate::ClientId;

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
    /// The posts of `count` workers; worker `i` gets `posts[i]`.
    pub fn set(count: usize) -> Vec<Post> {
        let count = count.max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| mpsc::channel()).unzip();
        let office = Arc::new(PostOffice {
            inboxes: senders,
            wakers: (0..count).map(|_| OnceLock::new()).collect(),
            pending: (0..count).map(|_| AtomicBool::new(false)).collect(),
        });
        receivers
            .into_iter()
            .enumerate()
            .map(|(me, inbox)| Post {
                me,
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

    /// Posts `mail` to worker `to` (sent at [`Post::send`]).
    pub fn post(&mut self, to: usize, mail: Mail) {
        if let Some(box_) = self.outbox.get_mut(to) {
            box_.push(mail);
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
        let mut posts = Post::set(2);
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
    fn mail_to_a_stopped_worker_is_dropped() {
        let mut posts = Post::set(2);
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
