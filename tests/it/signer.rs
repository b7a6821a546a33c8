//! `af signer` as the reference's containers use it, and as a stranger would try to: the built
//! binary against `af devnet`, called over real sockets with the library's `SignerClient` and
//! with raw requests; signatures checked by bittensor-wallet over the reference texts.

use std::time::Duration;

use affine::secret::Secret;
use affine::signer::client::{Error as ClientError, SignerClient};
use affine::signer::wire::SetWeightsRequest;
use serde_json::{Value, json};

use crate::support::devnet::DevnetProcess;
use crate::support::service::{Service, listening_address};
use crate::support::{fixtures_dir, run_python};

const LONG: Duration = Duration::from_secs(60);
const TOKEN: &str = "a-test-token-of-enough-length";

fn start(devnet: &DevnetProcess, args: &[&str], token: Option<&str>) -> (Service, String) {
    let mut command = devnet.af();
    command.args(["-v", "signer", "--port", "0"]).args(args).env("CONFIRMATION_BLOCKS", "3").env("SIGNER_RETRIES", "2");
    if let Some(token) = token {
        command.env("SIGNER_TOKEN", token);
    }
    let mut service = Service::spawn("af signer", command);
    let address = service.wait_for("the listening address", LONG, |s| listening_address(&s.stderr()));
    (service, address)
}

/// A raw request: method, path, headers, body; returns the status and the JSON body.
async fn request(url: &str, method: reqwest::Method, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut builder = client.request(method, format!("{url}{path}")).header("content-type", "application/json").body(body);
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    let response = builder.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The reference's sign texts (golden/signing).
fn golden_texts() -> Vec<String> {
    let path = fixtures_dir().join("golden").join("signing").join("sign-data.jsonl");
    std::fs::read_to_string(path)
        .expect("golden vectors")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["sign_data"].as_str().expect("sign_data").to_owned())
        .collect()
}

/// bittensor-wallet's `Keypair.verify` of each (text, signature) pair.
const VERIFY: &str = r"
import json, sys
from bittensor_wallet import Keypair
pairs = json.load(sys.stdin)
key = Keypair(ss58_address=sys.argv[1])
print(json.dumps([key.verify(text, bytes.fromhex(signature)) for text, signature in pairs]))
";

/// The machine's address on its default route, when it has one that is not loopback.
fn outside_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signer_serves_the_reference_shapes_and_refuses_strangers_and_non_result_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet_dir = dir.path().to_owned();
    let devnet = tokio::task::spawn_blocking(move || {
        DevnetProcess::start(&devnet_dir, &["--block-time", "250ms", "--tempo", "10", "--weights-rate-limit", "2"])
    })
    .await
    .expect("devnet");
    let hotkey = devnet.banner["accounts"][0]["hotkey"].as_str().expect("hotkey").to_owned();

    // Start-up refusals: a public bind without a token, a missing wallet.
    let output = devnet.af().args(["signer", "--host", "0.0.0.0", "--port", "0"]).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SIGNER_TOKEN") && stderr.trim().lines().count() <= 2, "{stderr}");
    let missing = dir.path().join("nowhere");
    let output = devnet.af().args(["signer", "--port", "0", "--wallet.path"]).arg(&missing).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "names the keyfile: {stderr}");

    // Loopback, no token.
    let (mut signer, address) = start(&devnet, &[], None);
    let url = format!("http://{address}");
    assert_eq!(request(&url, reqwest::Method::GET, "/healthz", None, vec![]).await, (200, json!({"ok": true})));
    assert_eq!(request(&url, reqwest::Method::HEAD, "/healthz", None, vec![]).await.0, 200);
    let (status, deep) = request(&url, reqwest::Method::GET, "/healthz?deep=1", None, vec![]).await;
    assert_eq!((status, &deep["ok"], &deep["uid"], &deep["hotkey"]), (200, &json!(true), &json!(0), &json!(hotkey)), "{deep}");

    // A valid batch of the reference's texts verifies with bittensor-wallet.
    let texts = golden_texts();
    let client = SignerClient::new(&url, None).expect("client");
    let batch = client.sign(&texts).await.expect("signed");
    assert_eq!(batch.hotkey, hotkey);
    let pairs: Vec<(&String, &String)> = texts.iter().zip(&batch.signatures).collect();
    let verified = run_python(VERIFY, &[hotkey.as_ref()], &serde_json::to_string(&pairs).expect("json"));
    assert_eq!(serde_json::from_str::<Vec<bool>>(verified.trim()).expect("bools"), vec![true; texts.len()]);
    // The reference's other spelling, and the hotkey of an empty batch.
    let (status, body) = request(&url, reqwest::Method::POST, "/sign", None, json!({"data": texts[0]}).to_string().into_bytes()).await;
    assert_eq!((status, body["signatures"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    assert_eq!(client.hotkey().await.expect("hotkey"), hotkey);

    // Extrinsic-shaped, binary, malformed and oversized requests.
    for (payloads, says) in [
        (json!({"payloads": ["0x0700780c000005000900"]}), "hex"),
        (json!({"payloads": [format!("{}\u{0}", texts[0])]}), "printable ASCII"),
        (json!({"payloads": ["transfer:all:to:me"]}), "known environment"),
        (json!({"payloads": [7]}), "not a string"),
    ] {
        let (status, body) = request(&url, reqwest::Method::POST, "/sign", None, payloads.to_string().into_bytes()).await;
        assert_eq!(status, 400, "{payloads}: {body}");
        assert_eq!(body["success"], false);
        assert!(body["error"].as_str().is_some_and(|e| e.contains(says)), "{payloads}: {body}");
    }
    let (status, body) = request(&url, reqwest::Method::POST, "/sign", None, b"{not json".to_vec()).await;
    assert_eq!((status, body["success"].clone()), (400, json!(false)), "{body}");
    let huge = format!(r#"{{"payloads": ["{}"]}}"#, "a".repeat(17 << 20));
    assert_eq!(request(&url, reqwest::Method::POST, "/sign", None, huge.into_bytes()).await.0, 413);
    let many = json!({"payloads": vec![texts[0].clone(); 4097]});
    assert_eq!(request(&url, reqwest::Method::POST, "/sign", None, many.to_string().into_bytes()).await.0, 413);

    // /set_weights: another subnet and a bad vector are 400; one set at a time (409); a set
    // confirms, with the reference's body.
    let set = |netuid: u16, uids: Vec<u16>, weights: Vec<f64>| SetWeightsRequest { netuid, weights, uids, wait_for_inclusion: false };
    let error = client.set_weights(&set(7, vec![1], vec![1.0])).await.expect_err("other subnet");
    assert!(matches!(&error, ClientError::Status { status: 400, message, .. } if message.contains("netuid 7")), "{error}");
    let error = client.set_weights(&set(120, vec![1, 1], vec![0.5, 0.5])).await.expect_err("duplicate");
    assert!(matches!(&error, ClientError::Status { status: 400, .. }) && !error.is_unreachable(), "{error}");
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.set_weights(&set(120, vec![1, 2], vec![0.6, 0.4])).await }
    });
    signer.wait_for_stderr("set_weights request received", LONG);
    let error = client.set_weights(&set(120, vec![1], vec![1.0])).await.expect_err("busy");
    assert!(matches!(&error, ClientError::Status { status: 409, .. }), "{error}");
    let confirmed = first.await.expect("task").expect("the first set confirms");
    assert!(confirmed.block.is_some_and(|b| b > 1000), "{confirmed:?}");
    assert!(signer.stderr().contains("status=409") && signer.stderr().contains("payload="), "access log: {}", signer.stderr());
    assert!(!signer.stderr().contains(&texts[0][..40]), "the log never holds a payload");
    assert_eq!(signer.terminate(LONG), Some(0), "{}", signer.stderr());

    // Any interface with a token: every caller needs it, loopback included.
    let (mut guarded, address) = start(&devnet, &["--host", "0.0.0.0"], Some(TOKEN));
    let port = address.rsplit(':').next().expect("port");
    let local = format!("http://127.0.0.1:{port}");
    let empty = json!({"payloads": []}).to_string().into_bytes();
    assert_eq!(request(&local, reqwest::Method::POST, "/sign", None, empty.clone()).await.0, 401);
    assert_eq!(request(&local, reqwest::Method::POST, "/sign", Some("wrong-token-wrong-token"), empty.clone()).await.0, 401);
    assert_eq!(request(&local, reqwest::Method::GET, "/healthz?deep=1", None, vec![]).await.0, 401);
    assert_eq!(request(&local, reqwest::Method::GET, "/healthz", None, vec![]).await.0, 200, "the cheap healthcheck stays open");
    let authorised = SignerClient::new(&local, Some(Secret::new(TOKEN))).expect("client");
    assert_eq!(authorised.hotkey().await.expect("with the token"), hotkey);
    match outside_address() {
        Some(ip) => {
            let outside = format!("http://{ip}:{port}");
            assert_eq!(
                request(&outside, reqwest::Method::POST, "/sign", None, empty.clone()).await.0,
                401,
                "a remote caller without the token"
            );
            let remote = SignerClient::new(&outside, Some(Secret::new(TOKEN))).expect("client");
            assert_eq!(remote.hotkey().await.expect("a remote caller with the token"), hotkey);
        }
        None => eprintln!("note: no non-loopback address on this machine; remote callers checked on loopback only"),
    }
    assert_eq!(guarded.terminate(LONG), Some(0), "{}", guarded.stderr());
    drop(devnet);
}
