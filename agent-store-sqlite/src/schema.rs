//! The schema, as the ordered list of migrations compiled into the program. A migration is
//! never edited once released: a change to the schema is a new entry at the end of the list.
//!
//! Tables and columns keep the reference agent's names (`Agent/Store/SQLite/Migrations/*.hs`
//! at v3.2.0) so a reference database maps onto them column for column. Where this schema
//! differs, it is because the store's contract (`StoreState::apply`) is looser or more exact
//! than the reference's keys; `spec/agent-store.md` lists each difference.

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its name, recorded in the `migrations` table; names sort in the order they apply.
    pub name: &'static str,
    /// The statements, run in one transaction.
    pub up: &'static str,
}

/// The migrations this program knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "rs_20261204_initial",
    up: INITIAL,
}];

/// The name the reference agent gives its first migration: a file whose `migrations` table
/// starts with it was written by the reference and needs importing, not opening.
pub const REFERENCE_FIRST_MIGRATION: &str = "20220101_initial";

/// The `migrations` table, as the reference's: a migration's name and when it was applied.
pub const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS migrations(
  name TEXT NOT NULL PRIMARY KEY,
  ts TEXT NOT NULL
);";

const INITIAL: &str = "
CREATE TABLE connections(
  conn_id BLOB NOT NULL PRIMARY KEY,
  conn_mode TEXT NOT NULL,
  last_internal_msg_id INTEGER NOT NULL DEFAULT 0,
  last_internal_rcv_msg_id INTEGER NOT NULL DEFAULT 0,
  last_internal_snd_msg_id INTEGER NOT NULL DEFAULT 0,
  last_external_snd_msg_id INTEGER NOT NULL DEFAULT 0,
  last_rcv_msg_hash BLOB NOT NULL DEFAULT x'',
  last_snd_msg_hash BLOB NOT NULL DEFAULT x'',
  smp_agent_version INTEGER NOT NULL DEFAULT 1,
  duplex_handshake INTEGER NULL DEFAULT 0,
  -- The server's id of the last message taken in on the receive queue (redelivery check;
  -- the reference has no such column).
  last_rcv_broker_id BLOB NULL
) WITHOUT ROWID;

-- Only `connections` (small rows, looked up by key) is WITHOUT ROWID: SQLite advises against
-- it for rows over about a twentieth of a page, which keys, ratchet states and bodies are.

-- One receive queue per connection (the key), the server named in the row itself.
CREATE TABLE rcv_queues(
  conn_id BLOB NOT NULL PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  host TEXT NOT NULL,
  port TEXT NOT NULL,
  key_hash BLOB NOT NULL,
  rcv_id BLOB NOT NULL,
  rcv_private_key BLOB NOT NULL,
  rcv_dh_secret BLOB NOT NULL,
  e2e_priv_key BLOB NOT NULL,
  e2e_dh_secret BLOB,
  snd_id BLOB NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL
);
CREATE INDEX idx_rcv_queues_server_id ON rcv_queues(host, port, rcv_id);

CREATE TABLE snd_queues(
  conn_id BLOB NOT NULL PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  host TEXT NOT NULL,
  port TEXT NOT NULL,
  key_hash BLOB NOT NULL,
  snd_id BLOB NOT NULL,
  snd_private_key BLOB NOT NULL,
  e2e_pub_key BLOB,
  e2e_dh_secret BLOB NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL
);
CREATE INDEX idx_snd_queues_server_id ON snd_queues(host, port, snd_id);

CREATE TABLE ratchets(
  conn_id BLOB NOT NULL PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  x3dh_priv_key_1 BLOB,
  x3dh_priv_key_2 BLOB,
  ratchet_state BLOB
);

-- The key orders the skipped keys as they were added.
CREATE TABLE skipped_messages(
  skipped_message_id INTEGER PRIMARY KEY,
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  header_key BLOB NOT NULL,
  msg_n INTEGER NOT NULL,
  msg_key BLOB NOT NULL
);
CREATE INDEX idx_skipped_messages_conn ON skipped_messages(conn_id, header_key, msg_n);

-- Sent and received messages each in their own table (the reference shares a `messages`
-- table keyed by the internal id of both directions).
CREATE TABLE snd_messages(
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  internal_id INTEGER NOT NULL,
  internal_snd_id INTEGER NOT NULL,
  internal_ts TEXT NOT NULL,
  msg_type BLOB NOT NULL,
  msg_flags TEXT NOT NULL,
  msg_body BLOB NOT NULL DEFAULT x'',
  internal_hash BLOB NOT NULL,
  previous_msg_hash BLOB NOT NULL DEFAULT x'',
  delivered INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(conn_id, internal_id)
);

CREATE TABLE rcv_messages(
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  internal_id INTEGER NOT NULL,
  internal_rcv_id INTEGER NOT NULL,
  internal_ts TEXT NOT NULL,
  broker_id BLOB NOT NULL,
  broker_ts TEXT NOT NULL,
  external_snd_id INTEGER NOT NULL,
  msg_type BLOB NOT NULL,
  msg_flags TEXT NOT NULL,
  msg_body BLOB NOT NULL DEFAULT x'',
  internal_hash BLOB NOT NULL,
  external_prev_snd_hash BLOB NOT NULL,
  integrity BLOB NOT NULL,
  user_ack INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(conn_id, internal_id)
);

CREATE TABLE conn_confirmations(
  confirmation_id BLOB NOT NULL PRIMARY KEY,
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  e2e_snd_pub_key BLOB NOT NULL,
  sender_key BLOB,
  ratchet_state BLOB NOT NULL,
  sender_conn_info BLOB NOT NULL,
  accepted INTEGER NOT NULL DEFAULT 0,
  own_conn_info BLOB,
  created_at TEXT NOT NULL DEFAULT(datetime('now')),
  smp_reply_queues BLOB NOT NULL DEFAULT x'',
  smp_client_version INTEGER NOT NULL
);
CREATE INDEX idx_conn_confirmations_conn ON conn_confirmations(conn_id);

CREATE TABLE conn_invitations(
  invitation_id BLOB NOT NULL PRIMARY KEY,
  contact_conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  cr_invitation BLOB NOT NULL,
  recipient_conn_info BLOB NOT NULL,
  accepted INTEGER NOT NULL DEFAULT 0,
  own_conn_info BLOB,
  created_at TEXT NOT NULL DEFAULT(datetime('now'))
);
CREATE INDEX idx_conn_invitations_conn ON conn_invitations(contact_conn_id);
";
