//! How a field becomes a column and back: the words and text forms the reference's store
//! uses (`INV`/`CON`, `new`/`active`..., ISO 8601 times, hosts joined by commas), and the
//! checks that turn a bad stored value into [`SqliteStoreError::BadRow`] instead of a panic.

use rusqlite::types::ValueRef;
use rusqlite::Row;
use simplex_agent::machine::connection::QueueStatus;
use simplex_agent::store::{ConnectionMode, SecretBytes};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::UtcTime;
use simplex_core::encoding::{NonEmpty, UnixTime};
use simplex_core::protocol::MsgFlags;

use crate::error::{Refusal, Result, SqliteStoreError};

/// A failed decode of `table.column`.
pub fn bad(
    table: &'static str,
    column: &'static str,
    reason: impl Into<String>,
) -> SqliteStoreError {
    SqliteStoreError::BadRow {
        table,
        column,
        reason: reason.into(),
    }
}

/// Reads one row's columns by index, naming the table in every error.
pub struct Cells<'r, 's> {
    row: &'r Row<'s>,
    table: &'static str,
}

impl<'r, 's> Cells<'r, 's> {
    /// The row of `table`.
    pub fn new(row: &'r Row<'s>, table: &'static str) -> Self {
        Self { row, table }
    }

    fn value(&self, at: usize, column: &'static str) -> Result<ValueRef<'r>> {
        self.row
            .get_ref(at)
            .map_err(|e| bad(self.table, column, e.to_string()))
    }

    /// A blob (text is taken as its bytes, as SQLite itself would compare them).
    pub fn blob(&self, at: usize, column: &'static str) -> Result<&'r [u8]> {
        match self.value(at, column)? {
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
            other => Err(bad(
                self.table,
                column,
                format!("{:?} is not a blob", other.data_type()),
            )),
        }
    }

    /// A blob or NULL.
    pub fn opt_blob(&self, at: usize, column: &'static str) -> Result<Option<&'r [u8]>> {
        match self.value(at, column)? {
            ValueRef::Null => Ok(None),
            _ => self.blob(at, column).map(Some),
        }
    }

    /// Key material, copied once straight into wiped memory.
    pub fn secret(&self, at: usize, column: &'static str) -> Result<SecretBytes> {
        Ok(SecretBytes::new(self.blob(at, column)?.to_vec()))
    }

    /// Key material or NULL.
    pub fn opt_secret(&self, at: usize, column: &'static str) -> Result<Option<SecretBytes>> {
        Ok(self
            .opt_blob(at, column)?
            .map(|b| SecretBytes::new(b.to_vec())))
    }

    /// UTF-8 text.
    pub fn text(&self, at: usize, column: &'static str) -> Result<&'r str> {
        std::str::from_utf8(self.blob(at, column)?)
            .map_err(|_| bad(self.table, column, "not UTF-8"))
    }

    /// An integer.
    pub fn int(&self, at: usize, column: &'static str) -> Result<i64> {
        match self.value(at, column)? {
            ValueRef::Integer(i) => Ok(i),
            other => Err(bad(
                self.table,
                column,
                format!("{:?} is not an integer", other.data_type()),
            )),
        }
    }

    /// An integer or NULL.
    pub fn opt_int(&self, at: usize, column: &'static str) -> Result<Option<i64>> {
        match self.value(at, column)? {
            ValueRef::Null => Ok(None),
            _ => self.int(at, column).map(Some),
        }
    }

    /// A non-negative integer that fits `T`.
    pub fn unsigned<T: TryFrom<i64>>(&self, at: usize, column: &'static str) -> Result<T> {
        T::try_from(self.int(at, column)?).map_err(|_| bad(self.table, column, "out of range"))
    }

    /// A boolean stored as 0/1.
    pub fn flag(&self, at: usize, column: &'static str) -> Result<bool> {
        match self.int(at, column)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad(self.table, column, "not 0 or 1")),
        }
    }

    /// A queue status word.
    pub fn status(&self, at: usize, column: &'static str) -> Result<QueueStatus> {
        let word = self.text(at, column)?;
        QueueStatus::from_word(word).ok_or_else(|| bad(self.table, column, "unknown status"))
    }

    /// A time in ISO 8601.
    pub fn time(&self, at: usize, column: &'static str) -> Result<UnixTime> {
        let t = UtcTime::str_decode(self.blob(at, column)?)
            .map_err(|e| bad(self.table, column, e.to_string()))?;
        Ok(UnixTime {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        })
    }

    /// Message flags (`T`/`F`, as the reference writes `notification`).
    pub fn msg_flags(&self, at: usize, column: &'static str) -> Result<MsgFlags> {
        match self.blob(at, column)? {
            b"T" => Ok(MsgFlags { notification: true }),
            b"F" => Ok(MsgFlags {
                notification: false,
            }),
            _ => Err(bad(self.table, column, "not T or F")),
        }
    }

    /// A one-byte message tag.
    pub fn msg_type(&self, at: usize, column: &'static str) -> Result<u8> {
        match self.blob(at, column)? {
            [tag] => Ok(*tag),
            _ => Err(bad(self.table, column, "not one byte")),
        }
    }

    /// An SMP server from its `host`, `port` and `key_hash` columns (at `at`, `at+1`, `at+2`).
    pub fn server(&self, at: usize) -> Result<ServerAddress> {
        let hosts = self.blob(at, "host")?;
        let mut parsed = Vec::new();
        for host in hosts.split(|&b| b == b',') {
            parsed.push(
                TransportHost::str_decode(host)
                    .map_err(|e| bad(self.table, "host", e.to_string()))?,
            );
        }
        let hosts = NonEmpty::new(parsed).ok_or_else(|| bad(self.table, "host", "no host"))?;
        let port = self.text(at + 1, "port")?.to_string();
        let key_hash: [u8; 32] = self
            .blob(at + 2, "key_hash")?
            .try_into()
            .map_err(|_| bad(self.table, "key_hash", "not 32 bytes"))?;
        Ok(ServerAddress {
            scheme: Scheme::Smp,
            hosts,
            port,
            key_hash: KeyHash::from_bytes(key_hash),
        })
    }
}

/// The word for a connection mode, as the reference stores it.
pub fn mode_word(mode: ConnectionMode) -> &'static str {
    mode.command_word()
}

/// The mode a stored word names.
pub fn mode_from_word(word: &str) -> Result<ConnectionMode> {
    match word {
        "INV" => Ok(ConnectionMode::Invitation),
        "CON" => Ok(ConnectionMode::Contact),
        _ => Err(bad("connections", "conn_mode", "not INV or CON")),
    }
}

/// Message flags as stored.
pub fn flags_text(flags: MsgFlags) -> &'static str {
    if flags.notification {
        "T"
    } else {
        "F"
    }
}

/// A time as stored: ISO 8601 with as many fraction digits as it needs.
pub fn time_text(t: UnixTime) -> String {
    let utc = UtcTime {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    };
    String::from_utf8_lossy(&utc.to_str_bytes()).into_owned()
}

/// A queue's server as its three columns: hosts joined by commas, port, key hash. Only SMP
/// servers hold queues, so the scheme is not stored; any other is refused rather than read
/// back as something else.
pub fn server_columns(server: &ServerAddress) -> Result<(String, &str, &[u8]), Refusal> {
    if server.scheme != Scheme::Smp {
        return Err(Refusal::Unrepresentable("a queue on a non-SMP server"));
    }
    let mut hosts = Vec::new();
    for (i, host) in server.hosts.as_slice().iter().enumerate() {
        if i > 0 {
            hosts.push(b',');
        }
        host.str_encode(&mut hosts);
    }
    let hosts = String::from_utf8(hosts)
        .map_err(|_| Refusal::Unrepresentable("a host name that is not UTF-8"))?;
    Ok((hosts, &server.port, server.key_hash.as_bytes()))
}
