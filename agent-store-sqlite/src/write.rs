//! One record → its statements, inside the caller's transaction.
//!
//! Each record is a small statement or two on the rows it names; the match is exhaustive, so a
//! new `Record` variant does not compile until it has its arm here (and, when it needs one,
//! its column in `schema.rs` and its read in `read.rs`).
//!
//! A record refused by `StoreState::apply` is refused here too, so the database never holds
//! what the machine's memory does not: keys and foreign keys turn a duplicate or an unknown
//! parent into a constraint error, and an update or delete that touched no row is checked.
//! The error names the same [`ApplyError`] the in-memory store would give.

use rusqlite::{params, Connection, ErrorCode};
use simplex_agent::store::{ApplyError, ConnectionId, Record};

use crate::columns::{flags_text, mode_word, server_columns, time_text};
use crate::error::{Refusal, Result, SqliteStoreError};

/// What applying one record can end in: refused (the transaction is rolled back by the
/// caller) or a database failure.
pub enum WriteError {
    /// The record does not fit the stored state.
    Refused(Refusal),
    /// SQLite failed.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<Refusal> for WriteError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl WriteError {
    /// As the crate's error, placed at `batch`/`index`.
    pub fn at(self, batch: usize, index: usize) -> SqliteStoreError {
        match self {
            Self::Refused(reason) => SqliteStoreError::Refused {
                batch,
                index,
                reason,
            },
            Self::Sqlite(e) => SqliteStoreError::Sqlite(e),
        }
    }
}

type WriteResult = std::result::Result<(), WriteError>;

fn refuse(e: ApplyError) -> WriteError {
    WriteError::Refused(Refusal::Apply(e))
}

/// A constraint failure (duplicate key, missing parent) means the record does not fit:
/// `why` says which way, as `StoreState::apply` would.
fn fits(result: rusqlite::Result<usize>, why: impl FnOnce() -> ApplyError) -> WriteResult {
    match result {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            Err(refuse(why()))
        }
        Err(e) => Err(e.into()),
    }
}

fn connection_exists(db: &Connection, conn: &ConnectionId) -> rusqlite::Result<bool> {
    let mut st = db.prepare_cached("SELECT 1 FROM connections WHERE conn_id = ?1")?;
    st.exists([conn.as_bytes()])
}

fn rcv_queue_exists(db: &Connection, conn: &ConnectionId) -> rusqlite::Result<bool> {
    let mut st = db.prepare_cached("SELECT 1 FROM rcv_queues WHERE conn_id = ?1")?;
    st.exists([conn.as_bytes()])
}

/// An update or delete must have found its row: if not, say whether the connection or the
/// thing in it was missing.
fn touched(
    db: &Connection,
    changed: usize,
    conn: &ConnectionId,
    missing: impl FnOnce() -> ApplyError,
) -> WriteResult {
    if changed > 0 {
        Ok(())
    } else if connection_exists(db, conn)? {
        Err(refuse(missing()))
    } else {
        Err(refuse(ApplyError::NoConnection(conn.clone())))
    }
}

fn message_error(conn: &ConnectionId, internal_id: u64) -> ApplyError {
    ApplyError::Message {
        conn: conn.clone(),
        internal_id,
    }
}

/// SQLite integers are signed: a counter past `i64::MAX` cannot be stored faithfully.
fn int(n: u64) -> std::result::Result<i64, WriteError> {
    i64::try_from(n)
        .map_err(|_| WriteError::Refused(Refusal::Unrepresentable("a number past 2^63")))
}

/// Applies one record.
pub fn apply(db: &Connection, record: &Record) -> WriteResult {
    match record {
        Record::ConnectionCreated {
            conn,
            mode,
            agent_version,
            duplex_handshake,
        } => {
            let mut st = db.prepare_cached(
                "INSERT INTO connections (conn_id, conn_mode, smp_agent_version, duplex_handshake)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let r = st.execute(params![
                conn.as_bytes(),
                mode_word(*mode),
                agent_version,
                duplex_handshake
            ]);
            fits(r, || ApplyError::ConnectionExists(conn.clone()))
        }
        Record::RcvQueueAdded { conn, queue: q } => {
            if !connection_exists(db, conn)? {
                return Err(refuse(ApplyError::NoConnection(conn.clone())));
            }
            let (host, port, key_hash) = server_columns(&q.server)?;
            let mut st = db.prepare_cached(
                "INSERT INTO rcv_queues (conn_id, host, port, key_hash, rcv_id, rcv_private_key,
                   rcv_dh_secret, e2e_priv_key, e2e_dh_secret, snd_id, status, smp_client_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let r = st.execute(params![
                conn.as_bytes(),
                host,
                port,
                key_hash,
                q.rcv_id.as_bytes(),
                q.rcv_private_key.expose(),
                q.rcv_dh_secret.expose(),
                q.e2e_private_key.expose(),
                q.e2e_dh_secret.as_ref().map(|s| s.expose()),
                q.snd_id.as_bytes(),
                q.status.word(),
                q.smp_client_version,
            ]);
            fits(r, || ApplyError::QueueExists(conn.clone()))
        }
        Record::SndQueueAdded { conn, queue: q } => {
            if !connection_exists(db, conn)? {
                return Err(refuse(ApplyError::NoConnection(conn.clone())));
            }
            let (host, port, key_hash) = server_columns(&q.server)?;
            let mut st = db.prepare_cached(
                "INSERT INTO snd_queues (conn_id, host, port, key_hash, snd_id, snd_private_key,
                   e2e_pub_key, e2e_dh_secret, status, smp_client_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let r = st.execute(params![
                conn.as_bytes(),
                host,
                port,
                key_hash,
                q.snd_id.as_bytes(),
                q.snd_private_key.expose(),
                q.e2e_pub_key,
                q.e2e_dh_secret.expose(),
                q.status.word(),
                q.smp_client_version,
            ]);
            fits(r, || ApplyError::QueueExists(conn.clone()))
        }
        Record::RcvQueueConfirmed {
            conn,
            e2e_dh_secret,
            smp_client_version,
        } => {
            let mut st = db.prepare_cached(
                "UPDATE rcv_queues SET e2e_dh_secret = ?2, smp_client_version = ?3 WHERE conn_id = ?1",
            )?;
            let n = st.execute(params![
                conn.as_bytes(),
                e2e_dh_secret.expose(),
                smp_client_version
            ])?;
            touched(db, n, conn, || ApplyError::NoQueue(conn.clone()))
        }
        Record::RcvQueueStatus { conn, status } => {
            let mut st =
                db.prepare_cached("UPDATE rcv_queues SET status = ?2 WHERE conn_id = ?1")?;
            let n = st.execute(params![conn.as_bytes(), status.word()])?;
            touched(db, n, conn, || ApplyError::NoQueue(conn.clone()))
        }
        Record::SndQueueStatus { conn, status } => {
            let mut st =
                db.prepare_cached("UPDATE snd_queues SET status = ?2 WHERE conn_id = ?1")?;
            let n = st.execute(params![conn.as_bytes(), status.word()])?;
            touched(db, n, conn, || ApplyError::NoQueue(conn.clone()))
        }
        Record::RatchetKeysCreated { conn, keys } => {
            let mut st = db.prepare_cached(
                "INSERT INTO ratchets (conn_id, x3dh_priv_key_1, x3dh_priv_key_2) VALUES (?1, ?2, ?3)
                 ON CONFLICT (conn_id) DO UPDATE
                 SET x3dh_priv_key_1 = excluded.x3dh_priv_key_1,
                     x3dh_priv_key_2 = excluded.x3dh_priv_key_2",
            )?;
            let r = st.execute(params![
                conn.as_bytes(),
                keys.key1.expose(),
                keys.key2.expose()
            ]);
            fits(r, || ApplyError::NoConnection(conn.clone()))
        }
        Record::RatchetReplaced { conn, state } => {
            // The X3DH keys are spent once the ratchet exists.
            let mut st = db.prepare_cached(
                "INSERT INTO ratchets (conn_id, ratchet_state) VALUES (?1, ?2)
                 ON CONFLICT (conn_id) DO UPDATE
                 SET ratchet_state = excluded.ratchet_state,
                     x3dh_priv_key_1 = NULL, x3dh_priv_key_2 = NULL",
            )?;
            let r = st.execute(params![conn.as_bytes(), state.expose()]);
            fits(r, || ApplyError::NoConnection(conn.clone()))
        }
        Record::SkippedKeysAdded { conn, keys } => {
            if !connection_exists(db, conn)? {
                return Err(refuse(ApplyError::NoConnection(conn.clone())));
            }
            let mut st = db.prepare_cached(
                "INSERT INTO skipped_messages (conn_id, header_key, msg_n, msg_key)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for k in keys {
                st.execute(params![
                    conn.as_bytes(),
                    k.header_key.expose(),
                    k.msg_n,
                    k.msg_key.expose()
                ])?;
            }
            Ok(())
        }
        Record::SkippedKeyRemoved {
            conn,
            header_key,
            msg_n,
        } => {
            // The oldest matching key, as the in-memory list removes the first match.
            let mut st = db.prepare_cached(
                "DELETE FROM skipped_messages WHERE skipped_message_id =
                   (SELECT min(skipped_message_id) FROM skipped_messages
                    WHERE conn_id = ?1 AND header_key = ?2 AND msg_n = ?3)",
            )?;
            let n = st.execute(params![conn.as_bytes(), header_key.expose(), msg_n])?;
            touched(db, n, conn, || ApplyError::NoSkippedKey(conn.clone()))
        }
        Record::RcvQueueLastBrokerId { conn, broker_id } => {
            // Only a connection with a receive queue has one (as `StoreState::apply`).
            if !rcv_queue_exists(db, conn)? {
                return if connection_exists(db, conn)? {
                    Err(refuse(ApplyError::NoQueue(conn.clone())))
                } else {
                    Err(refuse(ApplyError::NoConnection(conn.clone())))
                };
            }
            let mut st = db.prepare_cached(
                "UPDATE connections SET last_rcv_broker_id = ?2 WHERE conn_id = ?1",
            )?;
            st.execute(params![conn.as_bytes(), broker_id.as_bytes()])?;
            Ok(())
        }
        Record::CountersSet { conn, counters: c } => {
            let mut st = db.prepare_cached(
                "UPDATE connections SET last_internal_msg_id = ?2, last_internal_rcv_msg_id = ?3,
                   last_internal_snd_msg_id = ?4, last_external_snd_msg_id = ?5,
                   last_rcv_msg_hash = ?6, last_snd_msg_hash = ?7
                 WHERE conn_id = ?1",
            )?;
            let n = st.execute(params![
                conn.as_bytes(),
                int(c.last_internal_msg_id)?,
                int(c.last_internal_rcv_msg_id)?,
                int(c.last_internal_snd_msg_id)?,
                int(c.last_external_snd_msg_id)?,
                c.last_rcv_msg_hash,
                c.last_snd_msg_hash,
            ])?;
            touched(db, n, conn, || ApplyError::NoConnection(conn.clone()))
        }
        Record::SndMessageStored { conn, msg: m } => {
            if !connection_exists(db, conn)? {
                return Err(refuse(ApplyError::NoConnection(conn.clone())));
            }
            let mut st = db.prepare_cached(
                "INSERT INTO snd_messages (conn_id, internal_id, internal_snd_id, internal_ts,
                   msg_type, msg_flags, msg_body, internal_hash, previous_msg_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let r = st.execute(params![
                conn.as_bytes(),
                int(m.internal_id)?,
                int(m.internal_snd_id)?,
                time_text(m.internal_ts),
                [m.msg_type],
                flags_text(m.msg_flags),
                m.body.as_ref(),
                m.internal_hash,
                m.prev_msg_hash,
            ]);
            fits(r, || message_error(conn, m.internal_id))
        }
        Record::SndMessageDelivered { conn, internal_id } => {
            let mut st = db.prepare_cached(
                "UPDATE snd_messages SET delivered = 1 WHERE conn_id = ?1 AND internal_id = ?2",
            )?;
            let n = st.execute(params![conn.as_bytes(), int(*internal_id)?])?;
            touched(db, n, conn, || message_error(conn, *internal_id))
        }
        Record::SndMessageDeleted { conn, internal_id } => {
            let mut st = db.prepare_cached(
                "DELETE FROM snd_messages WHERE conn_id = ?1 AND internal_id = ?2",
            )?;
            let n = st.execute(params![conn.as_bytes(), int(*internal_id)?])?;
            touched(db, n, conn, || message_error(conn, *internal_id))
        }
        Record::RcvMessageStored { conn, msg: m } => {
            if !connection_exists(db, conn)? {
                return Err(refuse(ApplyError::NoConnection(conn.clone())));
            }
            let mut st = db.prepare_cached(
                "INSERT INTO rcv_messages (conn_id, internal_id, internal_rcv_id, internal_ts,
                   broker_id, broker_ts, external_snd_id, msg_type, msg_flags, msg_body,
                   internal_hash, external_prev_snd_hash, integrity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let r = st.execute(params![
                conn.as_bytes(),
                int(m.internal_id)?,
                int(m.internal_rcv_id)?,
                time_text(m.internal_ts),
                m.broker_id.as_bytes(),
                time_text(m.broker_ts),
                int(m.external_snd_id)?,
                [m.msg_type],
                flags_text(m.msg_flags),
                m.body.as_ref(),
                m.internal_hash,
                m.external_prev_snd_hash,
                m.integrity,
            ]);
            fits(r, || message_error(conn, m.internal_id))
        }
        Record::RcvMessageUserAcked { conn, internal_id } => {
            let mut st = db.prepare_cached(
                "UPDATE rcv_messages SET user_ack = 1 WHERE conn_id = ?1 AND internal_id = ?2",
            )?;
            let n = st.execute(params![conn.as_bytes(), int(*internal_id)?])?;
            touched(db, n, conn, || message_error(conn, *internal_id))
        }
        Record::RcvMessageDeleted { conn, internal_id } => {
            let mut st = db.prepare_cached(
                "DELETE FROM rcv_messages WHERE conn_id = ?1 AND internal_id = ?2",
            )?;
            let n = st.execute(params![conn.as_bytes(), int(*internal_id)?])?;
            touched(db, n, conn, || message_error(conn, *internal_id))
        }
        Record::ConfirmationStored {
            id,
            confirmation: c,
        } => {
            let mut st = db.prepare_cached(
                "INSERT INTO conn_confirmations (confirmation_id, conn_id, e2e_snd_pub_key,
                   sender_key, ratchet_state, sender_conn_info, accepted, own_conn_info,
                   smp_reply_queues, smp_client_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let r = st.execute(params![
                id.as_bytes(),
                c.conn.as_bytes(),
                c.sender_dh_key,
                c.sender_key,
                c.ratchet_state.expose(),
                c.conn_info.as_ref(),
                c.own_conn_info.is_some(),
                c.own_conn_info.as_deref(),
                c.reply_queues.as_ref(),
                c.smp_client_version,
            ]);
            fits(r, || ApplyError::Confirmation(id.clone()))
        }
        Record::ConfirmationAccepted { id, own_conn_info } => {
            let mut st = db.prepare_cached(
                "UPDATE conn_confirmations SET accepted = 1, own_conn_info = ?2
                 WHERE confirmation_id = ?1",
            )?;
            let n = st.execute(params![id.as_bytes(), own_conn_info.as_ref()])?;
            one_row(n, || ApplyError::Confirmation(id.clone()))
        }
        Record::ConfirmationDeleted { id } => {
            let mut st =
                db.prepare_cached("DELETE FROM conn_confirmations WHERE confirmation_id = ?1")?;
            let n = st.execute([id.as_bytes()])?;
            one_row(n, || ApplyError::Confirmation(id.clone()))
        }
        Record::InvitationStored { id, invitation: i } => {
            let mut st = db.prepare_cached(
                "INSERT INTO conn_invitations (invitation_id, contact_conn_id, cr_invitation,
                   recipient_conn_info, accepted, own_conn_info)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let r = st.execute(params![
                id.as_bytes(),
                i.contact_conn.as_bytes(),
                i.conn_req.as_ref(),
                i.recipient_conn_info.as_ref(),
                i.own_conn_info.is_some(),
                i.own_conn_info.as_deref(),
            ]);
            fits(r, || ApplyError::Invitation(id.clone()))
        }
        Record::InvitationAccepted { id, own_conn_info } => {
            let mut st = db.prepare_cached(
                "UPDATE conn_invitations SET accepted = 1, own_conn_info = ?2
                 WHERE invitation_id = ?1",
            )?;
            let n = st.execute(params![id.as_bytes(), own_conn_info.as_ref()])?;
            one_row(n, || ApplyError::Invitation(id.clone()))
        }
        Record::InvitationDeleted { id } => {
            let mut st =
                db.prepare_cached("DELETE FROM conn_invitations WHERE invitation_id = ?1")?;
            let n = st.execute([id.as_bytes()])?;
            one_row(n, || ApplyError::Invitation(id.clone()))
        }
        Record::ConnectionDeleted { conn } => {
            // The foreign keys cascade to queues, keys, messages, confirmations, invitations.
            let mut st = db.prepare_cached("DELETE FROM connections WHERE conn_id = ?1")?;
            let n = st.execute([conn.as_bytes()])?;
            one_row(n, || ApplyError::NoConnection(conn.clone()))
        }
    }
}

fn one_row(changed: usize, missing: impl FnOnce() -> ApplyError) -> WriteResult {
    if changed > 0 {
        Ok(())
    } else {
        Err(refuse(missing()))
    }
}

/// Applies a call's batches in order on an open transaction; the first refusal or failure
/// stops it (the caller rolls back).
pub fn apply_batches<'a>(
    db: &Connection,
    batches: impl IntoIterator<Item = &'a [Record]>,
) -> Result<usize> {
    let mut deletions = 0;
    for (b, records) in batches.into_iter().enumerate() {
        for (i, record) in records.iter().enumerate() {
            apply(db, record).map_err(|e| e.at(b, i))?;
            if is_deletion(record) {
                deletions += 1;
            }
        }
    }
    Ok(deletions)
}

/// Records that free rows (the store counts them to advise a vacuum).
fn is_deletion(record: &Record) -> bool {
    matches!(
        record,
        Record::ConnectionDeleted { .. }
            | Record::SndMessageDeleted { .. }
            | Record::RcvMessageDeleted { .. }
            | Record::SkippedKeyRemoved { .. }
            | Record::ConfirmationDeleted { .. }
            | Record::InvitationDeleted { .. }
    )
}
