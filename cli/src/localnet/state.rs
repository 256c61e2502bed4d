//! The state file of a local subnet (`DATA_DIR/localnet.json`: pids, binaries, addresses),
//! the data directory's life cycle, and `localnet down`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use super::process::{self, PidStop};

/// Name of the state file in the data directory.
pub(crate) const STATE_FILE: &str = "localnet.json";

/// How long `down` waits for a running `localnet up` to stop its children itself.
const UP_GRACE: Duration = Duration::from_secs(60);

/// How long `down` waits for a child to go after SIGTERM.
const CHILD_GRACE: Duration = Duration::from_secs(15);

/// What `localnet up` started, rewritten as it starts each process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// Pid of the `subnet localnet up` process.
    pub(crate) up_pid: u32,
    /// The data directory (absolute).
    pub(crate) data_dir: PathBuf,
    /// The node's JSON-RPC URL, once it is up.
    pub(crate) rpc: Option<String>,
    /// The subnet, once created.
    pub(crate) netuid: Option<u16>,
    /// The children, in start order.
    pub(crate) processes: Vec<ProcessEntry>,
}

/// One child in the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProcessEntry {
    /// Its name: `node`, `miner-best`, `validator-0`.
    pub(crate) name: String,
    /// Its pid.
    pub(crate) pid: u32,
    /// Its executable (absolute).
    pub(crate) binary: PathBuf,
    /// Its log.
    pub(crate) log: PathBuf,
    /// Its ready line (with its addresses and ports), once printed.
    pub(crate) ready: Option<String>,
}

impl State {
    /// Writes the state file (replacing it whole, so a reader never sees half of it).
    ///
    /// # Errors
    /// If the file cannot be written.
    pub(crate) fn save(&self) -> Result<()> {
        let path = self.data_dir.join(STATE_FILE);
        let temp = self.data_dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).context("encoding the state")?;
        std::fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
        std::fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads the state file of `data_dir`, `None` if there is none.
    ///
    /// # Errors
    /// If it exists but cannot be read or parsed.
    pub(crate) fn load(data_dir: &Path) -> Result<Option<Self>> {
        let path = data_dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a localnet state file", path.display()))
    }

    /// The children still running, by their state entries.
    fn running(&self) -> Vec<&ProcessEntry> {
        let marker = self.data_dir.to_string_lossy();
        self.processes
            .iter()
            .filter(|p| {
                process::alive(p.pid)
                    && process::cmdline(p.pid).is_some_and(|args| {
                        args.first().is_some_and(|a| Path::new(a) == p.binary)
                            && args.iter().any(|a| a.contains(marker.as_ref()))
                    })
            })
            .collect()
    }
}

/// Makes `dir` an empty data directory for a new run and returns it absolute: creates it, or
/// empties one left by an earlier run. Refuses a directory with a localnet still running in
/// it, or one with other contents (it is not ours to delete).
///
/// # Errors
/// As above, or if the directory cannot be made.
pub(crate) fn prepare(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        let absolute = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        match State::load(&absolute)? {
            Some(state) => {
                let running = state.running();
                if !running.is_empty() || up_running(&state) {
                    bail!(
                        "a localnet is running in {} (pids {}): stop it with `subnet localnet \
                         down --data-dir {}`",
                        absolute.display(),
                        running
                            .iter()
                            .map(|p| p.pid.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        dir.display()
                    );
                }
                remove(&absolute)?;
            }
            None => {
                if !is_empty_dir(&absolute)? {
                    bail!(
                        "{} exists and is not a localnet data directory: pass another --data-dir",
                        absolute.display()
                    );
                }
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    dir.canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none())
}

fn remove(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// Whether the `localnet up` of `state` is still running (and is a `subnet` process).
fn up_running(state: &State) -> bool {
    state.up_pid != std::process::id()
        && process::alive(state.up_pid)
        && process::cmdline(state.up_pid).is_some_and(|args| {
            args.iter().any(|a| a == "localnet") && args.iter().any(|a| a == "up")
        })
}

/// What `localnet down` did.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DownReport {
    /// The data directory.
    pub(crate) data_dir: PathBuf,
    /// A `localnet up` was still running and was asked to stop (SIGTERM).
    pub(crate) stopped_up: bool,
    /// Children stopped with SIGTERM.
    pub(crate) terminated: Vec<String>,
    /// Children that needed SIGKILL.
    pub(crate) killed: Vec<String>,
    /// The data directory was removed.
    pub(crate) removed: bool,
}

/// `localnet down`: stops what the state file of `dir` names (a running `localnet up` first,
/// which stops its own children; then any child left, only if its command line is still ours),
/// then removes the directory.
///
/// # Errors
/// If the state file is unreadable, or the directory holds no localnet and is not empty.
pub(crate) fn down(dir: &Path) -> Result<DownReport> {
    let mut report = DownReport {
        data_dir: dir.to_owned(),
        ..DownReport::default()
    };
    if !dir.exists() {
        return Ok(report);
    }
    let absolute = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    report.data_dir.clone_from(&absolute);
    let Some(state) = State::load(&absolute)? else {
        if !is_empty_dir(&absolute)? {
            bail!(
                "{} has no {STATE_FILE}: not a localnet data directory, left alone",
                absolute.display()
            );
        }
        remove(&absolute)?;
        report.removed = true;
        return Ok(report);
    };
    if up_running(&state) {
        report.stopped_up = true;
        process::signal(state.up_pid, libc::SIGTERM);
        let deadline = Instant::now() + UP_GRACE;
        while process::alive(state.up_pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let marker = state.data_dir.to_string_lossy();
    // Validators and miners before the node they use.
    for entry in state.processes.iter().rev() {
        match process::stop_pid(entry.pid, &entry.binary, &marker, CHILD_GRACE) {
            PidStop::NotRunning => {}
            PidStop::Terminated => report.terminated.push(entry.name.clone()),
            PidStop::Killed => report.killed.push(entry.name.clone()),
        }
    }
    remove(&absolute)?;
    report.removed = true;
    Ok(report)
}
