//! What `localnet up` shows: the live table (redrawn every block on a terminal), a line per
//! epoch, and the final summary (text, or one JSON document with `--json`).

use std::io::Write as _;

use serde::Serialize;
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::{EmissionReport, EpochEmission, Metagraph, NeuronInfo};
use subnet_protocol::ids::{NetUid, Rao};
use subnet_protocol::keys::PublicKey;

use super::process::Stopped;
use crate::table::{Table, ratio, short_ainft};

/// Where progress goes: stdout, or stderr when stdout carries the JSON document. On a terminal
/// the live table is kept at the bottom, redrawn in place.
#[derive(Debug)]
pub(crate) struct Screen {
    to_stderr: bool,
    live: bool,
    /// Lines of the table drawn last, to erase before the next output.
    drawn: usize,
}

impl Screen {
    /// Progress on stderr if `json`, else stdout; a live table if that is a terminal.
    pub(crate) fn new(json: bool) -> Self {
        use std::io::IsTerminal as _;
        let live = if json {
            false
        } else {
            std::io::stdout().is_terminal()
        };
        Self {
            to_stderr: json,
            live,
            drawn: 0,
        }
    }

    fn write(&mut self, text: &str) {
        let erase = if self.drawn > 0 {
            // Up to the table's first line, then clear to the end of the screen.
            format!("\x1b[{}F\x1b[J", self.drawn)
        } else {
            String::new()
        };
        self.drawn = 0;
        // A closed terminal or pipe is no reason to abandon the children: ignore write errors.
        if self.to_stderr {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{erase}{text}");
            let _ = err.flush();
        } else {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{erase}{text}");
            let _ = out.flush();
        }
    }

    /// Prints a line above the live table.
    pub(crate) fn line(&mut self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    /// Replaces the live table (nothing when not live).
    pub(crate) fn table(&mut self, text: &str) {
        if !self.live {
            return;
        }
        self.write(text);
        self.drawn = text.lines().count();
    }

    /// Leaves the table as it is and moves on below it.
    pub(crate) fn keep(&mut self) {
        self.drawn = 0;
    }
}

/// Who is who in the metagraph.
#[derive(Debug, Clone)]
pub(crate) struct Roster {
    /// Miners: hotkey and checkpoint name.
    pub(crate) miners: Vec<(PublicKey, &'static str)>,
    /// Validators' hotkeys.
    pub(crate) validators: Vec<PublicKey>,
}

impl Roster {
    fn role(&self, hotkey: &PublicKey) -> String {
        if let Some((_, name)) = self.miners.iter().find(|(k, _)| k == hotkey) {
            format!("miner {name}")
        } else if let Some(i) = self.validators.iter().position(|k| k == hotkey) {
            format!("validator {i}")
        } else {
            "other".to_owned()
        }
    }
}

/// The live table: one row per UID.
pub(crate) fn live_table(
    metagraph: &Metagraph,
    roster: &Roster,
    epochs: (u64, Option<u64>),
) -> String {
    let mut table = Table::new([
        "UID",
        "ROLE",
        "AINFT",
        "STAKE",
        "VTRUST",
        "INCENTIVE",
        "DIVIDENDS",
        "EMISSION",
    ]);
    for n in &metagraph.neurons {
        table.row(vec![
            n.uid.to_string(),
            roster.role(&n.hotkey),
            short_ainft(n.ainft.as_ref()),
            n.stake.to_string(),
            ratio(n.validator_trust),
            ratio(n.incentive),
            ratio(n.dividends),
            n.total_emission.to_string(),
        ]);
    }
    let of = epochs.1.map_or_else(String::new, |n| format!("/{n}"));
    format!(
        "block {}, epoch {}{of} (Ctrl-C stops); amounts in tokens\n{}",
        metagraph.block,
        epochs.0,
        table.render()
    )
}

/// The line printed after each epoch: what it paid out, and each miner's emission so far.
pub(crate) fn epoch_line(
    number: u64,
    epoch: &EpochEmission,
    metagraph: &Metagraph,
    roster: &Roster,
) -> String {
    let miners: Vec<String> = roster
        .miners
        .iter()
        .filter_map(|(key, name)| {
            metagraph
                .by_hotkey(key)
                .map(|n| format!("{name} {}", n.total_emission))
        })
        .collect();
    format!(
        "epoch {number} at block {}: {} emitted (owner {}, miners {}, validators {}); miner \
         emission so far: {}",
        epoch.block,
        epoch.emitted,
        epoch.owner,
        epoch.miners,
        epoch.validators,
        miners.join(", ")
    )
}

/// The summary of a run: `--json` prints it as one document.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    /// The subnet.
    pub(crate) netuid: NetUid,
    /// The node's JSON-RPC URL (no longer served once this is printed).
    pub(crate) rpc: String,
    /// Epochs that ran while every process was up.
    pub(crate) epochs: u64,
    /// The last block seen.
    pub(crate) block: u64,
    /// The miners, worst checkpoint first.
    pub(crate) miners: Vec<MinerSummary>,
    /// The validators.
    pub(crate) validators: Vec<ValidatorSummary>,
    /// Total emitted by the chain, in rao (from its emission ledger).
    pub(crate) total_emitted: u64,
    /// Total credited to accounts and stake, in rao (equals `total_emitted`).
    pub(crate) total_credited: u64,
    /// How each child stopped.
    pub(crate) processes: Vec<Stopped>,
}

/// A miner's part of the summary.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MinerSummary {
    /// Its UID.
    pub(crate) uid: u16,
    /// Its hotkey (SS58).
    pub(crate) hotkey: String,
    /// The AINFT it serves.
    pub(crate) ainft: String,
    /// The checkpoint: `tiny`, `small`, `best`.
    pub(crate) checkpoint: String,
    /// The checkpoint's evaluation loss, bits per byte (lower is better).
    pub(crate) eval_bits_per_byte: f64,
    /// Emission received by its AINFT, in rao (the ledger's lifetime `earned`).
    pub(crate) emission: u64,
    /// The last epoch's incentive, as a fraction.
    pub(crate) incentive: f64,
}

/// A validator's part of the summary.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ValidatorSummary {
    /// Its UID.
    pub(crate) uid: u16,
    /// Its hotkey (SS58).
    pub(crate) hotkey: String,
    /// Its stake at the end, in rao (dividends included).
    pub(crate) stake: u64,
    /// Dividends credited to its stake, in rao.
    pub(crate) dividends: u64,
    /// The last epoch's validator trust, as a fraction.
    pub(crate) validator_trust: f64,
}

fn fraction(value: u16) -> f64 {
    f64::from(value) / f64::from(u16::MAX)
}

/// A miner's summary from its neuron, its AINFT's record and its checkpoint.
pub(crate) fn miner_summary(
    neuron: &NeuronInfo,
    report: &EmissionReport,
    checkpoint: &str,
    eval_bits_per_byte: f64,
) -> MinerSummary {
    let earned = neuron
        .ainft
        .and_then(|id| report.ainfts.iter().find(|a| a.id == id))
        .map_or(Rao(0), |a| a.earned);
    MinerSummary {
        uid: neuron.uid.0,
        hotkey: neuron.hotkey.to_string(),
        ainft: neuron
            .ainft
            .as_ref()
            .map_or_else(String::new, AinftId::to_string),
        checkpoint: checkpoint.to_owned(),
        eval_bits_per_byte,
        emission: earned.get(),
        incentive: fraction(neuron.incentive),
    }
}

/// A validator's summary from its neuron.
pub(crate) fn validator_summary(neuron: &NeuronInfo) -> ValidatorSummary {
    ValidatorSummary {
        uid: neuron.uid.0,
        hotkey: neuron.hotkey.to_string(),
        stake: neuron.stake.get(),
        dividends: neuron.total_emission.get(),
        validator_trust: fraction(neuron.validator_trust),
    }
}

/// The summary as text: miners and validators, totals, and any unclean stop.
pub(crate) fn summary_text(s: &Summary) -> String {
    let mut miners = Table::new([
        "UID",
        "CHECKPOINT",
        "EVAL BITS/BYTE",
        "AINFT",
        "INCENTIVE",
        "EMISSION",
    ]);
    for m in &s.miners {
        miners.row(vec![
            m.uid.to_string(),
            m.checkpoint.clone(),
            format!("{:.2}", m.eval_bits_per_byte),
            m.ainft
                .parse::<AinftId>()
                .map_or_else(|_| m.ainft.clone(), |a| a.short()),
            format!("{:.4}", m.incentive),
            Rao(m.emission).to_string(),
        ]);
    }
    let mut validators = Table::new(["UID", "HOTKEY", "STAKE", "VTRUST", "DIVIDENDS"]);
    for v in &s.validators {
        validators.row(vec![
            v.uid.to_string(),
            v.hotkey.clone(),
            Rao(v.stake).to_string(),
            format!("{:.4}", v.validator_trust),
            Rao(v.dividends).to_string(),
        ]);
    }
    let stops: Vec<String> = s
        .processes
        .iter()
        .filter(|p| !p.clean())
        .map(|p| {
            if p.killed {
                format!("{} needed SIGKILL", p.name)
            } else {
                format!(
                    "{} ended with {}",
                    p.name,
                    p.exit_code.map_or_else(
                        || format!("signal {}", p.signal.unwrap_or_default()),
                        |c| format!("exit code {c}")
                    )
                )
            }
        })
        .collect();
    let mut stopped = if stops.is_empty() {
        format!("all {} processes stopped cleanly", s.processes.len())
    } else {
        stops.join("; ")
    };
    let restarts: Vec<String> = s
        .processes
        .iter()
        .filter(|p| p.restarts > 0)
        .map(|p| format!("{} {}x", p.name, p.restarts))
        .collect();
    if !restarts.is_empty() {
        stopped.push_str(&format!(" (restarted: {})", restarts.join(", ")));
    }
    format!(
        "subnet {} after {} epochs (block {}); amounts in tokens\n{}\n{}\ntotal emitted {}, \
         credited {}; {stopped}\n",
        s.netuid,
        s.epochs,
        s.block,
        miners.render(),
        validators.render(),
        Rao(s.total_emitted),
        Rao(s.total_credited),
    )
}
