//! The oracle: what the server answered `OK` to and what recipients got, and the delivery
//! invariants over them (exactly once after de-duplication by message id, in order per queue).

use std::collections::BTreeMap;

use simplex_core::protocol::MsgId;

#[derive(Default)]
pub(super) struct Oracle {
    /// Per queue (recipient index): attempts answered OK, in order.
    pub(super) accepted: BTreeMap<usize, Vec<u32>>,
    /// Per queue: attempt → the message id it was delivered under.
    pub(super) delivered: BTreeMap<usize, BTreeMap<u32, MsgId>>,
    /// Per queue: the last attempt delivered for the first time.
    pub(super) last_first_delivery: BTreeMap<usize, u32>,
    pub(super) violations: Vec<String>,
}

impl Oracle {
    pub(super) fn delivered(&mut self, queue: usize, attempt: u32, msg_id: MsgId) {
        let seen = self.delivered.entry(queue).or_default();
        match seen.get(&attempt) {
            Some(id) if *id == msg_id => {} // a redelivery of the same message: fine
            Some(_) => self.violations.push(format!(
                "queue {queue}: attempt {attempt} delivered twice under different ids"
            )),
            None => {
                seen.insert(attempt, msg_id);
                let last = self.last_first_delivery.insert(queue, attempt);
                if last.is_some_and(|l| l >= attempt) {
                    self.violations.push(format!(
                        "queue {queue}: attempt {attempt} delivered after attempt {}",
                        last.unwrap_or(0)
                    ));
                }
            }
        }
    }

    pub(super) fn check_settled(&mut self) {
        for (queue, accepted) in &self.accepted {
            let delivered = self.delivered.get(queue);
            for attempt in accepted {
                if !delivered.is_some_and(|d| d.contains_key(attempt)) {
                    self.violations.push(format!(
                        "queue {queue}: accepted attempt {attempt} never delivered"
                    ));
                }
            }
        }
    }
}
