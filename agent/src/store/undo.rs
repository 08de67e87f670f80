//! The undo of [`StoreState::apply_all`]: what a batch's records touched, as it was before the
//! first of them, so a batch with a record that does not fit changes nothing.
//!
//! It must cost about what the records change, not what the state holds: a connection keeps
//! its sent and received messages until they are deleted, so saving whole connections would
//! make every message batch slower as messages pile up. A connection is saved without its
//! messages (its "head": queues, ratchet, counters), plus each message a record touches, as
//! it was; only deleting a connection saves it whole.

use std::collections::BTreeMap;

use super::records::Record;
use super::state::{ConnectionRecord, RcvMessageEntry, SndMessageEntry, StoreState};
use super::{ConfirmationId, ConfirmationRecord, ConnectionId, InvitationId, InvitationRecord};

/// A connection as it was before the batch.
enum SavedConnection {
    /// It did not exist.
    Absent,
    /// All of it (the batch deletes it).
    Whole(ConnectionRecord),
    /// Everything but its messages, and the messages the batch touched as they were
    /// (`None`: absent).
    Head {
        head: ConnectionRecord,
        snd: BTreeMap<u64, Option<SndMessageEntry>>,
        rcv: BTreeMap<u64, Option<RcvMessageEntry>>,
    },
}

/// What a batch's records touched, as it was before the first of them (`None`: absent).
#[derive(Default)]
pub(super) struct Undo {
    connections: BTreeMap<ConnectionId, SavedConnection>,
    confirmations: BTreeMap<ConfirmationId, Option<ConfirmationRecord>>,
    invitations: BTreeMap<InvitationId, Option<InvitationRecord>>,
}

/// The message a record is about: sent (`true`) or received, and its internal id.
fn message_of(record: &Record) -> Option<(bool, u64)> {
    match record {
        Record::SndMessageStored { msg, .. } => Some((true, msg.internal_id)),
        Record::SndMessageDelivered { internal_id, .. }
        | Record::SndMessageDeleted { internal_id, .. } => Some((true, *internal_id)),
        Record::RcvMessageStored { msg, .. } => Some((false, msg.internal_id)),
        Record::RcvMessageUserAcked { internal_id, .. }
        | Record::RcvMessageDeleted { internal_id, .. } => Some((false, *internal_id)),
        _ => None,
    }
}

/// A copy of the connection without its messages (they are moved out and back, not cloned).
fn head_of(connection: &mut ConnectionRecord) -> ConnectionRecord {
    let snd = std::mem::take(&mut connection.snd_messages);
    let rcv = std::mem::take(&mut connection.rcv_messages);
    let head = connection.clone();
    connection.snd_messages = snd;
    connection.rcv_messages = rcv;
    head
}

impl Undo {
    /// Saves what `record` is about to change, unless an earlier record of the batch saved it.
    pub(super) fn save(&mut self, state: &mut StoreState, record: &Record) {
        match record {
            Record::ConfirmationStored { id, .. }
            | Record::ConfirmationAccepted { id, .. }
            | Record::ConfirmationDeleted { id } => self.save_confirmation(state, id),
            Record::InvitationStored { id, .. }
            | Record::InvitationAccepted { id, .. }
            | Record::InvitationDeleted { id } => self.save_invitation(state, id),
            _ => {}
        }
        if let Some(conn) = record.connection() {
            self.save_connection(state, conn, record);
        }
        // Deleting a connection also deletes its confirmations and invitations.
        if let Record::ConnectionDeleted { conn } = record {
            let confirmations: Vec<ConfirmationId> = state
                .confirmations
                .iter()
                .filter(|(_, c)| c.conn == *conn)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &confirmations {
                self.save_confirmation(state, id);
            }
            let invitations: Vec<InvitationId> = state
                .invitations
                .iter()
                .filter(|(_, i)| i.contact_conn == *conn)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &invitations {
                self.save_invitation(state, id);
            }
        }
    }

    fn save_connection(&mut self, state: &mut StoreState, conn: &ConnectionId, record: &Record) {
        let deleting = matches!(record, Record::ConnectionDeleted { .. });
        let current = state.connections.get_mut(conn);
        let saved = self
            .connections
            .entry(conn.clone())
            .or_insert_with(|| match current {
                None => SavedConnection::Absent,
                Some(c) => SavedConnection::Head {
                    head: head_of(c),
                    snd: BTreeMap::new(),
                    rcv: BTreeMap::new(),
                },
            });
        let SavedConnection::Head { head, snd, rcv } = saved else {
            return;
        };
        let Some(current) = state.connections.get(conn) else {
            return;
        };
        if deleting {
            // The whole connection as it was: its head, and its messages as they are now with
            // what earlier records of the batch changed put back.
            let mut whole = head.clone();
            whole.snd_messages = current.snd_messages.clone();
            whole.rcv_messages = current.rcv_messages.clone();
            restore_map(&mut whole.snd_messages, std::mem::take(snd));
            restore_map(&mut whole.rcv_messages, std::mem::take(rcv));
            *saved = SavedConnection::Whole(whole);
            return;
        }
        match message_of(record) {
            Some((true, id)) => {
                snd.entry(id)
                    .or_insert_with(|| current.snd_messages.get(&id).cloned());
            }
            Some((false, id)) => {
                rcv.entry(id)
                    .or_insert_with(|| current.rcv_messages.get(&id).cloned());
            }
            None => {}
        }
    }

    fn save_confirmation(&mut self, state: &StoreState, id: &ConfirmationId) {
        self.confirmations
            .entry(id.clone())
            .or_insert_with(|| state.confirmations.get(id).cloned());
    }

    fn save_invitation(&mut self, state: &StoreState, id: &InvitationId) {
        self.invitations
            .entry(id.clone())
            .or_insert_with(|| state.invitations.get(id).cloned());
    }

    /// Puts everything saved back.
    pub(super) fn restore(self, state: &mut StoreState) {
        for (conn, saved) in self.connections {
            match saved {
                SavedConnection::Absent => {
                    state.connections.remove(&conn);
                }
                SavedConnection::Whole(whole) => {
                    state.connections.insert(conn, whole);
                }
                SavedConnection::Head { mut head, snd, rcv } => {
                    // Not deleted by the batch (that would have saved it whole), so it is
                    // still there with its messages.
                    if let Some(current) = state.connections.remove(&conn) {
                        head.snd_messages = current.snd_messages;
                        head.rcv_messages = current.rcv_messages;
                    }
                    restore_map(&mut head.snd_messages, snd);
                    restore_map(&mut head.rcv_messages, rcv);
                    state.connections.insert(conn, head);
                }
            }
        }
        restore_map(&mut state.confirmations, self.confirmations);
        restore_map(&mut state.invitations, self.invitations);
    }
}

fn restore_map<K: Ord, V>(map: &mut BTreeMap<K, V>, saved: BTreeMap<K, Option<V>>) {
    for (key, value) in saved {
        match value {
            Some(value) => {
                map.insert(key, value);
            }
            None => {
                map.remove(&key);
            }
        }
    }
}
