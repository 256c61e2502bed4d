//! `subnet wallet`: create, list, show, overwrite refusal, passwords.

use crate::common::{fails, json, ok};

struct Wallet {
    dir: tempfile::TempDir,
    password: std::path::PathBuf,
    wrong: std::path::PathBuf,
}

impl Wallet {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "correct horse\n").unwrap();
        let wrong = dir.path().join("wrong");
        std::fs::write(&wrong, "battery staple\n").unwrap();
        Self {
            dir,
            password,
            wrong,
        }
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--wallet-dir", self.dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        all
    }

    fn pw(&self) -> &str {
        self.password.to_str().unwrap()
    }
}

#[test]
fn create_list_show_and_refuse_overwrite() {
    let w = Wallet::new();
    let cold = json(&w.args(&[
        "wallet",
        "create-coldkey",
        "owner",
        "--password-file",
        w.pw(),
    ]));
    assert_eq!(cold["kind"], "coldkey");
    assert_eq!(cold["encrypted"], true);
    let address = cold["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with('5'), "{address}");

    let hot = json(&w.args(&["wallet", "create-hotkey", "miner1"]));
    assert_eq!(hot["kind"], "hotkey");
    assert_eq!(hot["encrypted"], false);
    assert_ne!(hot["address"], cold["address"]);

    let list = json(&w.args(&["wallet", "list"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "owner");
    assert_eq!(list[1]["name"], "miner1");
    let text = ok(&w.args(&["wallet", "list"]));
    assert!(text.contains(&address), "{text}");

    let shown = json(&w.args(&["wallet", "show", "owner"]));
    assert_eq!(shown[0]["address"], address.as_str());
    fails(
        &w.args(&["wallet", "show", "nobody"]),
        "no key named `nobody`",
    );

    // Refused without --force, before any password is asked for; the key is unchanged.
    fails(
        &w.args(&[
            "wallet",
            "create-coldkey",
            "owner",
            "--password-file",
            w.pw(),
        ]),
        "already exists",
    );
    fails(
        &w.args(&["wallet", "create-hotkey", "miner1"]),
        "already exists",
    );
    assert_eq!(
        json(&w.args(&["wallet", "show", "owner"]))[0]["address"],
        address.as_str()
    );
    let replaced = json(&w.args(&["wallet", "create-hotkey", "miner1", "--force"]));
    assert_ne!(replaced["address"], hot["address"]);

    fails(
        &w.args(&["wallet", "create-hotkey", "../escape"]),
        "invalid key name",
    );
}

#[test]
fn passwords_are_checked() {
    let w = Wallet::new();
    ok(&w.args(&[
        "wallet",
        "create-coldkey",
        "owner",
        "--password-file",
        w.pw(),
    ]));
    let verified = json(&w.args(&["wallet", "verify", "owner", "--password-file", w.pw()]));
    assert_eq!(verified["password"], "ok");
    fails(
        &w.args(&[
            "wallet",
            "verify",
            "owner",
            "--password-file",
            w.wrong.to_str().unwrap(),
        ]),
        "wrong password",
    );
    // A command that signs refuses the wrong password before it contacts any chain.
    fails(
        &w.args(&[
            "--chain",
            "http://127.0.0.1:9",
            "stake",
            "add",
            "--hotkey",
            "dev:bob",
            "--amount",
            "1",
            "--coldkey",
            "owner",
            "--password-file",
            w.wrong.to_str().unwrap(),
        ]),
        "wrong password",
    );
    let empty = w.dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    fails(
        &w.args(&[
            "wallet",
            "create-coldkey",
            "other",
            "--password-file",
            empty.to_str().unwrap(),
        ]),
        "empty",
    );
}
