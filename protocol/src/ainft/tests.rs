use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn sample() -> AinftManifest {
    AinftManifest {
        data: DataSource {
            uri: "file://corpus/jargon.txt".into(),
            digest: Digest::from_bytes([1; 32]),
        },
        model: ModelSpec {
            name: "tiny-bytes".into(),
            architecture: "mlp".into(),
            hyperparameters: [("lr", "0.001"), ("d_model", "64")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            training_steps: 1000,
            weights_digest: Digest::from_bytes([2; 32]),
        },
        service: ServiceSpec {
            netuid: NetUid(1),
            task: "next-byte".into(),
            protocol_version: 1,
        },
        state: StateLocation {
            chain: "local".into(),
            genesis_hash: Digest::from_bytes([3; 32]),
            netuid: NetUid(1),
        },
        parent: Some(Parent {
            id: AinftId::from_bytes([4; 32]),
            royalty_ppm: 50_000,
        }),
    }
}

/// Both values computed independently in Python (the `blake3` package and BIP 350's reference
/// bech32m code) from the byte layout in the module docs.
const KAT_ID_HEX: &str = "20a8c6f48bf5860a9f1b73be4e830ce1a3d99bf7ceeca92181a8ad498fe3517a";
const KAT_ID_STR: &str = "ainft1yz5vdayt7krq48cmwwlyaqcvux3anxlhemk2jgvp4zk5nrlr29aqhpxdgc";

#[test]
fn known_answer_vector() {
    // The canonical bytes, written out by hand from the spec table.
    let mut expected: Vec<u8> = Vec::new();
    expected.extend(b"subnet-ainft/v1");
    expected.extend([24, 0, 0, 0]);
    expected.extend(b"file://corpus/jargon.txt");
    expected.extend([1; 32]);
    expected.extend([10, 0, 0, 0]);
    expected.extend(b"tiny-bytes");
    expected.extend([3, 0, 0, 0]);
    expected.extend(b"mlp");
    expected.extend([2, 0, 0, 0]); // two hyperparameters, "d_model" sorts before "lr"
    expected.extend([7, 0, 0, 0]);
    expected.extend(b"d_model");
    expected.extend([2, 0, 0, 0]);
    expected.extend(b"64");
    expected.extend([2, 0, 0, 0]);
    expected.extend(b"lr");
    expected.extend([5, 0, 0, 0]);
    expected.extend(b"0.001");
    expected.extend([0xe8, 0x03, 0, 0, 0, 0, 0, 0]); // 1000 training steps
    expected.extend([2; 32]);
    expected.extend([1, 0]); // service netuid
    expected.extend([9, 0, 0, 0]);
    expected.extend(b"next-byte");
    expected.extend([1, 0, 0, 0]); // protocol version
    expected.extend([5, 0, 0, 0]);
    expected.extend(b"local");
    expected.extend([3; 32]);
    expected.extend([1, 0]); // state netuid
    expected.push(1); // parent present
    expected.extend([4; 32]);
    expected.extend([0x50, 0xc3, 0, 0]); // 50_000 ppm
    assert_eq!(expected.len(), 271);

    let m = sample();
    assert_eq!(m.canonical_bytes(), expected);
    let id = m.id();
    assert_eq!(hex::encode(id.as_bytes()), KAT_ID_HEX);
    assert_eq!(id.to_string(), KAT_ID_STR);
    assert_eq!(KAT_ID_STR.parse::<AinftId>(), Ok(id));
    assert_eq!(id.short(), "ainft1yz5vdayt…");
    assert_eq!(format!("{id:?}"), format!("AinftId({KAT_ID_STR})"));
}

#[test]
fn other_known_id_strings() {
    // From the same Python reference.
    let zero = "ainft1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqtltecm";
    let fours = "ainft1qszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqh9zqf5";
    assert_eq!(AinftId::from_bytes([0; 32]).to_string(), zero);
    assert_eq!(AinftId::from_bytes([4; 32]).to_string(), fours);
    assert_eq!(zero.parse(), Ok(AinftId::from_bytes([0; 32])));
    assert_eq!(
        fours.to_uppercase().parse(),
        Ok(AinftId::from_bytes([4; 32]))
    );
}

#[test]
fn same_manifest_same_id_across_serde_round_trips() {
    let m = sample();
    assert_eq!(m.id(), sample().id());
    let json = serde_json::to_string(&m).unwrap();
    let back: AinftManifest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.id(), m.id());
    let bin = postcard::to_allocvec(&m).unwrap();
    let back: AinftManifest = postcard::from_bytes(&bin).unwrap();
    assert_eq!(back.id(), m.id());
}

#[test]
fn json_form_is_readable_and_strict() {
    let v = serde_json::to_value(sample()).unwrap();
    assert_eq!(v["data"]["digest"], json!("01".repeat(32)));
    assert_eq!(
        v["model"]["hyperparameters"],
        json!({"d_model": "64", "lr": "0.001"})
    );
    assert_eq!(v["service"]["netuid"], json!(1));
    assert_eq!(
        v["parent"]["id"],
        json!(AinftId::from_bytes([4; 32]).to_string())
    );
    assert_eq!(v["parent"]["royalty_ppm"], json!(50_000));

    // Key order in the JSON does not matter: the map is sorted before encoding.
    let mut reordered = v.clone();
    reordered["model"]["hyperparameters"] =
        serde_json::from_str(r#"{"lr": "0.001", "d_model": "64"}"#).unwrap();
    let m: AinftManifest = serde_json::from_value(reordered).unwrap();
    assert_eq!(m.id(), sample().id());

    let mut unknown = v.clone();
    unknown["model"]["dropout"] = json!("0.1");
    assert!(serde_json::from_value::<AinftManifest>(unknown).is_err());
    let mut bad_digest = v;
    bad_digest["data"]["digest"] = json!("xyz");
    assert!(serde_json::from_value::<AinftManifest>(bad_digest).is_err());
}

#[test]
fn changing_any_single_field_changes_the_id() {
    type Edit = fn(&mut AinftManifest);
    let edits: &[(&str, Edit)] = &[
        ("data.uri", |m| m.data.uri.push('x')),
        ("data.digest", |m| {
            m.data.digest = Digest::from_bytes([9; 32])
        }),
        ("model.name", |m| m.model.name.push('x')),
        ("model.architecture", |m| {
            m.model.architecture = "transformer".into()
        }),
        ("hyperparameter added", |m| {
            m.model.hyperparameters.insert("layers".into(), "2".into());
        }),
        ("hyperparameter removed", |m| {
            m.model.hyperparameters.remove("lr");
        }),
        ("hyperparameter value", |m| {
            m.model.hyperparameters.insert("lr".into(), "0.002".into());
        }),
        ("hyperparameter key", |m| {
            let v = m.model.hyperparameters.remove("lr").unwrap();
            m.model.hyperparameters.insert("lr0".into(), v);
        }),
        ("model.training_steps", |m| m.model.training_steps += 1),
        ("model.weights_digest", |m| {
            m.model.weights_digest = Digest::from_bytes([9; 32])
        }),
        ("service.netuid", |m| m.service.netuid = NetUid(2)),
        ("service.task", |m| m.service.task = "next-token".into()),
        ("service.protocol_version", |m| {
            m.service.protocol_version = 2
        }),
        ("state.chain", |m| m.state.chain = "finney".into()),
        ("state.genesis_hash", |m| {
            m.state.genesis_hash = Digest::from_bytes([9; 32])
        }),
        ("state.netuid", |m| m.state.netuid = NetUid(2)),
        ("parent none", |m| m.parent = None),
        ("parent.id", |m| {
            if let Some(p) = &mut m.parent {
                p.id = AinftId::from_bytes([5; 32]);
            }
        }),
        ("parent.royalty_ppm", |m| {
            if let Some(p) = &mut m.parent {
                p.royalty_ppm += 1;
            }
        }),
    ];
    let base = sample();
    let mut seen = HashSet::from([base.id()]);
    for (what, edit) in edits {
        let mut m = base.clone();
        edit(&mut m);
        assert_ne!(m, base, "{what}: edit did nothing");
        assert!(seen.insert(m.id()), "{what}: id unchanged or collides");
    }
    // And from none to some: a root manifest gains a parent.
    let mut root = base;
    root.parent = None;
    let mut child = root.clone();
    child.parent = Some(Parent {
        id: AinftId::from_bytes([0; 32]),
        royalty_ppm: 0,
    });
    assert_ne!(root.id(), child.id());
}

#[test]
fn length_prefixes_keep_adjacent_strings_apart() {
    let mut a = sample();
    a.model.name = "ab".into();
    a.model.architecture = "c".into();
    let mut b = sample();
    b.model.name = "a".into();
    b.model.architecture = "bc".into();
    assert_ne!(a.id(), b.id());
    let mut c = sample();
    c.model.hyperparameters = [("a".to_owned(), "bc".to_owned())].into();
    let mut d = sample();
    d.model.hyperparameters = [("ab".to_owned(), "c".to_owned())].into();
    assert_ne!(c.id(), d.id());
}

#[test]
fn validation() {
    assert_eq!(sample().validate(), Ok(()));
    let check = |edit: fn(&mut AinftManifest)| {
        let mut m = sample();
        edit(&mut m);
        m.validate()
    };
    assert_eq!(
        check(|m| m.data.uri.clear()),
        Err(ManifestError::Empty { field: "data.uri" })
    );
    assert_eq!(
        check(|m| m.model.name.clear()),
        Err(ManifestError::Empty {
            field: "model.name"
        })
    );
    assert_eq!(
        check(|m| m.model.architecture.clear()),
        Err(ManifestError::Empty {
            field: "model.architecture"
        })
    );
    assert_eq!(
        check(|m| m.service.task.clear()),
        Err(ManifestError::Empty {
            field: "service.task"
        })
    );
    assert_eq!(
        check(|m| m.state.chain.clear()),
        Err(ManifestError::Empty {
            field: "state.chain"
        })
    );
    assert_eq!(
        check(|m| {
            m.model.hyperparameters.insert(String::new(), "1".into());
        }),
        Err(ManifestError::Empty {
            field: "model.hyperparameters key"
        })
    );
    assert_eq!(
        check(|m| m.model.name = "n".repeat(MAX_TEXT_BYTES + 1)),
        Err(ManifestError::TooLong {
            field: "model.name",
            len: MAX_TEXT_BYTES + 1
        })
    );
    assert_eq!(check(|m| m.model.name = "n".repeat(MAX_TEXT_BYTES)), Ok(()));
    assert_eq!(
        check(|m| {
            m.model
                .hyperparameters
                .insert("k".into(), "v".repeat(MAX_TEXT_BYTES + 1));
        }),
        Err(ManifestError::TooLong {
            field: "model.hyperparameters value",
            len: MAX_TEXT_BYTES + 1
        })
    );
    assert_eq!(
        check(|m| {
            m.model.hyperparameters = (0..=MAX_HYPERPARAMETERS)
                .map(|i| (i.to_string(), String::new()))
                .collect();
        }),
        Err(ManifestError::TooManyHyperparameters {
            count: MAX_HYPERPARAMETERS + 1
        })
    );
    assert_eq!(
        check(|m| m.parent.as_mut().unwrap().royalty_ppm = PPM_ONE + 1),
        Err(ManifestError::RoyaltyOutOfRange {
            royalty_ppm: PPM_ONE + 1
        })
    );
    assert_eq!(
        check(|m| m.parent.as_mut().unwrap().royalty_ppm = PPM_ONE),
        Ok(())
    );
    assert_eq!(check(|m| m.parent = None), Ok(()));
}

#[test]
fn a_manifest_cannot_be_its_own_parent() {
    // A manifest naming its own id needs a BLAKE3 fixed point, so drive the check directly.
    let own = sample().id();
    assert_eq!(
        check_parent(
            &Parent {
                id: own,
                royalty_ppm: 1
            },
            &own
        ),
        Err(ManifestError::ParentIsSelf)
    );
    let other = Parent {
        id: AinftId::from_bytes([4; 32]),
        royalty_ppm: 1,
    };
    assert_eq!(check_parent(&other, &own), Ok(()));
}

#[test]
fn digest_text_form() {
    let d = Digest::of(b"hello");
    assert_eq!(d, Digest::from(blake3::hash(b"hello")));
    let s = d.to_string();
    assert_eq!(s, hex::encode(blake3::hash(b"hello").as_bytes()));
    assert_eq!(s.parse(), Ok(d));
    assert_eq!(s.to_uppercase().parse(), Ok(d));
    assert_eq!(
        "abc".parse::<Digest>(),
        Err(DigestParseError::WrongLength { got: 3 })
    );
    assert_eq!(
        "g".repeat(64).parse::<Digest>(),
        Err(DigestParseError::NotHex)
    );
    assert_eq!(format!("{d:?}"), format!("Digest({s})"));
    assert_eq!(postcard::to_allocvec(&d).unwrap(), d.as_bytes().to_vec());
}

#[test]
fn id_parse_errors() {
    let good = KAT_ID_STR;
    let mixed = format!("AINFT1{}", &good[6..]);
    assert_eq!(mixed.parse::<AinftId>(), Err(AinftIdError::MixedCase));
    assert_eq!(
        format!("bnft1{}", &good[5..]).parse::<AinftId>(),
        Err(AinftIdError::WrongPrefix)
    );
    assert_eq!(
        good.replacen('1', "x", 1).parse::<AinftId>(),
        Err(AinftIdError::WrongPrefix)
    );
    assert_eq!("".parse::<AinftId>(), Err(AinftIdError::WrongPrefix));
    assert_eq!(
        good[..63].parse::<AinftId>(),
        Err(AinftIdError::WrongLength { got: 63 })
    );
    assert_eq!(
        format!("{good}q").parse::<AinftId>(),
        Err(AinftIdError::WrongLength { got: 65 })
    );
    let with_b = format!("{}b{}", &good[..10], &good[11..]);
    assert_eq!(
        with_b.parse::<AinftId>(),
        Err(AinftIdError::InvalidChar { index: 10 })
    );
    let typo = format!(
        "{}{}{}",
        &good[..20],
        if &good[20..21] == "q" { "p" } else { "q" },
        &good[21..]
    );
    assert_eq!(typo.parse::<AinftId>(), Err(AinftIdError::Checksum));

    // 52 data characters whose last one has a non-zero padding bit, with a valid checksum.
    let mut data = [0u8; 52];
    data[51] = 1;
    let pm = bech32m::polymod(
        bech32m::hrp_expanded()
            .chain(data.iter().copied())
            .chain([0; 6]),
    ) ^ bech32m::BECH32M_CONST;
    let checksum = [25u32, 20, 15, 10, 5, 0].map(|s| ((pm >> s) & 31) as u8);
    let s: String = "ainft1"
        .chars()
        .chain(
            data.iter()
                .chain(&checksum)
                .map(|&v| bech32m::CHARSET[usize::from(v)] as char),
        )
        .collect();
    assert_eq!(s.parse::<AinftId>(), Err(AinftIdError::Padding));
}

fn arb_text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn arb_manifest() -> impl Strategy<Value = AinftManifest> {
    (
        (arb_text(), any::<[u8; 32]>(), arb_text(), arb_text()),
        (
            prop::collection::btree_map(arb_text(), arb_text(), 0..4),
            any::<u64>(),
            any::<[u8; 32]>(),
        ),
        (
            any::<u16>(),
            arb_text(),
            any::<u32>(),
            arb_text(),
            any::<[u8; 32]>(),
            any::<u16>(),
        ),
        prop::option::of((any::<[u8; 32]>(), any::<u32>())),
    )
        .prop_map(
            |((uri, dd, name, arch), (hp, steps, wd), (nu, task, pv, chain, gh, snu), parent)| {
                AinftManifest {
                    data: DataSource {
                        uri,
                        digest: Digest::from_bytes(dd),
                    },
                    model: ModelSpec {
                        name,
                        architecture: arch,
                        hyperparameters: hp,
                        training_steps: steps,
                        weights_digest: Digest::from_bytes(wd),
                    },
                    service: ServiceSpec {
                        netuid: NetUid(nu),
                        task,
                        protocol_version: pv,
                    },
                    state: StateLocation {
                        chain,
                        genesis_hash: Digest::from_bytes(gh),
                        netuid: NetUid(snu),
                    },
                    parent: parent.map(|(id, royalty_ppm)| Parent {
                        id: AinftId::from_bytes(id),
                        royalty_ppm,
                    }),
                }
            },
        )
}

proptest! {
    #[test]
    fn id_string_round_trips(bytes in any::<[u8; 32]>()) {
        let id = AinftId::from_bytes(bytes);
        let s = id.to_string();
        prop_assert_eq!(s.len(), AINFT_ID_STR_LEN);
        prop_assert!(s.starts_with("ainft1"));
        prop_assert_eq!(s.parse::<AinftId>(), Ok(id));
        prop_assert_eq!(s.to_uppercase().parse::<AinftId>(), Ok(id));
        prop_assert!(id.short().starts_with(&s[..14]));
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<AinftId>(&json).unwrap(), id);
    }

    /// Substituting one character (any position, any other character) is always caught.
    #[test]
    fn single_substitutions_are_rejected(bytes in any::<[u8; 32]>(), pos in 0usize..64, c in any::<char>()) {
        let s = AinftId::from_bytes(bytes).to_string();
        let mut chars: Vec<char> = s.chars().collect();
        prop_assume!(chars[pos] != c);
        chars[pos] = c;
        let bad: String = chars.into_iter().collect();
        prop_assert!(bad.parse::<AinftId>().is_err(), "{} accepted", bad);
    }

    /// Deletions, insertions and swaps of neighbours are caught too.
    #[test]
    fn edits_are_rejected(bytes in any::<[u8; 32]>(), pos in 0usize..63, c in prop::sample::select(bech32m::CHARSET.to_vec())) {
        let s = AinftId::from_bytes(bytes).to_string();
        let mut deleted = s.clone();
        deleted.remove(pos);
        prop_assert!(deleted.parse::<AinftId>().is_err());
        let mut inserted = s.clone();
        inserted.insert(pos, c as char);
        prop_assert!(inserted.parse::<AinftId>().is_err());
        let mut swapped: Vec<char> = s.chars().collect();
        swapped.swap(pos, pos + 1);
        let swapped: String = swapped.into_iter().collect();
        if swapped != s {
            prop_assert!(swapped.parse::<AinftId>().is_err());
        }
    }

    #[test]
    fn any_manifest_keeps_its_id_through_json(m in arb_manifest()) {
        let back: AinftManifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        prop_assert_eq!(back.id(), m.id());
        prop_assert_eq!(back, m);
    }
}
