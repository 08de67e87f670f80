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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use simplex_core::encoding::UnixTime;
    use simplex_core::protocol::MsgFlags;

    use super::*;

    fn msg(id: u8, ts: i64) -> StoredMessage {
        StoredMessage {
            msg_id: MsgId::from_slice(&[id; 24]).unwrap_or_default(),
            timestamp: UnixTime::from_seconds(ts),
            flags: MsgFlags::default(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn fifo_with_quota_and_expiry() {
        let mut q = MsgQueue::default();
        q.push(msg(1, 10));
        q.push(msg(2, 20));
        q.push(msg(3, 30));
        assert!(q.is_full(3) && !q.is_full(4));
        assert!(
            q.try_del(&msg(2, 0).msg_id).is_none(),
            "only the first message"
        );
        assert_eq!(q.expire(20).len(), 1);
        assert_eq!(q.peek().map(|m| m.timestamp.seconds), Some(20));
        assert!(
            q.try_del(&MsgId::empty()).is_some(),
            "v1 ACK takes the first"
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.iter().count(), 1);
    }
}
