//! `af miners` and the discovery library against the local subtensor node, the local Chutes
//! API and the local Hugging Face Hub: one miner per rule, each kept or rejected for the right
//! reason.

use std::time::{Duration, Instant};

use affine::chain::client::{ChainClient, ChainConfig};
use affine::chain::signing::Keypair;
use affine::hub::{HubClient, HubConfig};
use affine::inference::chutes::{ChutesAuth, ChutesClient, ChutesConfig};
use affine::miners::{DiscoveryOptions, Rejection, Sources, Verdict, discover};
use affine::secret::Secret;
use serde_json::{Value, json};

use crate::support::af;
use crate::support::chutes_server::{ChutesServer, ChutesUser, chute_fixture};
use crate::support::hub_server::{HubFile, HubRepo, HubServer};
use affine::devnet::node::Node;

const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const KEY: &str = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.minerstestsecret0123456789abcdef";
const REV: &str = "1111111111111111111111111111111111111111";
const OTHER_REV: &str = "2222222222222222222222222222222222222222";

pub fn hotkey(seed: u8) -> [u8; 32] {
    Keypair::from_seed(&[seed; 32]).expect("seed").public_key().0
}

fn ss58(seed: u8) -> String {
    affine::chain::ss58::encode(&hotkey(seed))
}

fn owner() -> ChutesUser {
    ChutesUser { user_id: "user-o".into(), username: "o".into(), api_key: Some(KEY.into()), hotkey: None, balance: 100.0 }
}

/// A repository whose safetensors content is derived from `weights` (equal seeds, equal shas).
fn repo(id: &str, weights: Option<u8>) -> HubRepo {
    let mut files = vec![HubFile::new("config.json", format!(r#"{{"name":"{id}"}}"#).into_bytes(), false)];
    if let Some(seed) = weights {
        files.push(HubFile::new("model.safetensors", vec![seed; 4096], true));
    }
    HubRepo { id: id.to_owned(), commit: REV.to_owned(), gated: false, private: false, files }
}

fn commitment(model: &str, chute_id: &str) -> String {
    json!({"model": model, "revision": REV, "chute_id": chute_id}).to_string()
}

struct World {
    node: Node,
    chutes: ChutesServer,
    hub: HubServer,
}

/// uid -> (what it is, what it should be judged)
async fn world() -> World {
    let node = Node::start_loopback(60, Duration::from_millis(200)).await.expect("start the devnet node");
    let neurons: Vec<([u8; 32], u64, bool)> = (0..15).map(|uid| (hotkey(100 + uid), 1, false)).collect();
    node.set_neurons(120, &neurons);
    let commit = |uid: u8, text: &str, block: u64| node.push_revealed_commitment(120, hotkey(100 + uid), text, block);
    commit(0, &commitment("o/base-model", "chute-base"), 55); // valid: uid 0 may be non-affine, its block counts as 0
    commit(1, &commitment("o/affine-old", "chute-good"), 5); // the first commitment, superseded
    commit(1, &commitment("o/affine-good", "chute-good"), 10); // valid
    commit(2, &commitment("o/affine-cold", "chute-cold"), 11);
    commit(3, &commitment("o/affine-renamed", "chute-renamed"), 12);
    commit(4, &commitment("o/affine-rev", "chute-rev"), 13);
    commit(5, &commitment("o/affine-gated", "chute-gated"), 14);
    commit(6, &commitment("o/plain", "chute-plain"), 15);
    commit(7, &commitment("o/affine-copy", "chute-copy"), 20); // same weights as uid 1, later
    commit(8, &commitment("o/affine-dup", "chute-dup"), 30); // same model as uid 9, later
    commit(9, &commitment("o/affine-dup", "chute-dup"), 25);
    commit(10, &commitment("o/affine-bl", "chute-bl"), 16); // blacklisted
    commit(11, "o/affine-good@main", 17); // not JSON
    // uid 12 never commits.
    commit(13, &commitment("o/affine-private", "chute-private"), 18);
    commit(14, &commitment("o/affine-nochute", "chute-missing"), 19);

    let user = owner();
    let chute =
        |id: &str, name: &str, revision: &str, hot: bool| (user.user_id.clone(), chute_fixture(id, name, &user, Some(revision), hot));
    let chutes = ChutesServer::start(
        vec![user.clone()],
        vec![
            chute("chute-base", "o/base-model", REV, true),
            chute("chute-good", "o/affine-good", REV, true),
            chute("chute-cold", "o/affine-cold", REV, false),
            chute("chute-renamed", "o/affine-other", REV, true),
            chute("chute-rev", "o/affine-rev", OTHER_REV, true),
            chute("chute-gated", "o/affine-gated", REV, true),
            chute("chute-plain", "o/plain", REV, true),
            chute("chute-copy", "o/affine-copy", REV, true),
            chute("chute-dup", "o/affine-dup", REV, true),
            chute("chute-bl", "o/affine-bl", REV, true),
            chute("chute-private", "o/affine-private", REV, true),
        ],
    )
    .await;
    let hub = HubServer::start(vec![
        repo("o/base-model", Some(1)),
        repo("o/affine-good", Some(2)),
        repo("o/affine-cold", Some(3)),
        repo("o/affine-renamed", Some(4)),
        repo("o/affine-rev", Some(5)),
        HubRepo { gated: true, ..repo("o/affine-gated", Some(6)) },
        repo("o/plain", Some(7)),
        repo("o/affine-copy", Some(2)),
        repo("o/affine-dup", None),
        repo("o/affine-bl", Some(8)),
        HubRepo { private: true, ..repo("o/affine-private", Some(9)) },
        repo("o/affine-nochute", Some(10)),
    ])
    .await;
    World { node, chutes, hub }
}

fn miners_args(world: &World) -> Vec<String> {
    [
        "miners",
        "--subtensor-endpoint",
        world.node.url(),
        "--chutes-api-url",
        world.chutes.url(),
        "--hf-endpoint",
        world.hub.url(),
        "--blacklist",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("5NotAHotkey,{}", ss58(110))])
    .collect()
}

async fn run_af(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || af().env("CHUTES_API_KEY", KEY).args(args).output().expect("run af")).await.expect("join")
}

fn expected_kinds() -> Vec<(u64, &'static str)> {
    vec![
        (2, "chute_cold"),
        (3, "chute_name_mismatch"),
        (4, "revision_mismatch"),
        (5, "gated"),
        (6, "not_affine"),
        (7, "duplicate_weights"),
        (8, "duplicate_model"),
        (10, "blacklisted"),
        (11, "malformed_commitment"),
        (13, "model_unavailable"),
        (14, "chute_unavailable"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_miners_keeps_valid_miners_and_names_each_rejection() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let world = world().await;
        let mut args = miners_args(&world);
        args.push("--json".into());
        let output = run_af(args).await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
        let miners = document["miners"].as_array().expect("miners");
        assert_eq!(miners.len(), 14, "uid 12 has no commitment and is hidden without --all");
        let by_uid = |uid: u64| miners.iter().find(|m| m["uid"] == uid).unwrap_or_else(|| panic!("uid {uid} listed"));
        for uid in [0, 1, 9] {
            assert_eq!(by_uid(uid)["status"], "valid", "uid {uid}: {}", by_uid(uid));
        }
        assert_eq!(document["valid"], 3);
        for (uid, kind) in expected_kinds() {
            let miner = by_uid(uid);
            assert_eq!(miner["status"], "rejected", "uid {uid}: {miner}");
            assert_eq!(miner["reason"]["kind"], kind, "uid {uid}: {miner}");
        }
        assert_eq!(by_uid(7)["reason"]["kept_uid"], 1);
        assert_eq!(by_uid(8)["reason"]["kept_uid"], 9);
        assert_eq!(by_uid(3)["reason"]["chute_name"], "o/affine-other");
        assert_eq!(by_uid(4)["reason"]["chute_revision"], OTHER_REV);
        let good = by_uid(1);
        assert_eq!((&good["block"], &good["first_block"], &good["model"]), (&json!(10), &json!(5), &json!("o/affine-good")));
        assert_eq!(good["slug"], "o-o-affine-good");
        assert_eq!(good["chute"]["chute_id"], "chute-good");
        assert!(good["chute"].get("readme").is_none(), "bulky fields dropped: {}", good["chute"]);
        assert_eq!(good["weights_shas"].as_array().map(Vec::len), Some(1));
        assert_eq!(by_uid(0)["block"], 0, "uid 0's block is forced to 0");
        assert_eq!(document["rejected"]["duplicate_model"], 1);
        assert_eq!(
            document["rejected"].as_object().map(|o| o.values().filter_map(Value::as_u64).sum::<u64>()),
            Some(12),
            "uid 12 counts as no_commitment"
        );

        // The table, one uid, and --all.
        let mut verbose = miners_args(&world);
        verbose.push("-vv".into());
        let table = run_af(verbose).await;
        let logs = String::from_utf8_lossy(&table.stderr);
        assert_eq!(logs.matches("miner rejected").count(), 12, "-vv logs every rejection: {logs}");
        assert!(!logs.contains(KEY), "the API key never reaches the logs");
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(text.starts_with("Miners of netuid 120 at block "), "{text}");
        assert!(text.contains("3 valid, 12 rejected") && text.contains("rejected: chute is cold"), "{text}");
        assert!(text.contains("rejected: same weights as uid 1") && text.contains("o-o-affine-good"), "{text}");
        let mut one = miners_args(&world);
        one.extend(["--uid".into(), "8".into(), "--json".into()]);
        let document: Value = serde_json::from_slice(&run_af(one).await.stdout).expect("json");
        assert_eq!(document["miners"].as_array().map(Vec::len), Some(1));
        assert_eq!(document["miners"][0]["reason"]["kind"], "duplicate_model", "duplicates are judged against every miner");
        let mut all = miners_args(&world);
        all.extend(["--all".into(), "--json".into()]);
        let document: Value = serde_json::from_slice(&run_af(all).await.stdout).expect("json");
        let unregistered = document["miners"].as_array().and_then(|m| m.iter().find(|m| m["uid"] == 12)).cloned().expect("uid 12");
        assert_eq!(unregistered["reason"]["kind"], "no_commitment");
        let mut missing = miners_args(&world);
        missing.extend(["--uid".into(), "99".into()]);
        let output = run_af(missing).await;
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains("uid 99 is not registered on netuid 120"));
    })
    .await
    .expect("test timed out");
}

async fn sources(world: &World) -> Sources {
    {
        let chain =
            ChainClient::connect(ChainConfig { endpoint: world.node.url().to_owned(), fallback: None, timeout: Duration::from_secs(10) })
                .await
                .expect("connect");
        let chutes = ChutesClient::new(ChutesConfig { api_url: world.chutes.url().to_owned(), auth: ChutesAuth::ApiKey(Secret::new(KEY)) })
            .expect("chutes");
        let hub = HubClient::new(HubConfig { endpoint: world.hub.url().to_owned(), token: None }).expect("hub");
        Sources::new(chain, chutes, hub)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_caches_lookups_and_skips_chutes_without_validity_checks() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let world = world().await;
        let cached = sources(&world).await;
        let options = DiscoveryOptions { blacklist: [ss58(110)].into(), concurrency: 3, ..DiscoveryOptions::default() };
        let bar = indicatif::ProgressBar::hidden();
        let first = discover(&cached, &options, &bar).await.expect("discover");
        assert_eq!(bar.length(), Some(14), "one step per committed uid");
        let queryable = first.queryable();
        assert_eq!(queryable, [ss58(100), ss58(101), ss58(109)].into_iter().collect());
        assert_eq!(first.first_commit_blocks().get(&ss58(101)), Some(&5));
        assert_eq!(first.hotkeys.len(), 15);
        let chute_gets = world.chutes.requests().len();
        let hub_calls = world.hub.requests().len();
        let again = discover(&cached, &options, &bar).await.expect("discover again");
        assert_eq!(again.queryable(), queryable);
        let retried: Vec<String> = world.hub.requests()[hub_calls..].iter().map(|r| r.uri.clone()).collect();
        assert_eq!(retried, vec!["/api/models/o/affine-private".to_owned()], "answers are cached, a failed gating lookup is retried");
        assert_eq!(world.chutes.requests().len(), chute_gets, "chutes come from the cache within a minute");

        let unchecked = DiscoveryOptions { check_validity: false, ..options };
        let fresh = sources(&world).await;
        let discovery = discover(&fresh, &unchecked, &bar).await.expect("discover");
        let verdict = |uid: u16| discovery.miners[usize::from(uid)].verdict.clone();
        assert_eq!(verdict(2), Verdict::Valid, "cold chutes are not checked");
        assert_eq!(verdict(5), Verdict::Rejected { reason: Rejection::Gated }, "gating still applies");
        assert_eq!(verdict(7), Verdict::Rejected { reason: Rejection::DuplicateWeights { kept_uid: 1 } });
        assert!(discovery.miners.iter().all(|m| m.chute.is_none()));
    })
    .await
    .expect("test timed out");
}

/// Wall time of `af miners` over 64 valid miners (printed; asserted loosely).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_miners_checks_64_miners_quickly() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = Node::start_loopback(60, Duration::from_millis(200)).await.expect("start the devnet node");
        let user = owner();
        let mut repos = Vec::new();
        let mut chutes = Vec::new();
        let neurons: Vec<([u8; 32], u64, bool)> = (0..64u8).map(|uid| (hotkey(uid.wrapping_add(20)), 1, false)).collect();
        node.set_neurons(120, &neurons);
        for uid in 0..64u8 {
            let model = format!("m{uid}/affine-{uid}");
            node.push_revealed_commitment(
                120,
                hotkey(uid.wrapping_add(20)),
                &commitment(&model, &format!("chute-{uid}")),
                10 + u64::from(uid),
            );
            repos.push(repo(&model, Some(uid)));
            chutes.push((user.user_id.clone(), chute_fixture(&format!("chute-{uid}"), &model, &user, Some(REV), true)));
        }
        let chutes = ChutesServer::start(vec![user], chutes).await;
        let hub = HubServer::start(repos).await;
        let world = World { node, chutes, hub };
        let mut args = miners_args(&world);
        args.push("--json".into());
        let started = Instant::now();
        let output = run_af(args).await;
        let elapsed = started.elapsed();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(document["valid"], 64);
        eprintln!("af miners: 64 miners checked in {elapsed:?}");
        assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    })
    .await
    .expect("test timed out");
}
