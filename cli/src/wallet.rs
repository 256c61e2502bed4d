//! `subnet wallet ...`: key files on disk.
//!
//! A wallet directory holds `coldkeys/NAME.json` (always encrypted: Argon2id and
//! XChaCha20-Poly1305, see [`subnet_protocol::keyfile`]) and `hotkeys/NAME.json` (in clear, since
//! the miner and validator processes must load them unattended). Files are written atomically with
//! mode 0600 by the protocol crate; this module only names them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use subnet_protocol::keyfile::{KdfParams, KeyKind, Keyfile};
use subnet_protocol::keys::Keypair;

use crate::context::Global;
use crate::table::{Table, emit};

/// Longest key name, in bytes.
const MAX_NAME_BYTES: usize = 64;

/// `subnet wallet ...`
#[derive(Debug, Subcommand)]
pub(crate) enum WalletCommand {
    /// Creates an encrypted coldkey (holds funds, stake and ownership). Asks for the password
    /// twice, or reads it from --password-file.
    CreateColdkey(CreateArgs),
    /// Creates a hotkey (a neuron's identity), stored in clear for unattended use.
    CreateHotkey(CreateArgs),
    /// Lists the keys in the wallet directory.
    List,
    /// Shows a key's address.
    Show(ShowArgs),
    /// Checks the password of an encrypted coldkey.
    Verify(NameArg),
}

/// A new key's name.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Key name: letters, digits, `-`, `_` and `.`.
    name: String,
    /// Replace an existing key of that name (its secret is lost).
    #[arg(long)]
    force: bool,
}

/// Which key to show.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Key name.
    name: String,
    /// Only this kind (by default a coldkey and a hotkey of that name are both shown).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<KeyKind>,
}

/// A key name.
#[derive(Debug, Args)]
pub(crate) struct NameArg {
    /// Key name.
    name: String,
}

fn parse_kind(text: &str) -> Result<KeyKind, String> {
    match text {
        "coldkey" => Ok(KeyKind::Coldkey),
        "hotkey" => Ok(KeyKind::Hotkey),
        _ => Err("expected `coldkey` or `hotkey`".into()),
    }
}

/// A wallet directory.
#[derive(Debug, Clone)]
pub(crate) struct Wallets {
    dir: PathBuf,
}

/// One key as `list` and `show` report it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyEntry {
    /// `coldkey` or `hotkey`.
    kind: String,
    /// Its name.
    name: String,
    /// SS58 address.
    address: String,
    /// Whether the secret is encrypted.
    encrypted: bool,
    /// The key file.
    path: PathBuf,
}

impl Wallets {
    /// The wallet directory `dir` (need not exist yet).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn kind_dir(&self, kind: KeyKind) -> PathBuf {
        self.dir.join(match kind {
            KeyKind::Coldkey => "coldkeys",
            KeyKind::Hotkey => "hotkeys",
        })
    }

    /// Where the key `name` of `kind` lives.
    pub(crate) fn path(&self, kind: KeyKind, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.kind_dir(kind).join(format!("{name}.json")))
    }

    /// Reads the key `name` of `kind` (no password needed).
    pub(crate) fn read(&self, kind: KeyKind, name: &str) -> Result<Keyfile> {
        let path = self.path(kind, name)?;
        if !path.exists() {
            bail!("no {kind} named `{name}` in {}", self.dir.display());
        }
        let keyfile = Keyfile::read(&path)?;
        if keyfile.kind() != kind {
            bail!(
                "{} holds a {}, not a {kind}",
                path.display(),
                keyfile.kind()
            );
        }
        Ok(keyfile)
    }

    /// Writes `keyfile` as `name`, creating the directories (mode 0700 on unix).
    fn write(&self, keyfile: &Keyfile, name: &str, force: bool) -> Result<PathBuf> {
        let path = self.path(keyfile.kind(), name)?;
        let dir = self.kind_dir(keyfile.kind());
        create_private_dir(&dir)?;
        keyfile.write(&path, force)?;
        Ok(path)
    }

    /// Every key, coldkeys first, by name.
    fn list(&self) -> Result<Vec<KeyEntry>> {
        let mut entries = Vec::new();
        for kind in [KeyKind::Coldkey, KeyKind::Hotkey] {
            let dir = self.kind_dir(kind);
            let Ok(read) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = read
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_suffix(".json").map(str::to_owned)
                })
                .filter(|name| check_name(name).is_ok())
                .collect();
            names.sort();
            for name in names {
                let path = self.path(kind, &name)?;
                let keyfile = Keyfile::read(&path)?;
                entries.push(entry(kind, &name, &keyfile, path));
            }
        }
        Ok(entries)
    }
}

fn entry(kind: KeyKind, name: &str, keyfile: &Keyfile, path: PathBuf) -> KeyEntry {
    KeyEntry {
        kind: kind.to_string(),
        name: name.to_owned(),
        address: keyfile.public().to_string(),
        encrypted: keyfile.is_encrypted(),
        path,
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!(
            "invalid key name `{name}`: use 1 to {MAX_NAME_BYTES} letters, digits, `-`, `_` or `.`, not starting with `.`"
        );
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Runs a `wallet` subcommand.
pub(crate) fn run(global: &Global, command: WalletCommand) -> Result<()> {
    let wallets = global.wallets()?;
    match command {
        WalletCommand::CreateColdkey(args) => create(global, &wallets, KeyKind::Coldkey, &args),
        WalletCommand::CreateHotkey(args) => create(global, &wallets, KeyKind::Hotkey, &args),
        WalletCommand::List => {
            let entries = wallets.list()?;
            emit(global.json, &entries, |entries| {
                if entries.is_empty() {
                    return format!("no keys in {}\n", wallets.dir.display());
                }
                key_table(entries)
            })
        }
        WalletCommand::Show(args) => {
            let kinds = match args.kind {
                Some(kind) => vec![kind],
                None => vec![KeyKind::Coldkey, KeyKind::Hotkey],
            };
            let mut found = Vec::new();
            for kind in kinds {
                let path = wallets.path(kind, &args.name)?;
                if path.exists() {
                    let keyfile = wallets.read(kind, &args.name)?;
                    found.push(entry(kind, &args.name, &keyfile, path));
                }
            }
            if found.is_empty() {
                bail!("no key named `{}` in {}", args.name, wallets.dir.display());
            }
            emit(global.json, &found, |found| key_table(found))
        }
        WalletCommand::Verify(args) => {
            let keypair = global.keypair(KeyKind::Coldkey, &args.name)?;
            let address = keypair.public().to_string();
            emit(
                global.json,
                &serde_json::json!({ "name": args.name, "address": address, "password": "ok" }),
                |_| format!("coldkey `{}` ({address}): password ok\n", args.name),
            )
        }
    }
}

fn key_table(entries: &[KeyEntry]) -> String {
    let mut table = Table::new(["KIND", "NAME", "ADDRESS", "ENCRYPTED"]);
    for e in entries {
        table.row(vec![
            e.kind.clone(),
            e.name.clone(),
            e.address.clone(),
            if e.encrypted { "yes" } else { "no" }.to_owned(),
        ]);
    }
    table.render()
}

fn create(global: &Global, wallets: &Wallets, kind: KeyKind, args: &CreateArgs) -> Result<()> {
    let path = wallets.path(kind, &args.name)?;
    // Refuse before asking for a password: the user should not type one for nothing.
    if path.exists() && !args.force {
        bail!(
            "{kind} `{}` already exists at {}; pass --force to replace it (its secret is lost)",
            args.name,
            path.display()
        );
    }
    let keypair = Keypair::generate();
    let keyfile = match kind {
        KeyKind::Coldkey => {
            let password = new_password(global, &args.name)?;
            Keyfile::encrypted(kind, &keypair, &password, KdfParams::RECOMMENDED)?
        }
        KeyKind::Hotkey => Keyfile::plain_hotkey(&keypair),
    };
    let path = wallets.write(&keyfile, &args.name, args.force)?;
    let created = entry(kind, &args.name, &keyfile, path);
    emit(global.json, &created, |e| {
        format!(
            "created {} `{}`: {}\n  {}\n",
            e.kind,
            e.name,
            e.address,
            e.path.display()
        )
    })
}

/// A new password: from --password-file, or typed twice.
fn new_password(global: &Global, name: &str) -> Result<String> {
    if global.password_file.is_some() {
        return global.password("");
    }
    let first = global.password(&format!("new password for coldkey `{name}`: "))?;
    if first.is_empty() {
        bail!("the password must not be empty");
    }
    let second = global.password("repeat the password: ")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}
