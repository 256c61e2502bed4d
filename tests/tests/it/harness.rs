//! Finding the binaries, and running `subnet localnet up` as a child whose output is read as
//! it comes.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binaries these tests run.
const BINARIES: [&str; 4] = ["subnet", "subnet-node", "miner", "validator"];

/// The directory of the workspace's binaries: this test binary is `target/<profile>/deps/it-…`.
pub(crate) fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .to_owned();
    for name in BINARIES {
        assert!(
            dir.join(name).is_file(),
            "{name} is not built in {}: run `cargo build --locked --bins` (cargo nextest run \
             --workspace builds it too)",
            dir.display()
        );
    }
    dir
}

/// The workspace root, where `deploy/localnet` and `models/checkpoints` are.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `subnet ARGS`, run from the workspace root.
pub(crate) fn subnet() -> Command {
    let mut command = Command::new(bin_dir().join("subnet"));
    command.current_dir(workspace_root());
    command
}

/// The value of `key=` in a line of `key=value` words.
pub(crate) fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// Whether `pid` is a live process (zombies count as gone).
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .and_then(|rest| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// A running `subnet localnet up`: its stderr lines arrive on a channel (and are kept for
/// failure messages), its stdout is collected whole.
pub(crate) struct Up {
    child: Option<Child>,
    data_dir: PathBuf,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stdout: Option<JoinHandle<String>>,
}

impl Up {
    /// Starts `subnet localnet up --data-dir DATA_DIR ARGS`.
    pub(crate) fn start(data_dir: &Path, args: &[&str]) -> Self {
        let mut child = subnet()
            .args(["localnet", "up", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let kept = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                kept.lock().unwrap().push_str(&format!("{line}\n"));
                // The receiver may be gone once the test has what it waited for.
                let _ = tx.send(line);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            out.read_to_string(&mut text).unwrap();
            text
        });
        Self {
            child: Some(child),
            data_dir: data_dir.to_owned(),
            lines,
            stderr,
            stdout: Some(stdout),
        }
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// What it printed on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a stderr line starting with `prefix`.
    pub(crate) fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no `{prefix}` line in time; stderr:\n{}", self.stderr())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().unwrap().wait().unwrap();
                    panic!(
                        "localnet up ended ({status}) without `{prefix}`; stderr:\n{}",
                        self.stderr()
                    )
                }
            }
        }
    }

    /// Waits for it to exit (killing it past `timeout`) and returns its output.
    pub(crate) fn wait(mut self, timeout: Duration) -> Output {
        let status = wait_timeout(self.child.as_mut().unwrap(), timeout).unwrap_or_else(|| {
            panic!(
                "localnet up still running after {} s; stderr:\n{}",
                timeout.as_secs(),
                self.stderr()
            )
        });
        self.child = None;
        let stdout = self.stdout.take().unwrap().join().unwrap();
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        Output {
            status,
            stdout: stdout.into_bytes(),
            stderr: self.stderr().into_bytes(),
        }
    }

    /// Kills it with SIGKILL (its children keep running) and reaps it. (`&mut`: dropping it
    /// would run `localnet down`.)
    pub(crate) fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Up {
    /// A failed test must not leave processes behind: stop `up` (which stops its children)
    /// and then clean up anything left with `localnet down`.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe {
                libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM);
            }
            if wait_timeout(&mut child, Duration::from_secs(40)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Nothing to do when the run ended cleanly or the test already ran `down`.
        let _ = subnet()
            .args(["localnet", "down", "--data-dir"])
            .arg(&self.data_dir)
            .output();
    }
}

/// Waits for `child` up to `timeout`; `None` if it is still running.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
