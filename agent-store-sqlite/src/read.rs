//! The whole `StoreState` in one pass: each table scanned once, in one read transaction (so the
//! tables agree with each other), rows attached to their connection by id. A stored value
//! that does not decode is a `BadRow` error naming the table and column, never a panic.

use std::collections::BTreeMap;

use bytes::Bytes;
use rusqlite::Connection;
use simplex_agent::store::{
    ConfirmationId, ConfirmationRecord, ConnectionId, ConnectionRecord, InvitationId,
    InvitationRecord, MsgCounters, RatchetKeys, RcvMessageEntry, RcvMessageRecord, RcvQueueRecord,
    SkippedKey, SndMessageEntry, SndMessageRecord, SndQueueRecord, StoreState,
};
use simplex_core::protocol::{EntityId, MsgId};

use crate::columns::{bad, mode_from_word, Cells};
use crate::error::Result;

/// Reads every row of `sql`, handing each to `each`.
fn scan(
    db: &Connection,
    sql: &str,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut st = db.prepare(sql)?;
    let mut rows = st.query([])?;
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(())
}

/// The connection a child row names; a child whose parent is missing means the foreign keys
/// were off when it was written (a damaged file).
fn parent<'s>(
    state: &'s mut StoreState,
    table: &'static str,
    conn: &[u8],
) -> Result<&'s mut ConnectionRecord> {
    state
        .connections
        .get_mut(&ConnectionId(conn.to_vec()))
        .ok_or_else(|| bad(table, "conn_id", "no such connection"))
}

fn entity_id(
    cells: &Cells<'_, '_>,
    at: usize,
    column: &'static str,
    table: &'static str,
) -> Result<EntityId> {
    EntityId::new(cells.blob(at, column)?.to_vec()).map_err(|_| bad(table, column, "too long"))
}

/// Loads everything. The caller wraps it in a read transaction.
pub fn load(db: &Connection) -> Result<StoreState> {
    let mut state = StoreState::new();
    connections(db, &mut state)?;
    queues(db, &mut state)?;
    ratchets(db, &mut state)?;
    messages(db, &mut state)?;
    confirmations(db, &mut state)?;
    invitations(db, &mut state)?;
    Ok(state)
}

fn connections(db: &Connection, state: &mut StoreState) -> Result<()> {
    const T: &str = "connections";
    scan(
        db,
        "SELECT conn_id, conn_mode, smp_agent_version, duplex_handshake, last_internal_msg_id,
           last_internal_rcv_msg_id, last_internal_snd_msg_id, last_external_snd_msg_id,
           last_rcv_msg_hash, last_snd_msg_hash, last_rcv_broker_id FROM connections",
        |row| {
            let c = Cells::new(row, T);
            let duplex_handshake = match c.opt_int(3, "duplex_handshake")? {
                None => None,
                Some(0) => Some(false),
                Some(1) => Some(true),
                Some(_) => return Err(bad(T, "duplex_handshake", "not 0 or 1")),
            };
            let record = ConnectionRecord {
                mode: mode_from_word(c.text(1, "conn_mode")?)?,
                agent_version: c.unsigned(2, "smp_agent_version")?,
                duplex_handshake,
                rcv_queue: None,
                snd_queue: None,
                ratchet_keys: None,
                ratchet: None,
                skipped_keys: Vec::new(),
                counters: MsgCounters {
                    last_internal_msg_id: c.unsigned(4, "last_internal_msg_id")?,
                    last_internal_rcv_msg_id: c.unsigned(5, "last_internal_rcv_msg_id")?,
                    last_internal_snd_msg_id: c.unsigned(6, "last_internal_snd_msg_id")?,
                    last_external_snd_msg_id: c.unsigned(7, "last_external_snd_msg_id")?,
                    last_rcv_msg_hash: c.blob(8, "last_rcv_msg_hash")?.to_vec(),
                    last_snd_msg_hash: c.blob(9, "last_snd_msg_hash")?.to_vec(),
                },
                snd_messages: BTreeMap::new(),
                rcv_messages: BTreeMap::new(),
                last_rcv_broker_id: match c.opt_blob(10, "last_rcv_broker_id")? {
                    None => None,
                    Some(id) => Some(
                        MsgId::new(id.to_vec())
                            .map_err(|_| bad(T, "last_rcv_broker_id", "not a message id"))?,
                    ),
                },
            };
            let id = ConnectionId(c.blob(0, "conn_id")?.to_vec());
            state.connections.insert(id, record);
            Ok(())
        },
    )
}

fn queues(db: &Connection, state: &mut StoreState) -> Result<()> {
    const R: &str = "rcv_queues";
    scan(
        db,
        "SELECT conn_id, host, port, key_hash, rcv_id, rcv_private_key, rcv_dh_secret,
           e2e_priv_key, e2e_dh_secret, snd_id, status, smp_client_version FROM rcv_queues",
        |row| {
            let c = Cells::new(row, R);
            let queue = RcvQueueRecord {
                server: c.server(1)?,
                rcv_id: entity_id(&c, 4, "rcv_id", R)?,
                rcv_private_key: c.secret(5, "rcv_private_key")?,
                rcv_dh_secret: c.secret(6, "rcv_dh_secret")?,
                e2e_private_key: c.secret(7, "e2e_priv_key")?,
                e2e_dh_secret: c.opt_secret(8, "e2e_dh_secret")?,
                snd_id: entity_id(&c, 9, "snd_id", R)?,
                status: c.status(10, "status")?,
                smp_client_version: c.unsigned(11, "smp_client_version")?,
            };
            parent(state, R, c.blob(0, "conn_id")?)?.rcv_queue = Some(queue);
            Ok(())
        },
    )?;
    const S: &str = "snd_queues";
    scan(
        db,
        "SELECT conn_id, host, port, key_hash, snd_id, snd_private_key, e2e_pub_key,
           e2e_dh_secret, status, smp_client_version FROM snd_queues",
        |row| {
            let c = Cells::new(row, S);
            let queue = SndQueueRecord {
                server: c.server(1)?,
                snd_id: entity_id(&c, 4, "snd_id", S)?,
                snd_private_key: c.secret(5, "snd_private_key")?,
                e2e_pub_key: c.opt_blob(6, "e2e_pub_key")?.map(<[u8]>::to_vec),
                e2e_dh_secret: c.secret(7, "e2e_dh_secret")?,
                status: c.status(8, "status")?,
                smp_client_version: c.unsigned(9, "smp_client_version")?,
            };
            parent(state, S, c.blob(0, "conn_id")?)?.snd_queue = Some(queue);
            Ok(())
        },
    )
}

fn ratchets(db: &Connection, state: &mut StoreState) -> Result<()> {
    const T: &str = "ratchets";
    scan(
        db,
        "SELECT conn_id, x3dh_priv_key_1, x3dh_priv_key_2, ratchet_state FROM ratchets",
        |row| {
            let c = Cells::new(row, T);
            let keys = match (
                c.opt_secret(1, "x3dh_priv_key_1")?,
                c.opt_secret(2, "x3dh_priv_key_2")?,
            ) {
                (Some(key1), Some(key2)) => Some(RatchetKeys { key1, key2 }),
                (None, None) => None,
                _ => return Err(bad(T, "x3dh_priv_key_2", "only one of the two keys")),
            };
            let ratchet = c.opt_secret(3, "ratchet_state")?;
            let conn = parent(state, T, c.blob(0, "conn_id")?)?;
            conn.ratchet_keys = keys;
            conn.ratchet = ratchet;
            Ok(())
        },
    )?;
    const K: &str = "skipped_messages";
    scan(
        db,
        "SELECT conn_id, header_key, msg_n, msg_key FROM skipped_messages
         ORDER BY skipped_message_id",
        |row| {
            let c = Cells::new(row, K);
            let key = SkippedKey {
                header_key: c.secret(1, "header_key")?,
                msg_n: c.unsigned(2, "msg_n")?,
                msg_key: c.secret(3, "msg_key")?,
            };
            parent(state, K, c.blob(0, "conn_id")?)?
                .skipped_keys
                .push(key);
            Ok(())
        },
    )
}

fn messages(db: &Connection, state: &mut StoreState) -> Result<()> {
    const S: &str = "snd_messages";
    scan(
        db,
        "SELECT conn_id, internal_id, internal_snd_id, internal_ts, msg_type, msg_flags, msg_body,
           internal_hash, previous_msg_hash, delivered FROM snd_messages",
        |row| {
            let c = Cells::new(row, S);
            let msg = SndMessageRecord {
                internal_id: c.unsigned(1, "internal_id")?,
                internal_snd_id: c.unsigned(2, "internal_snd_id")?,
                internal_ts: c.time(3, "internal_ts")?,
                msg_type: c.msg_type(4, "msg_type")?,
                msg_flags: c.msg_flags(5, "msg_flags")?,
                body: Bytes::copy_from_slice(c.blob(6, "msg_body")?),
                internal_hash: c.blob(7, "internal_hash")?.to_vec(),
                prev_msg_hash: c.blob(8, "previous_msg_hash")?.to_vec(),
            };
            let delivered = c.flag(9, "delivered")?;
            parent(state, S, c.blob(0, "conn_id")?)?
                .snd_messages
                .insert(msg.internal_id, SndMessageEntry { msg, delivered });
            Ok(())
        },
    )?;
    const R: &str = "rcv_messages";
    scan(
        db,
        "SELECT conn_id, internal_id, internal_rcv_id, internal_ts, broker_id, broker_ts,
           external_snd_id, msg_type, msg_flags, msg_body, internal_hash,
           external_prev_snd_hash, integrity, user_ack FROM rcv_messages",
        |row| {
            let c = Cells::new(row, R);
            let msg = RcvMessageRecord {
                internal_id: c.unsigned(1, "internal_id")?,
                internal_rcv_id: c.unsigned(2, "internal_rcv_id")?,
                internal_ts: c.time(3, "internal_ts")?,
                broker_id: MsgId::new(c.blob(4, "broker_id")?.to_vec())
                    .map_err(|_| bad(R, "broker_id", "too long"))?,
                broker_ts: c.time(5, "broker_ts")?,
                external_snd_id: c.unsigned(6, "external_snd_id")?,
                msg_type: c.msg_type(7, "msg_type")?,
                msg_flags: c.msg_flags(8, "msg_flags")?,
                body: Bytes::copy_from_slice(c.blob(9, "msg_body")?),
                internal_hash: c.blob(10, "internal_hash")?.to_vec(),
                external_prev_snd_hash: c.blob(11, "external_prev_snd_hash")?.to_vec(),
                integrity: c.blob(12, "integrity")?.to_vec(),
            };
            let user_acked = c.flag(13, "user_ack")?;
            parent(state, R, c.blob(0, "conn_id")?)?
                .rcv_messages
                .insert(msg.internal_id, RcvMessageEntry { msg, user_acked });
            Ok(())
        },
    )
}

fn confirmations(db: &Connection, state: &mut StoreState) -> Result<()> {
    const T: &str = "conn_confirmations";
    scan(
        db,
        "SELECT confirmation_id, conn_id, e2e_snd_pub_key, sender_key, ratchet_state,
           sender_conn_info, own_conn_info, smp_reply_queues, smp_client_version
         FROM conn_confirmations",
        |row| {
            let c = Cells::new(row, T);
            let conn = ConnectionId(c.blob(1, "conn_id")?.to_vec());
            if !state.connections.contains_key(&conn) {
                return Err(bad(T, "conn_id", "no such connection"));
            }
            let record = ConfirmationRecord {
                conn,
                sender_key: c.opt_blob(3, "sender_key")?.map(<[u8]>::to_vec),
                sender_dh_key: c.blob(2, "e2e_snd_pub_key")?.to_vec(),
                smp_client_version: c.unsigned(8, "smp_client_version")?,
                conn_info: Bytes::copy_from_slice(c.blob(5, "sender_conn_info")?),
                reply_queues: Bytes::copy_from_slice(c.blob(7, "smp_reply_queues")?),
                ratchet_state: c.secret(4, "ratchet_state")?,
                own_conn_info: c.opt_blob(6, "own_conn_info")?.map(Bytes::copy_from_slice),
            };
            let id = ConfirmationId(c.blob(0, "confirmation_id")?.to_vec());
            state.confirmations.insert(id, record);
            Ok(())
        },
    )
}

fn invitations(db: &Connection, state: &mut StoreState) -> Result<()> {
    const T: &str = "conn_invitations";
    scan(
        db,
        "SELECT invitation_id, contact_conn_id, cr_invitation, recipient_conn_info, own_conn_info
         FROM conn_invitations",
        |row| {
            let c = Cells::new(row, T);
            let contact_conn = ConnectionId(c.blob(1, "contact_conn_id")?.to_vec());
            if !state.connections.contains_key(&contact_conn) {
                return Err(bad(T, "contact_conn_id", "no such connection"));
            }
            let record = InvitationRecord {
                contact_conn,
                conn_req: Bytes::copy_from_slice(c.blob(2, "cr_invitation")?),
                recipient_conn_info: Bytes::copy_from_slice(c.blob(3, "recipient_conn_info")?),
                own_conn_info: c.opt_blob(4, "own_conn_info")?.map(Bytes::copy_from_slice),
            };
            let id = InvitationId(c.blob(0, "invitation_id")?.to_vec());
            state.invitations.insert(id, record);
            Ok(())
        },
    )
}
