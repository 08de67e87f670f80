//! The server's files: reading them into a [`Server`] at start, and carrying out the
//! persistence outputs while it runs. Plain `std::fs`, shared by both shells; the formats are
//! the machine's ([`crate::store_log`], [`crate::msg_log`], [`crate::durable`], [`crate::stats`]).
//!
//! The reference's names in the log directory are kept, so its files and ours can be swapped:
//! `smp-server-store.log`, `smp-server-messages.log` (renamed to `.bak` once restored),
//! `smp-server-stats.daily.log`, `smp-server-stats.log` (the stats backup, renamed to `.bak`
//! once restored). Ours: `smp-server-journal.log` (durable messages).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use simplex_core::crypto::CryptoRng;

use crate::driver::DriverOutput;
use crate::stats::ServerStats;
use crate::{durable, msg_log, store_log, RestoreReport, Server, Shard, ShardRouter};

/// Where each file lives; `None` turns that kind of persistence off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFiles {
    /// The store log (queue records).
    pub store_log: Option<PathBuf>,
    /// Messages saved at a graceful stop and restored at start.
    pub messages: Option<PathBuf>,
    /// The durable-messages journal.
    pub journal: Option<PathBuf>,
    /// The daily stats lines.
    pub stats_log: Option<PathBuf>,
    /// The stats backup (state kept across restarts).
    pub stats_backup: Option<PathBuf>,
}

/// Which files [`DataFiles::in_dir`] turns on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// `[STORE_LOG] enable`.
    pub store_log: bool,
    /// `[STORE_LOG] restore_messages`.
    pub restore_messages: bool,
    /// `[STORE_LOG] log_stats`.
    pub log_stats: bool,
    /// `[MESSAGES] durable`.
    pub durable: bool,
}

impl FileOptions {
    /// The store log and the saved messages, nothing else: a server restarted on the same
    /// directory gets its queues and undelivered messages back.
    pub const RESTORABLE: Self = Self {
        store_log: true,
        restore_messages: true,
        log_stats: false,
        durable: false,
    };
}

impl DataFiles {
    /// The reference's file names in `dir`, as `options` turn them on.
    pub fn in_dir(dir: &Path, options: FileOptions) -> Self {
        let at = |on: bool, name: &str| on.then(|| dir.join(name));
        Self {
            store_log: at(options.store_log, "smp-server-store.log"),
            messages: at(options.restore_messages, "smp-server-messages.log"),
            journal: at(options.durable, "smp-server-journal.log"),
            stats_log: at(options.log_stats, "smp-server-stats.daily.log"),
            stats_backup: at(options.log_stats, "smp-server-stats.log"),
        }
    }
}

/// What loading the files at start found (counts only: no id is ever logged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Queues restored from the store log.
    pub queues: usize,
    /// Store-log lines that did not parse.
    pub bad_store_log_lines: usize,
    /// Saved messages.
    pub messages: RestoreReport,
    /// Journal messages.
    pub journal: RestoreReport,
    /// Whether a stats backup was restored.
    pub stats_restored: bool,
}

/// A file operation that failed, with the file's path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_path_buf(),
        source,
    }
}

/// The data files' contents before a start restores (and compacts or renames) them: what a
/// trace of the run needs to rebuild the same starting state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartingContents {
    /// The store log.
    pub store_log: String,
    /// The saved messages.
    pub messages: String,
    /// The message journal.
    pub journal: String,
    /// The stats backup.
    pub stats_backup: String,
}

impl DataFiles {
    /// Reads what [`DataFiles::load_sharded`] will restore from (missing files are empty).
    pub fn starting_contents(&self) -> Result<StartingContents, FileError> {
        let text = |path: &Option<PathBuf>| -> Result<String, FileError> {
            let Some(path) = path else {
                return Ok(String::new());
            };
            let bytes = read_if_exists(path).map_err(at(path))?.unwrap_or_default();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok(StartingContents {
            store_log: text(&self.store_log)?,
            messages: text(&self.messages)?,
            journal: text(&self.journal)?,
            stats_backup: text(&self.stats_backup)?,
        })
    }
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn bak(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Writes `text` to `path` through a temporary file and a rename, so a crash leaves either the
/// old or the new file.
fn replace_file(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(text)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl DataFiles {
    /// Reads the files into `server` (before its first input), as the reference does at start:
    /// the store log is compacted in place; saved messages and the stats backup are renamed to
    /// `.bak` once read; the journal is compacted in place.
    pub fn load<R: CryptoRng>(&self, server: &mut Server<R>) -> Result<LoadReport, FileError> {
        self.load_sharded(std::slice::from_mut(server))
            .map(|(report, _)| report)
    }

    /// As [`DataFiles::load`], into the shards of a sharded server (`servers[i]` is shard `i`
    /// of `servers.len()`): each queue goes to its shard (`ShardRouter::place`), and the router
    /// that knows where imported queues went comes back with the report. The stats backup
    /// goes to shard 0.
    pub fn load_sharded<R: CryptoRng>(
        &self,
        servers: &mut [Server<R>],
    ) -> Result<(LoadReport, ShardRouter), FileError> {
        let count = u16::try_from(servers.len()).unwrap_or(u16::MAX).max(1);
        let mut router = ShardRouter::new(count);
        let mut report = LoadReport::default();
        // Only a restore after the first input fails, which `Host::start` never does.
        let api = |path: &Path| {
            let path = path.to_path_buf();
            move |e: crate::ServerError| FileError {
                path,
                source: io::Error::other(e.to_string()),
            }
        };
        if let Some(path) = &self.store_log {
            if let Some(text) = read_if_exists(path).map_err(at(path))? {
                let contents = store_log::read_store_log(&text);
                report.queues = contents.queues.len();
                report.bad_store_log_lines = contents.bad_lines;
                replace_file(
                    path,
                    store_log::compact(contents.queues.values()).as_bytes(),
                )
                .map_err(at(path))?;
                let placed = router.place(contents.queues.into_values());
                for (server, queues) in servers.iter_mut().zip(placed) {
                    server.restore_queues(queues).map_err(api(path))?;
                }
            }
        }
        if let Some(path) = &self.messages {
            if let Some(text) = read_if_exists(path).map_err(at(path))? {
                // Every shard reads every line and keeps its own queues' messages.
                let mut reports = Vec::new();
                for server in servers.iter_mut() {
                    reports.push(server.restore_messages(&text).map_err(api(path))?);
                }
                report.messages = merge_reports(&reports);
                fs::rename(path, bak(path)).map_err(at(path))?;
            }
        }
        if let Some(path) = &self.journal {
            if let Some(text) = read_if_exists(path).map_err(at(path))? {
                let queues = durable::replay(&text);
                replace_file(path, durable::compact(&queues).as_bytes()).map_err(at(path))?;
                let mut reports = Vec::new();
                for (i, server) in servers.iter_mut().enumerate() {
                    let messages = queues
                        .iter()
                        .filter(|(rid, _)| usize::from(Shard::of(rid.as_bytes(), count)) == i)
                        .flat_map(|(rid, msgs)| msgs.iter().map(move |m| (rid.clone(), m.clone())));
                    reports.push(server.restore_journal(messages).map_err(api(path))?);
                }
                report.journal =
                    reports
                        .iter()
                        .fold(RestoreReport::default(), |a, r| RestoreReport {
                            restored: a.restored + r.restored,
                            bad_lines: a.bad_lines + r.bad_lines,
                            unknown_queue: a.unknown_queue + r.unknown_queue,
                            over_quota: a.over_quota + r.over_quota,
                        });
            }
        }
        if let Some(path) = &self.stats_backup {
            if let Some(text) = read_if_exists(path).map_err(at(path))? {
                // Each shard gets the active queues it owns; the counters go to shard 0.
                if let Ok(stats) = ServerStats::from_backup(&text) {
                    report.stats_restored = true;
                    for (i, server) in servers.iter_mut().enumerate() {
                        let own =
                            |set: &std::collections::BTreeSet<simplex_core::protocol::EntityId>| {
                                set.iter()
                                    .filter(|id| usize::from(Shard::of(id.as_bytes(), count)) == i)
                                    .cloned()
                                    .collect()
                            };
                        let part = ServerStats {
                            day: own(&stats.day),
                            week: own(&stats.week),
                            month: own(&stats.month),
                            ..if i == 0 {
                                stats.clone()
                            } else {
                                ServerStats::new(stats.from_time)
                            }
                        };
                        report.stats_restored &=
                            server.restore_stats(part.to_backup().as_bytes()).is_ok();
                    }
                }
                fs::rename(path, bak(path)).map_err(at(path))?;
            }
        }
        Ok((report, router))
    }
}

/// One report from the reports of shards that each read the whole saved-messages file: a
/// line every shard could parse went to one shard (restored or over quota) or to none.
fn merge_reports(reports: &[RestoreReport]) -> RestoreReport {
    let Some(first) = reports.first() else {
        return RestoreReport::default();
    };
    let valid = first.restored + first.unknown_queue + first.over_quota;
    let restored = reports.iter().map(|r| r.restored).sum::<usize>();
    let over_quota = reports.iter().map(|r| r.over_quota).sum::<usize>();
    RestoreReport {
        restored,
        bad_lines: first.bad_lines,
        unknown_queue: valid.saturating_sub(restored + over_quota),
        over_quota,
    }
}

/// An append-only file of lines (the store log, the journal) that never keeps half a line: a
/// write that fails part way (a full disk) is cut back off, so the next line that does get
/// written is not glued to a torn one and lost with it at the next start.
#[derive(Debug)]
struct LineLog {
    file: File,
    /// The length of the file as of the last whole line.
    len: u64,
    /// A failed write could not be cut back off: start the next line on a line of its own.
    torn: bool,
}

impl LineLog {
    fn open(path: &Path) -> io::Result<Self> {
        let file = append(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            len,
            torn: false,
        })
    }

    fn append_line(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if self.torn {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match self.file.write_all(&bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                self.torn = false;
                Ok(())
            }
            Err(e) => {
                // Appends go to the end whatever the cursor, so cutting the length is enough.
                if self.file.set_len(self.len).is_err() {
                    self.torn = true;
                }
                Err(e)
            }
        }
    }
}

/// The open files of a running server; carries out the persistence outputs of the driver.
#[derive(Debug)]
pub struct FileWriter {
    files: DataFiles,
    store_log: Option<LineLog>,
    journal: Option<LineLog>,
    stats_log: Option<File>,
    /// Opened (truncated) at the first saved message of a stop.
    saved: Option<io::BufWriter<File>>,
    /// Journal records written and not yet synced.
    journal_unsynced: bool,
}

impl FileWriter {
    /// Opens the append-only files (after [`DataFiles::load`]).
    pub fn open(files: DataFiles) -> Result<Self, FileError> {
        let open = |p: &Option<PathBuf>| p.as_deref().map(|p| append(p).map_err(at(p))).transpose();
        let lines = |p: &Option<PathBuf>| {
            p.as_deref()
                .map(|p| LineLog::open(p).map_err(at(p)))
                .transpose()
        };
        Ok(Self {
            store_log: lines(&files.store_log)?,
            journal: lines(&files.journal)?,
            stats_log: open(&files.stats_log)?,
            saved: None,
            journal_unsynced: false,
            files,
        })
    }

    /// Carries out one output; outputs that are not about files are ignored.
    pub fn write(&mut self, output: &DriverOutput) -> io::Result<()> {
        match output {
            DriverOutput::Persist(record) => {
                if let Some(log) = &mut self.store_log {
                    log.append_line(&record.to_line())?;
                }
            }
            DriverOutput::Journal(record) => {
                if let Some(log) = &mut self.journal {
                    self.journal_unsynced = true;
                    log.append_line(&record.to_line())?;
                }
            }
            // With the journal on, it already holds every message: no second copy.
            DriverOutput::SaveMessage {
                recipient_id,
                message,
            } if self.journal.is_none() => {
                if let Some(path) = &self.files.messages {
                    if self.saved.is_none() {
                        self.saved = Some(io::BufWriter::new(File::create(path)?));
                    }
                    if let Some(f) = &mut self.saved {
                        writeln!(f, "{}", msg_log::encode_line(recipient_id, message))?;
                    }
                }
            }
            DriverOutput::StatsBackup(text) => {
                if let Some(path) = &self.files.stats_backup {
                    replace_file(path, text.as_bytes())?;
                }
            }
            DriverOutput::Stats(line) => {
                if let Some(f) = &mut self.stats_log {
                    writeln!(f, "{line}")?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Syncs the journal records written since the last sync. The host calls this after each
    /// input, before the shell sends any answer that depends on them: one sync per input,
    /// however many records it caused.
    pub fn sync_journal(&mut self) -> io::Result<()> {
        if self.journal_unsynced {
            if let Some(log) = &self.journal {
                log.file.sync_data()?;
            }
            self.journal_unsynced = false;
        }
        Ok(())
    }

    /// Flushes and syncs everything (at a graceful stop). With messages saved at stop (and no
    /// journal), the saved-messages file is written even when no message was undelivered: an
    /// empty file, as the reference leaves, saying there was nothing to save.
    pub fn finish(&mut self) -> io::Result<()> {
        if let (None, None, Some(path)) = (&self.saved, &self.journal, &self.files.messages) {
            self.saved = Some(io::BufWriter::new(File::create(path)?));
        }
        if let Some(f) = &mut self.saved {
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        let logs = [&self.store_log, &self.journal].into_iter().flatten();
        for f in logs.map(|log| &log.file).chain(&self.stats_log) {
            f.sync_all()?;
        }
        Ok(())
    }
}
