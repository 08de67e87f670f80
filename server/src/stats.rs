//! Usage statistics: aggregates only, in the reference's formats.
//!
//! The daily line (appended to the stats log):
//!
//! ```text
//! <from date>,<queues created>,<secured>,<deleted>,<msgs sent>,<msgs received>,<day>,<week>,<month>
//! ```
//!
//! where `<day>` is the number of distinct queues that sent or received since the last line,
//! `<week>` is written only on Mondays and `<month>` only on the first of the month (empty
//! otherwise), each counting the queues active since it was last written. The line carries no
//! id. The backup file keeps the counters and the active-queue sets across restarts (the
//! reference's `fromTime=…` format); being the reference's format it holds queue ids, so it is
//! a state file, never a log.

use std::collections::BTreeSet;

use simplex_core::encoding::string::{base64url_encode, Scanner, StrDecode, StrEncode};
use simplex_core::encoding::{DecodeError, UnixTime, UtcTime};
use simplex_core::protocol::EntityId;

/// The counters and active-queue sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStats {
    /// Start of the current period.
    pub from_time: UnixTime,
    /// Queues created.
    pub q_created: u64,
    /// Queues secured.
    pub q_secured: u64,
    /// Queues deleted.
    pub q_deleted: u64,
    /// Messages accepted.
    pub msg_sent: u64,
    /// Messages acknowledged.
    pub msg_recv: u64,
    /// Queues active since the last line.
    pub day: BTreeSet<EntityId>,
    /// Queues active since the last Monday line.
    pub week: BTreeSet<EntityId>,
    /// Queues active since the last first-of-month line.
    pub month: BTreeSet<EntityId>,
}

const SECONDS_PER_DAY: i64 = 86_400;

fn utc(t: UnixTime) -> UtcTime {
    UtcTime {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

/// `YYYY-MM-DD` of a time.
pub fn date_string(t: UnixTime) -> String {
    let text = utc(UnixTime::from_seconds(t.seconds)).to_str_bytes();
    String::from_utf8_lossy(text.get(..10).unwrap_or(&text)).into_owned()
}

/// Day of the week, Monday = 1 … Sunday = 7.
pub fn weekday(t: UnixTime) -> u8 {
    // 1970-01-01 was a Thursday.
    (t.seconds.div_euclid(SECONDS_PER_DAY) + 3).rem_euclid(7) as u8 + 1
}

/// Day of the month, from 1.
pub fn month_day(t: UnixTime) -> u8 {
    date_string(t)
        .get(8..10)
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

impl ServerStats {
    /// Empty stats starting at `from_time`.
    pub fn new(from_time: UnixTime) -> Self {
        Self {
            from_time,
            q_created: 0,
            q_secured: 0,
            q_deleted: 0,
            msg_sent: 0,
            msg_recv: 0,
            day: BTreeSet::new(),
            week: BTreeSet::new(),
            month: BTreeSet::new(),
        }
    }

    /// Counts `queue` as active in every period.
    pub fn active(&mut self, queue: &EntityId) {
        if !self.day.contains(queue) {
            self.day.insert(queue.clone());
        }
        if !self.week.contains(queue) {
            self.week.insert(queue.clone());
        }
        if !self.month.contains(queue) {
            self.month.insert(queue.clone());
        }
    }

    /// The daily line at `now` (without newline); resets what it reports.
    pub fn take_line(&mut self, now: UnixTime) -> String {
        let from = std::mem::replace(&mut self.from_time, now);
        let day = std::mem::take(&mut self.day).len().to_string();
        let week = if weekday(now) == 1 {
            std::mem::take(&mut self.week).len().to_string()
        } else {
            String::new()
        };
        let month = if month_day(now) == 1 {
            std::mem::take(&mut self.month).len().to_string()
        } else {
            String::new()
        };
        let line = format!(
            "{},{},{},{},{},{},{},{},{}",
            date_string(from),
            self.q_created,
            self.q_secured,
            self.q_deleted,
            self.msg_sent,
            self.msg_recv,
            day,
            week,
            month
        );
        self.q_created = 0;
        self.q_secured = 0;
        self.q_deleted = 0;
        self.msg_sent = 0;
        self.msg_recv = 0;
        line
    }

    /// Adds another shard's stats (for a sharded server's single line); the periods' sets are
    /// disjoint across shards, so counts add up.
    pub fn merge(&mut self, other: &ServerStats) {
        self.from_time = self.from_time.min(other.from_time);
        self.q_created += other.q_created;
        self.q_secured += other.q_secured;
        self.q_deleted += other.q_deleted;
        self.msg_sent += other.msg_sent;
        self.msg_recv += other.msg_recv;
        self.day.extend(other.day.iter().cloned());
        self.week.extend(other.week.iter().cloned());
        self.month.extend(other.month.iter().cloned());
    }

    /// The backup file's text.
    pub fn to_backup(&self) -> String {
        let set = |s: &BTreeSet<EntityId>| {
            s.iter()
                .map(|id| base64url_encode(id.as_bytes()))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "fromTime={}\nqCreated={}\nqSecured={}\nqDeleted={}\nmsgSent={}\nmsgRecv={}\nactiveQueues:\nday={}\nweek={}\nmonth={}\n",
            String::from_utf8_lossy(&utc(self.from_time).to_str_bytes()),
            self.q_created,
            self.q_secured,
            self.q_deleted,
            self.msg_sent,
            self.msg_recv,
            set(&self.day),
            set(&self.week),
            set(&self.month),
        )
    }

    /// Reads a backup file (the current form, or the older one with `dayMsgQueues=`).
    pub fn from_backup(text: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Scanner::new(text);
        let field = |s: &mut Scanner<'_>, name: &'static str| -> Result<u64, DecodeError> {
            s.expect_str(name.as_bytes(), name)?;
            let v = s.decimal()?;
            end_of_line(s)?;
            Ok(v)
        };
        s.expect_str(b"fromTime=", "fromTime")?;
        let t = UtcTime::str_parse(&mut s)?;
        end_of_line(&mut s)?;
        let q_created = field(&mut s, "qCreated=")?;
        let q_secured = field(&mut s, "qSecured=")?;
        let q_deleted = field(&mut s, "qDeleted=")?;
        let msg_sent = field(&mut s, "msgSent=")?;
        let msg_recv = field(&mut s, "msgRecv=")?;
        let (names, last_optional): ([&[u8]; 3], bool) = if s.eat_str(b"activeQueues:") {
            end_of_line(&mut s)?;
            ([b"day=", b"week=", b"month="], true)
        } else {
            (
                [b"dayMsgQueues=", b"weekMsgQueues=", b"monthMsgQueues="],
                true,
            )
        };
        let mut sets: [BTreeSet<EntityId>; 3] = Default::default();
        for (i, name) in names.iter().enumerate() {
            s.expect_str(name, "period")?;
            let items = s.take_till(|b| b == b'\n' || b == b'\r');
            for item in items.split(|&b| b == b',').filter(|i| !i.is_empty()) {
                let id = EntityId::new(Vec::<u8>::str_decode(item)?)
                    .map_err(|_| DecodeError::Invalid("queue id"))?;
                sets[i].insert(id);
            }
            if i < 2 || !last_optional || !s.is_empty() {
                end_of_line(&mut s)?;
            }
        }
        s.finish()?;
        let [day, week, month] = sets;
        Ok(Self {
            from_time: UnixTime {
                seconds: t.seconds,
                nanoseconds: t.nanoseconds,
            },
            q_created,
            q_secured,
            q_deleted,
            msg_sent,
            msg_recv,
            day,
            week,
            month,
        })
    }
}

fn end_of_line(s: &mut Scanner<'_>) -> Result<(), DecodeError> {
    s.eat(b'\r');
    s.expect(b'\n', "end of line")
}

/// The shards' daily lines as one: the first one's date, each count summed (a field empty in
/// every line — week and month on most days — stays empty).
pub fn merge_lines(lines: &[String]) -> String {
    let mut fields: Vec<String> = Vec::new();
    let mut sums: Vec<Option<u64>> = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        for (i, field) in line.split(',').enumerate() {
            if i == 0 {
                if n == 0 {
                    fields.push(field.to_string());
                }
                continue;
            }
            if sums.len() < i {
                sums.resize(i, None);
            }
            if let (Ok(v), Some(slot)) = (field.parse::<u64>(), sums.get_mut(i - 1)) {
                *slot = Some(slot.unwrap_or(0) + v);
            }
        }
    }
    fields.extend(
        sums.iter()
            .map(|s| s.map(|v| v.to_string()).unwrap_or_default()),
    );
    fields.join(",")
}

/// The shards' stats backups as one ([`ServerStats::merge`]); one that does
/// not parse is left out.
pub fn merge_backups(backups: &[String]) -> String {
    let mut merged: Option<ServerStats> = None;
    for b in backups {
        if let Ok(s) = ServerStats::from_backup(b.as_bytes()) {
            match &mut merged {
                Some(m) => m.merge(&s),
                None => merged = Some(s),
            }
        }
    }
    merged.map(|m| m.to_backup()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_lines_add_up() {
        let lines = [
            "2026-11-25,1,2,0,10,9,3,,".to_string(),
            "2026-11-25,4,0,1,5,5,2,,".to_string(),
        ];
        assert_eq!(merge_lines(&lines), "2026-11-25,5,2,1,15,14,5,,");
        let monday = [
            "d,0,0,0,0,0,1,4,".to_string(),
            "d,0,0,0,0,0,0,2,".to_string(),
        ];
        assert_eq!(merge_lines(&monday), "d,0,0,0,0,0,1,6,");
    }
}
