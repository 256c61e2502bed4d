//! What every command shares: the global options, the chain client, key resolution and the
//! async runtime.

use std::future::Future;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use subnet_chain_client::{AnyChain, ChainBackend};
use subnet_protocol::keyfile::KeyKind;
use subnet_protocol::keys::{Keypair, PublicKey};

use crate::wallet::Wallets;

/// Prefix of a well-known development key (`dev:alice`), [`Keypair::dev`].
pub(crate) const DEV_KEY_PREFIX: &str = "dev:";

/// Options that apply to every command.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// The chain's URL: `http://HOST:PORT` for the engine's node, `ws://` or `wss://` for a
    /// subtensor node (Bittensor; a build with `--features subtensor`).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:9944"
    )]
    pub(crate) chain: ChainBackend,
    /// Directory of the wallets (key files). Default `~/.subnet/wallets`.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) wallet_dir: Option<PathBuf>,
    /// Print tables and results as JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// File holding the password of an encrypted key (first line); without it, prompt on the
    /// terminal.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
}

impl Global {
    /// The wallet directory: `--wallet-dir`, or `~/.subnet/wallets`.
    pub(crate) fn wallets(&self) -> Result<Wallets> {
        let dir = match &self.wallet_dir {
            Some(dir) => dir.clone(),
            None => {
                let home =
                    std::env::var_os("HOME").context("HOME is not set; pass --wallet-dir")?;
                PathBuf::from(home).join(".subnet").join("wallets")
            }
        };
        Ok(Wallets::new(dir))
    }

    /// A client of the chain at `--chain`. Commands that need what only the engine's chain
    /// has (the AINFT registry, subnet creation) get subtensor's `Unsupported` error from it.
    pub(crate) fn chain(&self) -> Result<AnyChain> {
        AnyChain::from_backend(&self.chain).context("connecting to the chain (--chain)")
    }

    /// The password of an encrypted key: the first line of `--password-file`, or a prompt.
    pub(crate) fn password(&self, prompt: &str) -> Result<String> {
        match &self.password_file {
            Some(path) => read_password_file(path),
            None => rpassword::prompt_password(prompt)
                .context("reading the password from the terminal (or pass --password-file)"),
        }
    }

    /// A signing key: `dev:NAME` (the insecure development key, [`Keypair::dev`]) or the wallet
    /// key `name` of `kind`, unlocked with [`Self::password`] if encrypted.
    pub(crate) fn keypair(&self, kind: KeyKind, name: &str) -> Result<Keypair> {
        if let Some(dev) = name.strip_prefix(DEV_KEY_PREFIX) {
            if dev.is_empty() {
                bail!("`{DEV_KEY_PREFIX}` needs a name, for example `{DEV_KEY_PREFIX}alice`");
            }
            return Ok(Keypair::dev(dev));
        }
        let wallets = self.wallets()?;
        let keyfile = wallets.read(kind, name)?;
        let password = if keyfile.is_encrypted() {
            Some(self.password(&format!("password of {kind} `{name}`: "))?)
        } else {
            None
        };
        keyfile
            .unlock(password.as_deref())
            .with_context(|| format!("unlocking {kind} `{name}`"))
    }

    /// A public key: an SS58 address, `dev:NAME`, or the name of a wallet key of `kind` (no
    /// password needed).
    pub(crate) fn public_key(&self, kind: KeyKind, text: &str) -> Result<PublicKey> {
        if let Some(dev) = text.strip_prefix(DEV_KEY_PREFIX) {
            return Ok(Keypair::dev(dev).public());
        }
        if let Ok(key) = text.parse::<PublicKey>() {
            return Ok(key);
        }
        let wallets = self.wallets()?;
        Ok(wallets
            .read(kind, text)
            .with_context(|| format!("`{text}` is neither an SS58 address nor a {kind} name"))?
            .public())
    }
}

fn read_password_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(line)
}

/// Runs `future` to completion on a single-threaded tokio runtime (chain calls need one).
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}
