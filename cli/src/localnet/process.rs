//! The local subnet's child processes: spawned in their own process group with their output in
//! a log file, awaited by their ready line, stopped with SIGTERM (SIGKILL only past a grace
//! period); and, for `localnet down`, processes known only by pid.

use std::fs::File;
use std::future::Future;
use std::io::Read as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use tokio::sync::watch;

/// How often a log file is read for the ready line and a child checked for exit.
const POLL: Duration = Duration::from_millis(50);

/// Lines of a log shown when its process fails.
pub(crate) const TAIL_LINES: usize = 25;

/// Set to `true` once on SIGINT or SIGTERM: everything that waits also watches it.
pub(crate) type Stop = watch::Receiver<bool>;

/// Runs `future` unless a stop is (or becomes) requested first: `None` then.
pub(crate) async fn until_stop<F: Future>(stop: &mut Stop, future: F) -> Option<F::Output> {
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        output = future => Some(output),
        // An error means the sender is gone: no stop can come any more, so wait on `future`.
        _ = stop.wait_for(|stopped| *stopped) => None,
    }
}

/// A child process of the local subnet.
#[derive(Debug)]
pub(crate) struct Proc {
    /// Its name in tables and the state file (`node`, `miner-best`, `validator-0`).
    pub(crate) name: String,
    /// Its stdout and stderr, appended.
    pub(crate) log: PathBuf,
    /// Its executable and arguments, to start it again the same way.
    binary: PathBuf,
    pub(crate) args: Vec<String>,
    /// Times it was started again after exiting on its own.
    pub(crate) restarts: u32,
    child: Child,
    /// Its exit status once reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `binary ARGS` with its output appended to `log`, in its own process group (so
    /// that a Ctrl-C on the terminal reaches only `subnet`, which stops the children in order).
    ///
    /// # Errors
    /// If the log cannot be created or the process not started.
    pub(crate) fn spawn(name: &str, binary: &Path, args: &[String], log: &Path) -> Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            log: log.to_owned(),
            binary: binary.to_owned(),
            args: args.to_vec(),
            restarts: 0,
            child: start(name, binary, args, log)?,
            status: None,
        })
    }

    /// Starts it again after it exited: same executable, arguments and log.
    ///
    /// # Errors
    /// If it is still running or cannot be started.
    pub(crate) fn restart(&mut self) -> Result<()> {
        if self.exited().is_none() {
            bail!("{} is still running", self.name);
        }
        self.child = start(&self.name, &self.binary, &self.args, &self.log)?;
        self.status = None;
        self.restarts = self.restarts.saturating_add(1);
        Ok(())
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status if it has exited (reaping it).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            // An error here means the child is no longer ours to wait on: treat as running.
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits for a line of its log starting with `prefix` and returns it.
    ///
    /// # Errors
    /// If the process exits first (with the end of its log), `timeout` passes, or a stop is
    /// requested.
    pub(crate) async fn wait_ready(
        &mut self,
        prefix: &str,
        timeout: Duration,
        stop: &mut Stop,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut file =
            File::open(&self.log).with_context(|| format!("opening {}", self.log.display()))?;
        let mut seen = String::new();
        loop {
            let mut chunk = Vec::new();
            file.read_to_end(&mut chunk)
                .with_context(|| format!("reading {}", self.log.display()))?;
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = seen.lines().find(|l| l.starts_with(prefix)) {
                // Only a whole line counts: the writer may be between its text and newline.
                if seen.contains(&format!("{line}\n")) {
                    return Ok(line.to_owned());
                }
            }
            // Keep the partial last line; drop what cannot hold the ready line any more.
            if let Some(cut) = seen.rfind('\n') {
                seen.drain(..=cut);
            }
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited ({}) before it was ready; the end of {}:\n{}",
                    self.name,
                    describe(status),
                    self.log.display(),
                    self.tail(TAIL_LINES)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} printed no `{prefix}` line within {} s; the end of {}:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display(),
                    self.tail(TAIL_LINES)
                );
            }
            if until_stop(stop, tokio::time::sleep(POLL)).await.is_none() {
                bail!("interrupted while waiting for {}", self.name);
            }
        }
    }

    /// The last `n` lines of its log.
    pub(crate) fn tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

/// Starts `binary ARGS` with its output appended to `log`, in its own process group.
fn start(name: &str, binary: &Path, args: &[String], log: &Path) -> Result<Child> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("NO_COLOR", "1")
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {name} ({})", binary.display()))
}

/// The last `n` lines of a text file (empty if it cannot be read).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines
        .get(lines.len().saturating_sub(n)..)
        .unwrap_or_default()
        .iter()
        .map(|l| format!("  {l}\n"))
        .collect()
}

/// How a process ended when it was asked to stop.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stopped {
    /// Its name.
    pub(crate) name: String,
    /// Its pid.
    pub(crate) pid: u32,
    /// Its exit code, if it exited (rather than died of a signal).
    pub(crate) exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub(crate) signal: Option<i32>,
    /// It had exited before it was asked to stop.
    pub(crate) exited_early: bool,
    /// It ignored SIGTERM for the whole grace period and was killed with SIGKILL.
    pub(crate) killed: bool,
    /// Times it was started again after exiting on its own while the subnet ran.
    pub(crate) restarts: u32,
}

impl Stopped {
    /// Stopped as asked: exit code 0 after SIGTERM.
    pub(crate) fn clean(&self) -> bool {
        self.exit_code == Some(0) && !self.killed && !self.exited_early
    }
}

/// Stops `procs` together: SIGTERM to each still running, then waits up to `grace` for all of
/// them; any left is killed with SIGKILL. Returns how each ended, in order.
pub(crate) async fn stop_all(procs: &mut [Proc], grace: Duration) -> Vec<Stopped> {
    let mut early = Vec::with_capacity(procs.len());
    for proc in procs.iter_mut() {
        let running = proc.exited().is_none();
        if running {
            signal(proc.pid(), libc::SIGTERM);
        }
        early.push(!running);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter_mut().any(|p| p.exited().is_none()) {
        tokio::time::sleep(POLL).await;
    }
    let mut stopped = Vec::with_capacity(procs.len());
    for (proc, exited_early) in procs.iter_mut().zip(early) {
        let mut killed = false;
        let status = match proc.exited() {
            Some(status) => Some(status),
            None => {
                killed = true;
                // Errors: it exited meanwhile; `wait` below reaps it either way.
                let _ = proc.child.kill();
                proc.child.wait().ok()
            }
        };
        stopped.push(Stopped {
            name: proc.name.clone(),
            pid: proc.pid(),
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            exited_early,
            killed,
            restarts: proc.restarts,
        });
    }
    stopped
}

/// An exit status in words: `exit code 1`, `signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Sends `sig` to `pid`; false if there is no such process.
pub(crate) fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) only reads its arguments; the pid is one this command started (checked
    // against /proc by callers that know it only from the state file).
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Whether `pid` is a live process (not a zombie waiting to be reaped).
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rfind(')')
        .and_then(|i| stat.get(i.saturating_add(1)..))
        .and_then(|rest| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// The command line of `pid`, arguments split.
pub(crate) fn cmdline(pid: u32) -> Option<Vec<String>> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// How a process known by pid was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PidStop {
    /// It was not running (or the pid now belongs to another program).
    NotRunning,
    /// It exited after SIGTERM.
    Terminated,
    /// It was still running after the grace period and got SIGKILL.
    Killed,
}

/// Stops the process `pid` if it is still ours: SIGTERM, up to `grace` for it to go, then
/// SIGKILL. It is ours when its command line runs `binary` and names `marker` (the data
/// directory), so a pid reused by an unrelated program is left alone.
pub(crate) fn stop_pid(pid: u32, binary: &Path, marker: &str, grace: Duration) -> PidStop {
    let ours = cmdline(pid).is_some_and(|args| {
        args.first().is_some_and(|a| Path::new(a) == binary)
            && args.iter().any(|a| a.contains(marker))
    });
    if !ours || !alive(pid) {
        return PidStop::NotRunning;
    }
    if !signal(pid, libc::SIGTERM) {
        return PidStop::NotRunning;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) {
            return PidStop::Terminated;
        }
        std::thread::sleep(POLL);
    }
    signal(pid, libc::SIGKILL);
    PidStop::Killed
}
