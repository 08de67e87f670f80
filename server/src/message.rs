//! A queue's messages: first in, first out, bounded by the quota, expiring by age.

use std::collections::VecDeque;

use simplex_core::protocol::MsgId;

use crate::msg_log::StoredMessage;

/// The messages of one queue.
#[derive(Debug, Default, Clone)]
pub(crate) struct MsgQueue {
    messages: VecDeque<StoredMessage>,
}

impl MsgQueue {
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_full(&self, quota: usize) -> bool {
        self.messages.len() >= quota
    }

    pub fn push(&mut self, msg: StoredMessage) {
        self.messages.push_back(msg);
    }

    pub fn peek(&self) -> Option<&StoredMessage> {
        self.messages.front()
    }

    pub fn iter(&self) -> impl Iterator<Item = &StoredMessage> {
        self.messages.iter()
    }

    /// Removes the first message if its id is `msg_id` (any id when `msg_id` is empty, as v1
    /// `ACK`); returns it.
    pub fn try_del(&mut self, msg_id: &MsgId) -> Option<StoredMessage> {
        match self.messages.front() {
            Some(m) if msg_id.is_empty() || &m.msg_id == msg_id => self.messages.pop_front(),
            _ => None,
        }
    }

    /// Removes messages older than `before` (Unix seconds) from the front; returns them.
    pub fn expire(&mut self, before: i64) -> Vec<MsgId> {
        let mut gone = Vec::new();
        while let Some(m) = self.messages.front() {
            if m.timestamp.seconds >= before {
                break;
            }
            if let Some(m) = self.messages.pop_front() {
                gone.push(m.msg_id);
            }
        }
        gone
    }
}
