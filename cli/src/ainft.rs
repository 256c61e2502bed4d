//! `subnet emissions` and `subnet ainft show|register`: where emission went, by model (with its
//! lineage) and by account.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use subnet_chain_client::{Chain, ReceiptExt};
use subnet_protocol::ainft::{AinftId, AinftManifest};
use subnet_protocol::chain::{AinftRecord, EmissionReport};
use subnet_protocol::ids::Rao;
use subnet_protocol::keyfile::KeyKind;

use crate::context::{Global, block_on};
use crate::table::{Table, emit, short_key};

/// Longest lineage followed, in generations (ids are hashes of manifests naming their parent,
/// so lineage cannot loop; the bound only guards against a misbehaving node).
const MAX_LINEAGE: usize = 64;

/// `subnet ainft ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AinftCommand {
    /// Shows an AINFT: manifest, owner, parent, children and lifetime emission.
    Show(ShowArgs),
    /// Records an AINFT manifest (JSON) on chain, owned by the coldkey.
    Register(RegisterArgs),
}

/// Arguments of `subnet ainft show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The AINFT id (`ainft1…`).
    id: AinftId,
}

/// Arguments of `subnet ainft register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The manifest, as JSON.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// Owner coldkey: a wallet name or `dev:NAME`.
    #[arg(long, value_name = "NAME")]
    coldkey: String,
}

/// One AINFT's earnings with its ancestry, as `emissions` and `ainft show` report it.
#[derive(Debug, Serialize)]
struct AinftEarnings {
    id: AinftId,
    owner: String,
    name: String,
    registered_at: u64,
    /// Parent id and royalty, if derived.
    parent: Option<AinftId>,
    royalty_ppm: Option<u32>,
    /// Ancestors, parent first.
    lineage: Vec<AinftId>,
    /// Derived AINFTs registered on chain.
    children: Vec<AinftId>,
    /// Emission earned by its UIDs, before royalties.
    earned: Rao,
    royalties_paid: Rao,
    royalties_received: Rao,
    /// What its owner kept: earned − paid + received.
    net: Rao,
}

#[derive(Debug, Serialize)]
struct AccountRow {
    account: String,
    as_ainft_owner: Rao,
    as_staker: Rao,
    as_subnet_owner: Rao,
    total: Rao,
}

#[derive(Debug, Serialize)]
struct EmissionsView {
    total_emitted: Rao,
    total_credited: Rao,
    ainfts: Vec<AinftEarnings>,
    accounts: Vec<AccountRow>,
}

#[derive(Debug, Serialize)]
struct AinftView {
    #[serde(flatten)]
    earnings: AinftEarnings,
    manifest: AinftManifest,
}

fn earnings(record: &AinftRecord, all: &BTreeMap<AinftId, &AinftRecord>) -> AinftEarnings {
    let mut lineage = Vec::new();
    let mut next = record.manifest.parent.map(|p| p.id);
    while let Some(id) = next {
        if lineage.len() >= MAX_LINEAGE || lineage.contains(&id) {
            break;
        }
        lineage.push(id);
        next = all.get(&id).and_then(|r| r.manifest.parent).map(|p| p.id);
    }
    let children = all
        .values()
        .filter(|r| r.manifest.parent.is_some_and(|p| p.id == record.id))
        .map(|r| r.id)
        .collect();
    AinftEarnings {
        id: record.id,
        owner: record.owner.to_string(),
        name: record.manifest.model.name.clone(),
        registered_at: record.registered_at.get(),
        parent: record.manifest.parent.map(|p| p.id),
        royalty_ppm: record.manifest.parent.map(|p| p.royalty_ppm),
        lineage,
        children,
        earned: record.earned,
        royalties_paid: record.royalties_paid,
        royalties_received: record.royalties_received,
        net: record
            .earned
            .saturating_sub(record.royalties_paid)
            .saturating_add(record.royalties_received),
    }
}

fn view(report: &EmissionReport) -> EmissionsView {
    let all: BTreeMap<AinftId, &AinftRecord> = report.ainfts.iter().map(|r| (r.id, r)).collect();
    let mut ainfts: Vec<AinftEarnings> = report.ainfts.iter().map(|r| earnings(r, &all)).collect();
    ainfts.sort_by(|a, b| b.earned.cmp(&a.earned).then(a.id.cmp(&b.id)));
    let mut accounts: Vec<AccountRow> = report
        .accounts
        .iter()
        .map(|a| AccountRow {
            account: a.account.to_string(),
            as_ainft_owner: a.as_ainft_owner,
            as_staker: a.as_staker,
            as_subnet_owner: a.as_subnet_owner,
            total: a
                .as_ainft_owner
                .saturating_add(a.as_staker)
                .saturating_add(a.as_subnet_owner),
        })
        .collect();
    accounts.sort_by(|a, b| b.total.cmp(&a.total).then(a.account.cmp(&b.account)));
    EmissionsView {
        total_emitted: report.total_emitted,
        total_credited: report.total_credited,
        ainfts,
        accounts,
    }
}

fn lineage_text(e: &AinftEarnings) -> String {
    if e.lineage.is_empty() {
        return "-".to_owned();
    }
    e.lineage
        .iter()
        .map(AinftId::short)
        .collect::<Vec<_>>()
        .join(" <- ")
}

fn emissions_text(v: &EmissionsView) -> String {
    let mut out = format!(
        "emitted {} tokens, credited {} tokens\n\nper AINFT (tokens):\n",
        v.total_emitted, v.total_credited
    );
    let mut t = Table::new([
        "AINFT",
        "NAME",
        "OWNER",
        "EARNED",
        "ROYALTY PAID",
        "ROYALTY RECEIVED",
        "NET",
        "LINEAGE (PARENT FIRST)",
    ]);
    for e in &v.ainfts {
        t.row(vec![
            e.id.short(),
            e.name.clone(),
            short_owner(&e.owner),
            e.earned.to_string(),
            e.royalties_paid.to_string(),
            e.royalties_received.to_string(),
            e.net.to_string(),
            lineage_text(e),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nper account (tokens):\n");
    let mut t = Table::new([
        "ACCOUNT",
        "AS AINFT OWNER",
        "AS STAKER",
        "AS SUBNET OWNER",
        "TOTAL",
    ]);
    for a in &v.accounts {
        t.row(vec![
            a.account.clone(),
            a.as_ainft_owner.to_string(),
            a.as_staker.to_string(),
            a.as_subnet_owner.to_string(),
            a.total.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out
}

fn short_owner(address: &str) -> String {
    address
        .parse()
        .map_or_else(|_| address.to_owned(), |k| short_key(&k))
}

/// Runs `subnet emissions`.
pub(crate) fn emissions(global: &Global) -> Result<()> {
    let report = block_on(global.chain()?.emissions())??;
    emit(global.json, &view(&report), emissions_text)
}

/// Runs an `ainft` subcommand.
pub(crate) fn run(global: &Global, command: AinftCommand) -> Result<()> {
    match command {
        AinftCommand::Show(args) => show(global, &args.id),
        AinftCommand::Register(args) => {
            let text = std::fs::read_to_string(&args.manifest)
                .with_context(|| format!("reading {}", args.manifest.display()))?;
            let manifest: AinftManifest = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an AINFT manifest", args.manifest.display()))?;
            manifest
                .validate()
                .with_context(|| args.manifest.display().to_string())?;
            let coldkey = global.keypair(KeyKind::Coldkey, &args.coldkey)?;
            let receipt = block_on(global.chain()?.register_ainft(&coldkey, manifest))??;
            let id = receipt.created_ainft()?;
            emit(
                global.json,
                &serde_json::json!({ "id": id, "block": receipt.block.get() }),
                |_| format!("registered AINFT {id} (block {})\n", receipt.block),
            )
        }
    }
}

fn show(global: &Global, id: &AinftId) -> Result<()> {
    let chain = global.chain()?;
    let (record, report) = block_on(async {
        let record = chain.ainft(id).await?;
        let report = chain.emissions().await?;
        Ok::<_, subnet_chain_client::ChainError>((record, report))
    })??;
    let Some(record) = record else {
        bail!("AINFT {id} is not registered on this chain");
    };
    let mut all: BTreeMap<AinftId, &AinftRecord> =
        report.ainfts.iter().map(|r| (r.id, r)).collect();
    all.insert(record.id, &record);
    let view = AinftView {
        earnings: earnings(&record, &all),
        manifest: record.manifest.clone(),
    };
    emit(global.json, &view, |v| {
        let e = &v.earnings;
        let m = &v.manifest;
        let mut t = Table::new(["FIELD", "VALUE"]);
        let mut put = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
        put("id", e.id.to_string());
        put("owner", e.owner.clone());
        put("registered at block", e.registered_at.to_string());
        put(
            "parent",
            match (e.parent, e.royalty_ppm) {
                (Some(p), Some(ppm)) => format!("{p} (royalty {ppm} ppm)"),
                _ => "-".to_owned(),
            },
        );
        put("lineage (parent first)", lineage_text(e));
        put(
            "children",
            if e.children.is_empty() {
                "-".to_owned()
            } else {
                e.children
                    .iter()
                    .map(AinftId::short)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        put("earned (tokens)", e.earned.to_string());
        put("royalties paid", e.royalties_paid.to_string());
        put("royalties received", e.royalties_received.to_string());
        put("net to owner", e.net.to_string());
        put(
            "model",
            format!("{} ({})", m.model.name, m.model.architecture),
        );
        put("training steps", m.model.training_steps.to_string());
        put("weights digest", m.model.weights_digest.to_string());
        for (k, v) in &m.model.hyperparameters {
            put(&format!("  {k}"), v.clone());
        }
        put("data", format!("{} ({})", m.data.uri, m.data.digest));
        put(
            "service",
            format!(
                "subnet {}, task {}, protocol {}",
                m.service.netuid, m.service.task, m.service.protocol_version
            ),
        );
        put(
            "state",
            format!(
                "{} subnet {} genesis {}",
                m.state.chain, m.state.netuid, m.state.genesis_hash
            ),
        );
        t.render()
    })
}
