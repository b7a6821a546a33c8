//! Wallets and signatures against bittensor's own `bittensor-wallet` package (from the venv):
//! wallets written by Python load in `af` with the same addresses, signatures verify both
//! ways, and `af wallet show` prints them.

use std::ffi::OsStr;

use affine::chain::signing::{self, Keypair};
use affine::chain::wallet::{self, PasswordSource, WalletLocation};
use affine::chain::{self as chain};
use serde_json::Value;

use crate::support::{af, run_python};

/// Creates wallet `cold`/`hot` under argv[1] from a fresh random mnemonic per key; argv[2] is
/// the coldkey password ("" = plaintext coldkey). Prints the addresses as JSON.
const MAKE_WALLET: &str = r#"
import json, sys
from bittensor_wallet import Wallet, Keypair
path, password = sys.argv[1], sys.argv[2]
wallet = Wallet(name="cold", hotkey="hot", path=path)
cold = Keypair.create_from_mnemonic(Keypair.generate_mnemonic(12))
hot = Keypair.create_from_mnemonic(Keypair.generate_mnemonic(12))
wallet.set_coldkey(cold, encrypt=bool(password), overwrite=True, coldkey_password=password or None)
wallet.set_coldkeypub(cold, overwrite=True)
wallet.set_hotkey(hot, encrypt=False, overwrite=True)
print(json.dumps({"coldkey": cold.ss58_address, "hotkey": hot.ss58_address}))
"#;

fn make_wallet(dir: &std::path::Path, password: &str) -> (WalletLocation, Value) {
    let stdout = run_python(MAKE_WALLET, &[dir.as_os_str(), OsStr::new(password)], "");
    let addresses: Value = serde_json::from_str(stdout.lines().last().expect("python printed")).expect("json");
    (WalletLocation { path: dir.to_owned(), name: "cold".into(), hotkey: "hot".into() }, addresses)
}

#[test]
fn wallet_python_encrypted_coldkey_loads_with_the_same_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (location, addresses) = make_wallet(dir.path(), "correct horse 42");
    let password = PasswordSource::given("correct horse 42".into());
    assert_eq!(wallet::coldkey(&location, &password).expect("decrypt coldkey").public_key().to_ss58(), addresses["coldkey"]);
    assert_eq!(wallet::coldkey_public(&location).expect("coldkeypub").to_ss58(), addresses["coldkey"]);
    assert_eq!(wallet::hotkey(&location, &PasswordSource::none()).expect("hotkey").public_key().to_ss58(), addresses["hotkey"]);
    let wrong = wallet::coldkey(&location, &PasswordSource::given("wrong".into())).expect_err("wrong password");
    assert!(matches!(wrong, chain::Error::WrongPassword { .. }), "{wrong}");
    let none = wallet::coldkey(&location, &PasswordSource::none()).expect_err("no password");
    assert!(matches!(none, chain::Error::PasswordUnavailable { .. }), "{none}");
}

/// Signs argv[2..] (JSON list on stdin) with the hotkey of the wallet in argv[1], verifies the
/// signatures af made (also on stdin), and prints both results.
const SIGN_AND_VERIFY: &str = r#"
import json, sys
from bittensor_wallet import Wallet, Keypair
request = json.load(sys.stdin)
wallet = Wallet(name="cold", hotkey="hot", path=sys.argv[1])
hot = wallet.hotkey
public = Keypair(ss58_address=hot.ss58_address)
python_signatures = [hot.sign(data=m).hex() for m in request["messages"]]
verified = [public.verify(data=m, signature=bytes.fromhex(s)) for m, s in zip(request["messages"], request["af_signatures"])]
tampered = [public.verify(data="x" + m, signature=bytes.fromhex(s)) for m, s in zip(request["messages"], request["af_signatures"])]
print(json.dumps({"signatures": python_signatures, "verified": verified, "tampered": tampered}))
"#;

#[test]
fn wallet_signatures_verify_both_ways_with_bittensor_wallet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (location, addresses) = make_wallet(dir.path(), "");
    let hotkey: Keypair = wallet::hotkey(&location, &PasswordSource::none()).expect("hotkey");
    let address = hotkey.public_key().to_ss58();
    assert_eq!(address, addresses["hotkey"]);
    let messages = [
        r#"affine:sat:{"block": 1, "hotkey": "5Df", "model": "x/y"}:0.500000:1.250000:1732000000:{}"#,
        "0x68656c6c6f",
        "unicode é 😀 and \"quotes\"",
        "",
    ];
    let af_signatures: Vec<String> = messages.iter().map(|m| hotkey.sign_text(m).expect("sign")).collect();
    let request = serde_json::json!({"messages": messages, "af_signatures": af_signatures});
    let stdout = run_python(SIGN_AND_VERIFY, &[dir.path().as_os_str()], &request.to_string());
    let reply: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(reply["verified"], serde_json::json!([true, true, true, true]), "python verifies af's signatures");
    assert_eq!(reply["tampered"], serde_json::json!([false, false, false, false]));
    for (message, signature) in messages.iter().zip(reply["signatures"].as_array().expect("list")) {
        let signature = signature.as_str().expect("hex");
        assert!(signing::verify_text(&address, message, signature).expect("well formed"), "af verifies python's signature of {message:?}");
        assert!(!signing::verify_text(&address, &format!("x{message}"), signature).expect("well formed"));
    }
}

#[test]
fn cli_wallet_show_prints_the_python_wallet_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_location, addresses) = make_wallet(dir.path(), "");
    let output = af()
        .args(["wallet", "show", "--json", "--wallet.name", "cold", "--wallet.path"])
        .arg(dir.path())
        .env("BT_WALLET_HOT", "hot")
        .output()
        .expect("run af");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let shown: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(shown["coldkey"], addresses["coldkey"]);
    assert_eq!(shown["hotkey"], addresses["hotkey"]);
    let table = af()
        .args(["wallet", "show", "--wallet.name", "cold", "--wallet.hotkey", "hot", "--wallet.path"])
        .arg(dir.path())
        .output()
        .expect("run af");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains(addresses["hotkey"].as_str().expect("ss58")) && text.contains("coldkey"), "{text}");
}

#[test]
fn cli_wallet_show_missing_wallet_is_a_one_line_error_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = af().args(["wallet", "show", "--wallet.path"]).arg(dir.path()).output().expect("run af");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: failed to read wallet \"default\""), "{stderr}");
    assert!(stderr.contains("no keyfile at") && stderr.contains("hint: pick the wallet"), "{stderr}");
}

/// Creates wallet `cold`/`hot` under argv[1] with the hotkey encrypted with password argv[2],
/// saves that password to bittensor's per-keyfile environment variable and prints its name,
/// value and the hotkey address.
const MAKE_ENCRYPTED_HOTKEY: &str = r#"
import json, sys
from bittensor_wallet import Wallet, Keypair
path, password = sys.argv[1], sys.argv[2]
wallet = Wallet(name="cold", hotkey="hot", path=path)
hot = Keypair.create_from_mnemonic(Keypair.generate_mnemonic(12))
wallet.set_hotkey(hot, encrypt=True, overwrite=True, save_hotkey_to_env=False, hotkey_password=password)
keyfile = wallet.hotkey_file
value = keyfile.save_password_to_env(password)
name = keyfile.env_var_name()
print(json.dumps({"name": name, "value": value, "hotkey": hot.ss58_address}))
"#;

/// An encrypted hotkey opens with the password bittensor-wallet saved to its `BT_PW_<PATH>`
/// variable (name derived from the keyfile path exactly as the library does), so `af commit
/// --dry-run` signs with it; without the variable it is a one-line error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_encrypted_hotkey_opens_with_bittensor_per_file_password_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = run_python(MAKE_ENCRYPTED_HOTKEY, &[dir.path().as_os_str(), OsStr::new("s3cret pw")], "");
    let saved: Value = serde_json::from_str(stdout.lines().last().expect("python printed")).expect("json");
    let location = WalletLocation { path: dir.path().to_owned(), name: "cold".into(), hotkey: "hot".into() };
    let name = saved["name"].as_str().expect("name").to_owned();
    assert_eq!(wallet::password_env_var(&location.hotkey_path()), name, "same variable name as bittensor-wallet");
    assert_eq!(wallet::decode_env_password(&name, saved["value"].as_str().expect("value")).expect("decodes").as_str(), "s3cret pw");

    let node = affine::devnet::node::Node::start_loopback(5, std::time::Duration::from_millis(200)).await.expect("start the devnet node");
    let run = |password_var: Option<(String, String)>| {
        let mut command = af();
        command
            .args(["commit", "--repo", "a/b", "--revision", "abc", "--chute-id", "c", "--dry-run", "--coldkey", "cold", "--hotkey", "hot"])
            .arg("--wallet.path")
            .arg(dir.path())
            .args(["--subtensor-endpoint", node.url()]);
        if let Some((name, value)) = password_var {
            command.env(name, value);
        }
        tokio::task::spawn_blocking(move || command.output().expect("run af"))
    };
    let opened = run(Some((name.clone(), saved["value"].as_str().expect("value").to_owned()))).await.expect("join");
    assert_eq!(opened.status.code(), Some(0), "{}", String::from_utf8_lossy(&opened.stderr));
    let document: Value = serde_json::from_slice(&opened.stdout).expect("json");
    assert_eq!(document["hotkey"], saved["hotkey"]);

    let locked = run(None).await.expect("join");
    assert_eq!(locked.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.starts_with("error: failed to load hotkey") && stderr.contains("is encrypted and no password was given"), "{stderr}");

    let garbled = run(Some((name, "%%%".to_owned()))).await.expect("join");
    assert_eq!(garbled.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&garbled.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("is not a password saved by bittensor-wallet"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
