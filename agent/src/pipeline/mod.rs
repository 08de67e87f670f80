//! The agent's message pipeline as pure functions: from an agent message to a `SEND` body
//! and from a `MSG` body back, byte-compatible with simplexmq v3.2.0's agent. No state is
//! mutated: every step takes the connection's state by reference and returns the next state
//! beside its result, for the caller to persist before acting on the result. See
//! `spec/agent.md`, "The layers of a message".
//!
//! Sending, inside out:
//! 1. [`send`]: the [`AgentMessage`](crate::protocol::AgentMessage) (numbered with
//!    [`crate::integrity`]) is ratchet-encrypted ([`session`]) and put in an
//!    [`AgentEnvelope`](crate::protocol::AgentEnvelope); the envelope is what is stored;
//! 2. [`queue_box`]: at each delivery attempt the envelope goes in a client message with its
//!    private header, boxed for the queue, which gives the `SEND` body.
//!
//! Receiving, outside in: [`queue_box::open`] turns the `MSG` body (after the SMP client
//! removed the server's layer) into a confirmation, an invitation or a message envelope;
//! [`receive`] decrypts the ratchet layer of confirmations and messages.

pub mod error;
pub mod queue_box;
pub mod receive;
pub mod send;
pub mod session;

pub use error::{ReceiveError, SendError};
pub use queue_box::{
    open, seal_invitation, Opened, OpenedConfirmation, OpenedInvitation, RcvQueueBox, SndQueueBox,
};
pub use receive::{
    read_join_confirmation, read_message, read_reply_confirmation, JoinConfirmation, JoinerInfo,
    ReceivedMessage,
};
pub use send::{
    invitation_envelope, prepare_join_confirmation, prepare_message, prepare_reply_confirmation,
    Prepared,
};
pub use session::{RatchetUpdate, SkippedChange};

use simplex_core::encoding::VersionRange;

use crate::protocol::{AGENT_VERSIONS, SMP_CLIENT_VERSIONS};

/// The versions a received message is checked against (the reference's `smpClientVRange`
/// and `smpAgentVRange` in the agent's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// The SMP client versions we speak (the clear header of every message).
    pub smp_client: VersionRange,
    /// The agent versions we speak (checked in confirmations).
    pub agent: VersionRange,
}

impl Default for Versions {
    fn default() -> Self {
        Self {
            smp_client: SMP_CLIENT_VERSIONS,
            agent: AGENT_VERSIONS,
        }
    }
}
