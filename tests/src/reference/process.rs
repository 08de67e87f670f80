//! Small process helpers for tests that run programs as live peers: a free loopback port, a
//! bounded wait for a port to accept, and a child guard that captures the child's output and
//! kills it on drop so a failing test never leaves a process behind.

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago (bound to port 0, then released).
///
/// Another process may take it before the caller binds it; callers that start a program on it
/// should retry on a start failure.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `addr` accepts a TCP connection, polling every 20 ms, for at most `timeout`.
///
/// `alive` is asked between attempts; when it answers `false` (the program exited) the wait
/// stops early with an error instead of running out the timeout.
pub fn wait_for_port(
    addr: SocketAddr,
    timeout: Duration,
    mut alive: impl FnMut() -> bool,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !alive() {
            return Err(io::Error::other(format!(
                "the program exited before {addr} accepted"
            )));
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{addr} did not accept within {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The signal a [`ChildGuard`] sends to stop its child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// `SIGINT`: programs that handle it stop gracefully (the reference smp-server saves its
    /// undelivered messages).
    Interrupt,
    /// `SIGTERM`.
    Terminate,
}

/// A running child process whose stdout and stderr go to files in a directory (so the output
/// survives for failure messages without a reader thread), killed when the guard is dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl ChildGuard {
    /// Starts `command`, with stdin closed and stdout/stderr appended to `NAME.stdout` and
    /// `NAME.stderr` inside `output_dir` (appended, so a restart keeps the earlier output).
    pub fn spawn(mut command: Command, name: &str, output_dir: &Path) -> io::Result<Self> {
        let stdout = output_dir.join(format!("{name}.stdout"));
        let stderr = output_dir.join(format!("{name}.stderr"));
        let open = |p: &Path| File::options().create(true).append(true).open(p);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(open(&stdout)?))
            .stderr(Stdio::from(open(&stderr)?));
        let child = command.spawn()?;
        Ok(Self {
            child: Some(child),
            name: name.to_string(),
            stdout,
            stderr,
        })
    }

    /// The child's process id, while it has not been reaped.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child is still running (not exited, not reaped).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends `signal` to the child and waits at most `timeout` for it to exit; past that it is
    /// killed and the answer is an error (after the kill, so nothing is left running).
    pub fn stop(&mut self, signal: StopSignal, timeout: Duration) -> io::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return Err(io::Error::other(format!(
                "{} was already stopped",
                self.name
            )));
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        let sig = match signal {
            StopSignal::Interrupt => "-INT",
            StopSignal::Terminate => "-TERM",
        };
        // `kill` by the child's own pid: std has no portable way to send a chosen signal.
        let sent = Command::new("kill")
            .arg(sig)
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + timeout;
        if matches!(sent, Ok(s) if s.success()) {
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait()? {
                    return Ok(status);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{} did not stop on {sig} within {timeout:?}; killed\n{}",
                self.name,
                self.output()
            ),
        ))
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything the child wrote so far, stdout then stderr, for failure messages.
    pub fn output(&self) -> String {
        let read = |p: &Path| {
            let mut s = String::new();
            if let Ok(mut f) = File::open(p) {
                let _ = f.read_to_string(&mut s);
            }
            s
        };
        format!(
            "--- {} stdout ---\n{}--- {} stderr ---\n{}",
            self.name,
            read(&self.stdout),
            self.name,
            read(&self.stderr)
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_captures_output_and_stops_a_sleeping_child() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo started; exec sleep 30");
        let mut guard = ChildGuard::spawn(cmd, "sleeper", dir.path()).unwrap();
        assert!(guard.is_running());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !guard.output().contains("started") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(guard.output().contains("started"), "{}", guard.output());
        let status = guard
            .stop(StopSignal::Terminate, Duration::from_secs(5))
            .unwrap();
        assert!(!status.success());
        assert!(!guard.is_running());
    }

    #[test]
    fn wait_for_port_sees_a_listener_and_gives_up_on_a_dead_program() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        wait_for_port(addr, Duration::from_secs(2), || true).unwrap();
        drop(listener);
        let err = wait_for_port(addr, Duration::from_secs(10), || false).unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
    }
}
