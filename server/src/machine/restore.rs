//! Restoring a server at start: queue records, saved messages, the journal and the stats
//! backup (before the first input).

use super::*;

/// What restoring saved messages gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Messages restored.
    pub restored: usize,
    /// Lines that did not parse, or legacy bodies that did not decrypt.
    pub bad_lines: usize,
    /// Messages of queues that no longer exist.
    pub unknown_queue: usize,
    /// Messages dropped because their queue was full.
    pub over_quota: usize,
}

/// Why the stats backup was not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreStatsError {
    /// Called after the server started.
    #[error(transparent)]
    Api(ServerError),
    /// The file does not parse.
    #[error("the stats backup does not parse")]
    Parse,
}

impl<R: CryptoRng> Server<R> {
    fn check_restore(&self) -> Result<(), ServerError> {
        if self.started {
            Err(ServerError::AlreadyStarted)
        } else {
            Ok(())
        }
    }

    /// Loads queues read from the store log ([`crate::store_log::read_store_log`]). A record
    /// with the recipient id of a loaded queue replaces it.
    pub fn restore_queues(
        &mut self,
        queues: impl IntoIterator<Item = QueueRec>,
    ) -> Result<(), ServerError> {
        self.check_restore()?;
        for rec in queues {
            self.queues
                .insert(&rec)
                .map_err(|_| ServerError::BadQueueId)?;
        }
        Ok(())
    }

    /// Loads the saved-messages file (v3 lines and legacy v1 lines). Unlike the reference it
    /// reads empty bodies, and skips (and counts) what it cannot restore instead of refusing
    /// to start.
    pub fn restore_messages(&mut self, text: &[u8]) -> Result<RestoreReport, ServerError> {
        self.check_restore()?;
        let mut report = RestoreReport::default();
        for line in text.split(|&b| b == b'\n') {
            if line.is_empty() || line == b"\r" {
                continue;
            }
            let (rid, message) = match msg_log::parse_line(line) {
                Ok(SavedMessageLine::V3 {
                    recipient_id,
                    message,
                }) => (recipient_id, message),
                Ok(SavedMessageLine::V1 {
                    recipient_id,
                    mut message,
                }) => {
                    let Some(q) = self.queues.get(recipient_id.as_bytes()) else {
                        report.unknown_queue += 1;
                        continue;
                    };
                    let nonce = CbNonce::from_slice_padded(message.msg_id.as_bytes());
                    match q.cb_key().decrypt(&nonce, &message.body) {
                        Ok(body) if body.len() <= MAX_MESSAGE_LENGTH => {
                            message.body = Bytes::from(body);
                            (recipient_id, message)
                        }
                        _ => {
                            report.bad_lines += 1;
                            continue;
                        }
                    }
                }
                Err(_) => {
                    report.bad_lines += 1;
                    continue;
                }
            };
            self.restore_message(rid, message, &mut report);
        }
        Ok(report)
    }

    /// Loads messages replayed from the durable journal ([`crate::durable::replay`]).
    pub fn restore_journal(
        &mut self,
        messages: impl IntoIterator<Item = (EntityId, StoredMessage)>,
    ) -> Result<RestoreReport, ServerError> {
        self.check_restore()?;
        let mut report = RestoreReport::default();
        for (rid, m) in messages {
            self.restore_message(rid, m, &mut report);
        }
        Ok(report)
    }

    fn restore_message(&mut self, rid: EntityId, m: StoredMessage, report: &mut RestoreReport) {
        let quota = self.config.msg_queue_quota;
        match self.queues.get_mut(rid.as_bytes()) {
            None => report.unknown_queue += 1,
            Some(q) if q.is_full(quota) => report.over_quota += 1,
            Some(q) => {
                q.push(m);
                report.restored += 1;
            }
        }
    }

    /// Loads the stats backup file.
    pub fn restore_stats(&mut self, text: &[u8]) -> Result<(), RestoreStatsError> {
        self.check_restore().map_err(RestoreStatsError::Api)?;
        self.stats = ServerStats::from_backup(text).map_err(|_| RestoreStatsError::Parse)?;
        Ok(())
    }
}
