use std::fs;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Cheap Argon2 settings so tests run in microseconds; never for real keys.
fn fast() -> KdfParams {
    KdfParams::new(8, 1, 1).unwrap()
}

fn kp(n: u8) -> Keypair {
    Keypair::from_seed(&[n; SEED_BYTES])
}

fn coldkey() -> Keyfile {
    Keyfile::encrypted(KeyKind::Coldkey, &kp(1), "correct horse", fast()).unwrap()
}

fn json_of(k: &Keyfile) -> Value {
    serde_json::from_str(&k.to_json()).unwrap()
}

fn parse(v: &Value) -> Result<Keyfile, KeyfileError> {
    Keyfile::from_json(v.to_string().as_bytes())
}

/// Edits the JSON without fixing the checksum: what accidental damage looks like.
fn edited(k: &Keyfile, field: &str, value: Value) -> Result<Keyfile, KeyfileError> {
    let mut v = json_of(k);
    v[field] = value;
    parse(&v)
}

fn sealed_mut(k: &mut Keyfile) -> &mut Sealed {
    match &mut k.secret {
        Secret::Sealed(s) => s,
        Secret::Plain(_) => panic!("not encrypted"),
    }
}

/// Re-encodes a struct edited in memory: the checksum is recomputed, as a deliberate attacker
/// would, so only the cryptography can catch the change.
fn reparsed(k: &Keyfile) -> Result<Keyfile, KeyfileError> {
    Keyfile::from_json(k.to_json().as_bytes())
}

#[test]
fn hotkey_in_clear_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hot.json");
    let key = kp(3);
    Keyfile::plain_hotkey(&key).write(&path, false).unwrap();
    let back = Keyfile::read(&path).unwrap();
    assert_eq!(back.kind(), KeyKind::Hotkey);
    assert!(!back.is_encrypted());
    assert_eq!(back.kdf_params(), None);
    assert_eq!(back.public(), key.public());
    assert_eq!(*back.unlock(None).unwrap().seed(), *key.seed());
    let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["version"], json!(1));
    assert_eq!(v["kind"], json!("hotkey"));
    assert_eq!(v["encryption"], json!("none"));
    assert_eq!(v["public_key"], json!(key.public().to_string()));
    assert_eq!(v["seed"], json!(hex::encode([3u8; 32])));
    assert!(v.get("ciphertext").is_none());
}

#[test]
fn coldkey_round_trips_and_shows_its_address_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cold.json");
    let key = kp(4);
    Keyfile::encrypted(KeyKind::Coldkey, &key, "pw", fast())
        .unwrap()
        .write(&path, false)
        .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(&hex::encode([4u8; 32])),
        "seed in clear: {text}"
    );
    let back = Keyfile::read(&path).unwrap();
    assert_eq!(back.public(), key.public());
    assert_eq!(back.kind(), KeyKind::Coldkey);
    assert_eq!(back.kdf_params(), Some(fast()));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["encryption"], json!("argon2id-xchacha20poly1305"));
    assert_eq!(v["kdf"], json!({"m_cost_kib": 8, "t_cost": 1, "p_cost": 1}));
    assert_eq!(
        hex::decode(v["salt"].as_str().unwrap()).unwrap().len(),
        SALT_BYTES
    );
    assert_eq!(
        hex::decode(v["nonce"].as_str().unwrap()).unwrap().len(),
        NONCE_BYTES
    );
    assert_eq!(*back.unlock(Some("pw")).unwrap().seed(), *key.seed());
}

#[test]
fn each_encryption_uses_a_fresh_salt_and_nonce() {
    let a = json_of(&coldkey());
    let b = json_of(&coldkey());
    assert_ne!(a["salt"], b["salt"]);
    assert_ne!(a["nonce"], b["nonce"]);
    assert_ne!(a["ciphertext"], b["ciphertext"]);
}

#[test]
fn password_errors() {
    let k = coldkey();
    assert!(matches!(
        k.unlock(Some("wrong")),
        Err(KeyfileError::WrongPassword)
    ));
    assert!(matches!(
        k.unlock(Some("")),
        Err(KeyfileError::WrongPassword)
    ));
    assert!(matches!(
        k.unlock(None),
        Err(KeyfileError::PasswordRequired)
    ));
    assert!(matches!(
        Keyfile::encrypted(KeyKind::Hotkey, &kp(1), "", fast()),
        Err(KeyfileError::EmptyPassword)
    ));
}

#[cfg(unix)]
#[test]
fn files_are_private_and_no_temporary_file_is_left() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    coldkey().write(&path, false).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    Keyfile::plain_hotkey(&kp(2)).write(&path, true).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("k.json")]);
}

#[test]
fn refuses_to_overwrite_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    Keyfile::plain_hotkey(&kp(1)).write(&path, false).unwrap();
    let err = Keyfile::plain_hotkey(&kp(2))
        .write(&path, false)
        .unwrap_err();
    assert!(matches!(err, KeyfileError::AlreadyExists { .. }), "{err}");
    assert_eq!(Keyfile::read(&path).unwrap().public(), kp(1).public());
    Keyfile::plain_hotkey(&kp(2)).write(&path, true).unwrap();
    assert_eq!(Keyfile::read(&path).unwrap().public(), kp(2).public());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn io_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("k.json");
    assert!(matches!(
        Keyfile::plain_hotkey(&kp(1)).write(&missing, false),
        Err(KeyfileError::Io { .. })
    ));
    assert!(matches!(
        Keyfile::read(&missing),
        Err(KeyfileError::Io { .. })
    ));
}

#[test]
fn coldkeys_are_never_in_clear() {
    let mut k = Keyfile::plain_hotkey(&kp(1));
    k.kind = KeyKind::Coldkey;
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        k.write(&dir.path().join("c.json"), false),
        Err(KeyfileError::UnencryptedColdkey)
    ));
    assert!(matches!(
        reparsed(&k),
        Err(KeyfileError::UnencryptedColdkey)
    ));
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let text = coldkey().to_json();
    for cut in [0, 1, 10, text.len() / 2, text.len() - 3] {
        let got = Keyfile::from_json(&text.as_bytes()[..cut]);
        assert!(
            matches!(got, Err(KeyfileError::Truncated)),
            "cut {cut}: {got:?}"
        );
    }
}

#[test]
fn oversized_files_are_rejected_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    fs::write(&path, vec![b' '; 70_000]).unwrap();
    assert!(matches!(Keyfile::read(&path), Err(KeyfileError::TooLarge)));
}

#[test]
fn malformed_json_and_unknown_versions() {
    for bad in [
        "[]",
        "{",
        "nonsense",
        "{\"version\": \"1\"}",
        "{\"version\": 1}",
    ] {
        let got = Keyfile::from_json(bad.as_bytes());
        assert!(
            matches!(
                got,
                Err(KeyfileError::Malformed { .. } | KeyfileError::Truncated)
            ),
            "{bad}: {got:?}"
        );
    }
    assert!(matches!(
        Keyfile::from_json(b"{\"version\": 1}"),
        Err(KeyfileError::Malformed { .. })
    ));
    let k = coldkey();
    assert!(matches!(
        edited(&k, "version", json!(2)),
        Err(KeyfileError::UnknownVersion { found: 2 })
    ));
    assert!(matches!(
        edited(&k, "kind", json!("warmkey")),
        Err(KeyfileError::Malformed { .. })
    ));
    assert!(matches!(
        edited(&k, "encryption", json!("rot13")),
        Err(KeyfileError::UnknownEncryption { scheme }) if scheme == "rot13"
    ));
}

#[test]
fn field_level_errors() {
    let k = coldkey();
    assert!(matches!(
        edited(&k, "salt", json!("zz")),
        Err(KeyfileError::BadHex { field: "salt" })
    ));
    assert!(matches!(
        edited(&k, "salt", json!("00".repeat(8))),
        Err(KeyfileError::SaltLength { got: 8 })
    ));
    assert!(matches!(
        edited(&k, "nonce", json!("00".repeat(12))),
        Err(KeyfileError::WrongLength {
            field: "nonce",
            expected: 24,
            got: 12
        })
    ));
    assert!(matches!(
        edited(&k, "ciphertext", json!("00".repeat(47))),
        Err(KeyfileError::WrongLength {
            field: "ciphertext",
            ..
        })
    ));
    assert!(matches!(
        edited(&k, "public_key", json!("5notanaddress")),
        Err(KeyfileError::BadPublicKey(_))
    ));
    assert!(matches!(
        edited(
            &k,
            "kdf",
            json!({"m_cost_kib": u32::MAX, "t_cost": 1, "p_cost": 1})
        ),
        Err(KeyfileError::KdfParams { .. })
    ));
    assert!(matches!(
        edited(
            &k,
            "kdf",
            json!({"m_cost_kib": 8, "t_cost": 0, "p_cost": 1})
        ),
        Err(KeyfileError::KdfParams { .. })
    ));
    assert!(matches!(
        edited(&k, "seed", json!("00".repeat(32))),
        Err(KeyfileError::UnexpectedField { field: "seed", .. })
    ));
    let mut v = json_of(&k);
    v.as_object_mut().unwrap().remove("nonce");
    assert!(matches!(
        parse(&v),
        Err(KeyfileError::MissingField { field: "nonce" })
    ));

    let hot = Keyfile::plain_hotkey(&kp(5));
    assert!(matches!(
        edited(&hot, "seed", json!("00".repeat(31))),
        Err(KeyfileError::WrongLength {
            field: "seed",
            expected: 32,
            got: 31
        })
    ));
    assert!(matches!(
        edited(&hot, "salt", json!("00".repeat(16))),
        Err(KeyfileError::UnexpectedField { field: "salt", .. })
    ));
}

#[test]
fn accidental_damage_fails_the_checksum() {
    let k = coldkey();
    let mut v = json_of(&k);
    let ct = v["ciphertext"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if ct.starts_with('0') { "1" } else { "0" },
        &ct[1..]
    );
    v["ciphertext"] = json!(flipped);
    assert!(matches!(parse(&v), Err(KeyfileError::ChecksumMismatch)));
    let other = kp(9).public().to_string();
    for (field, value) in [
        ("salt", json!("11".repeat(16))),
        ("public_key", json!(other)),
        ("kind", json!("hotkey")),
    ] {
        assert!(
            matches!(
                edited(&k, field, value),
                Err(KeyfileError::ChecksumMismatch)
            ),
            "{field}"
        );
    }
    let hot = Keyfile::plain_hotkey(&kp(5));
    assert!(matches!(
        edited(&hot, "seed", json!("00".repeat(32))),
        Err(KeyfileError::ChecksumMismatch)
    ));
}

#[test]
fn deliberate_tampering_fails_authentication() {
    let original = coldkey();
    let mut k = original.clone();
    sealed_mut(&mut k).ciphertext[5] ^= 1;
    assert!(matches!(
        reparsed(&k).unwrap().unlock(Some("correct horse")),
        Err(KeyfileError::Tampered)
    ));

    let mut k = original.clone();
    sealed_mut(&mut k).nonce[0] ^= 1;
    assert!(matches!(
        reparsed(&k).unwrap().unlock(Some("correct horse")),
        Err(KeyfileError::Tampered)
    ));

    // Swapping in someone else's address: the AEAD binds the public key.
    let mut k = original.clone();
    k.public = kp(9).public();
    assert!(matches!(
        reparsed(&k).unwrap().unlock(Some("correct horse")),
        Err(KeyfileError::Tampered)
    ));

    let mut k = original.clone();
    k.kind = KeyKind::Hotkey;
    assert!(matches!(
        reparsed(&k).unwrap().unlock(Some("correct horse")),
        Err(KeyfileError::Tampered)
    ));

    // The salt and KDF settings feed the key derivation, so changing them reads as a wrong
    // password.
    let mut k = original.clone();
    sealed_mut(&mut k).salt[0] ^= 1;
    assert!(matches!(
        reparsed(&k).unwrap().unlock(Some("correct horse")),
        Err(KeyfileError::WrongPassword)
    ));
    let mut k = original;
    sealed_mut(&mut k).kdf = KdfParams::new(16, 1, 1).unwrap();
    assert!(matches!(
        reparsed(&k).unwrap().unlock(Some("correct horse")),
        Err(KeyfileError::WrongPassword)
    ));
}

#[test]
fn a_public_key_that_does_not_match_the_secret_is_rejected() {
    let mut hot = Keyfile::plain_hotkey(&kp(5));
    hot.public = kp(6).public();
    let err = reparsed(&hot).unwrap_err();
    assert!(
        matches!(err, KeyfileError::PublicKeyMismatch { stored, derived }
            if stored == kp(6).public() && derived == kp(5).public()),
        "{err}"
    );
    // An encrypting writer that recorded the wrong public key (the AEAD cannot object: the
    // mismatch was sealed with the right password).
    let mut wrong_pub =
        Keyfile::seal(KeyKind::Coldkey, &kp(5), "pw", fast(), vec![7; 16], [8; 24]).unwrap();
    wrong_pub.public = kp(6).public();
    let resealed = {
        let s = sealed_mut(&mut wrong_pub);
        let aad = associated_data(KeyKind::Coldkey, &kp(6).public(), &s.kdf, &s.salt);
        let (key, _) = derive_keys("pw", &s.salt, &s.kdf).unwrap();
        let ct = XChaCha20Poly1305::new(&(*key).into())
            .encrypt(
                &XNonce::from(s.nonce),
                Payload {
                    msg: &[5u8; 32],
                    aad: &aad,
                },
            )
            .unwrap();
        s.ciphertext = ct.try_into().unwrap();
        wrong_pub
    };
    assert!(matches!(
        reparsed(&resealed).unwrap().unlock(Some("pw")),
        Err(KeyfileError::PublicKeyMismatch { .. })
    ));
}

#[test]
fn debug_never_shows_secret_bytes() {
    let seed_hex = hex::encode([0xAB; 32]);
    let key = Keypair::from_seed(&[0xAB; 32]);
    for k in [
        Keyfile::plain_hotkey(&key),
        Keyfile::encrypted(KeyKind::Coldkey, &key, "pw", fast()).unwrap(),
    ] {
        let shown = format!("{k:?}");
        assert!(
            !shown.contains("abab") && !shown.contains(&seed_hex),
            "{shown}"
        );
        assert!(shown.contains(&key.public().to_string()), "{shown}");
    }
}

#[test]
fn kdf_params_limits() {
    assert_eq!(KdfParams::default(), KdfParams::RECOMMENDED);
    assert_eq!(KdfParams::RECOMMENDED.m_cost_kib(), 65_536);
    assert_eq!(KdfParams::RECOMMENDED.t_cost(), 3);
    assert_eq!(KdfParams::RECOMMENDED.p_cost(), 1);
    assert!(KdfParams::new(KdfParams::RECOMMENDED.m_cost_kib(), 3, 1).is_ok());
    assert!(KdfParams::new(KdfParams::MAX_M_COST_KIB + 1, 1, 1).is_err());
    assert!(KdfParams::new(8, KdfParams::MAX_T_COST + 1, 1).is_err());
    assert!(KdfParams::new(64, 1, KdfParams::MAX_P_COST + 1).is_err());
    assert!(KdfParams::new(7, 1, 1).is_err());
    assert!(KdfParams::new(8, 1, 2).is_err());
}

/// Pins the format: Argon2id, the two BLAKE3-derived keys, the associated data and the
/// checksum. If this changes, old keyfiles stop opening.
#[test]
fn known_answer_vector() {
    let k = Keyfile::seal(
        KeyKind::Coldkey,
        &kp(0x11),
        "known answer",
        fast(),
        (0u8..16).collect(),
        [0x22; NONCE_BYTES],
    )
    .unwrap();
    let v = json_of(&k);
    assert_eq!(v["password_check"], json!(KAT_CHECK));
    assert_eq!(v["ciphertext"], json!(KAT_CIPHERTEXT));
    assert_eq!(v["checksum"], json!(KAT_CHECKSUM));
    assert_eq!(
        *reparsed(&k)
            .unwrap()
            .unlock(Some("known answer"))
            .unwrap()
            .seed(),
        [0x11; 32]
    );
}

// Computed independently (Python: cryptography's Argon2id, the blake3 package, libsodium's
// XChaCha20-Poly1305 through PyNaCl) from the format description in the module docs.
const KAT_CHECK: &str = "eadc4b206945b22070e70dd42e15d112c44c4164b453fd88f8873ca35aff1e15";
const KAT_CIPHERTEXT: &str = "c657359988d25655053d8c0a96b47b0e969daf3c5f3d3ff40a3508e2f669e136\
                              25cf0c2dbff929f1763f1ebea4628ed3";
const KAT_CHECKSUM: &str = "b4c1fe49af2f2b174020490c0a626b7886c03929b0b6c7d79b0b0aac3c6c8bf7";

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No single-byte change makes a keyfile open to a different key, and none panics.
    #[test]
    fn byte_flips_never_yield_another_key(pos in any::<prop::sample::Index>(), flip in 1u8..) {
        let k = Keyfile::seal(KeyKind::Coldkey, &kp(1), "pw", fast(), vec![3; 16], [4; 24]).unwrap();
        let mut bytes = k.to_json().as_bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(key) = Keyfile::from_json(&bytes).and_then(|k| k.unlock(Some("pw"))) {
            prop_assert_eq!(key.public(), kp(1).public());
            prop_assert_eq!(*key.seed(), [1; 32]);
        }
    }
}
