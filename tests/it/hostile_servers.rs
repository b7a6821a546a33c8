//! Hostile servers: Hub listings with traversal names, endless and oversized bodies, 429
//! forever, servers that never answer, a silent WebSocket node, credentials in URLs, and a
//! client that holds `af env serve`'s connections. Each case asserts the documented exit code,
//! bounded time, bounded peak memory (the child's RSS), that nothing outside the destination
//! is touched, and that no secret is printed.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::support::af;
use crate::support::hostile::{
    Answer, Finished, HostileServer, ServeProcess, children_peak_rss_mib, process_peak_rss_mib, run_within, start, tree,
};
use crate::support::hub_server::{HubFile, HubRepo, HubServer};

const LIMIT: Duration = Duration::from_secs(30);
const RSS_LIMIT_MIB: i64 = 200;
const SECRET: &str = "s3cr3t-never-printed";
const COMMIT: &str = "4f2a0c9e1b7d3a5c6e8f0a1b2c3d4e5f60718293";
const LISTING: &str = "/api/models/o/affine-x/revision/";

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("the blocking part panicked")
}

fn check(finished: &Finished, code: i32, needle: &str) {
    assert_eq!(finished.code, Some(code), "stdout:\n{}\nstderr:\n{}", finished.stdout, finished.stderr);
    assert!(finished.output().contains(needle), "expected {needle:?} in:\n{}", finished.output());
    assert!(!finished.output().contains(SECRET), "a secret was printed:\n{}", finished.output());
    assert!(!finished.output().contains('\u{1b}'), "a raw escape sequence was printed:\n{}", finished.output());
}

fn hub_download(endpoint: &str, dest: &Path) -> std::process::Command {
    let mut command = af();
    command
        .args(["hub", "download", "--repo", "o/affine-x", "--revision", COMMIT, "--dest"])
        .arg(dest)
        .args(["--hf-endpoint", endpoint])
        .env("HF_TOKEN", SECRET);
    command
}

fn listing(sha: &str, siblings: &Value) -> String {
    json!({"id": "o/affine-x", "sha": sha, "siblings": siblings}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_hub_listings_never_touch_anything_outside_the_destination() {
    let root = tempfile::tempdir().expect("tempdir");
    let victim = root.path().join("victim.part");
    std::fs::write(&victim, "the user's own file").expect("write");
    let escape = "x/../../../../../victim";
    let lfs = |sha256: &str| json!([{"rfilename": "model.bin", "size": 4, "lfs": {"sha256": sha256, "size": 4}}]);
    let listings = [
        ("lfs sha256 with ../", listing(COMMIT, &lfs(escape)), "refusing unsafe etag"),
        ("blob id with ../", listing(COMMIT, &json!([{"rfilename": "a.json", "size": 4, "blobId": escape}])), "refusing unsafe etag"),
        ("commit sha with ../", listing("../../../../victim", &json!([{"rfilename": "a.json", "size": 4}])), "refusing unsafe commit sha"),
        ("file name with ../", listing(COMMIT, &json!([{"rfilename": "../../victim.part", "size": 4}])), "refusing unsafe file name"),
        ("file name with an escape", listing(COMMIT, &json!([{"rfilename": "a\u{1b}[2J", "size": 4}])), "refusing unsafe file name"),
        ("file without a size", listing(COMMIT, &json!([{"rfilename": "a.json"}])), "listed without a size"),
    ];
    for (what, body, needle) in listings {
        let dest = root.path().join("dest");
        let before = tree(root.path(), &dest);
        let server = HostileServer::start(vec![(LISTING, Answer::Json(200, body)), ("/o/affine-x/resolve/", Answer::Endless)]).await;
        let command = hub_download(server.url(), &dest);
        let finished = blocking(move || run_within(command, LIMIT)).await;
        check(&finished, 1, needle);
        assert_eq!(tree(root.path(), &dest), before, "{what}: something outside --dest changed");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "the user's own file", "{what}");
    }

    // A file longer than listed is cut at the listed size and discarded, in bounded memory.
    let dest = root.path().join("long");
    let body = listing(COMMIT, &json!([{"rfilename": "a.bin", "size": 10, "blobId": "b".repeat(40)}]));
    let server = HostileServer::start(vec![(LISTING, Answer::Json(200, body)), ("/o/affine-x/resolve/", Answer::Endless)]).await;
    let command = hub_download(server.url(), &dest);
    let finished = blocking(move || run_within(command, LIMIT)).await;
    check(&finished, 1, "expected 10");
    assert!(!dest.join("a.bin").exists());

    // Endless and oversized listings are refused, not read whole.
    for answer in [Answer::Endless, Answer::Declared(10 << 30)] {
        let server = HostileServer::start(vec![(LISTING, answer)]).await;
        let command = hub_download(server.url(), &root.path().join("big"));
        check(&blocking(move || run_within(command, LIMIT)).await, 1, "response too large: API answer over the 32 MiB limit");
    }

    // An empty file in a real repository downloads (it used to fail every download).
    let repo = HubRepo {
        id: "o/affine-x".into(),
        commit: COMMIT.into(),
        gated: false,
        private: false,
        files: vec![HubFile::new("empty.txt", Vec::new(), false), HubFile::new("config.json", b"{}".to_vec(), false)],
    };
    let hub = HubServer::start(vec![repo]).await;
    let dest = root.path().join("empty");
    let command = hub_download(hub.url(), &dest);
    let finished = blocking(move || run_within(command, LIMIT)).await;
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    assert_eq!(std::fs::metadata(dest.join("empty.txt")).expect("the empty file").len(), 0);
    assert!(children_peak_rss_mib() < RSS_LIMIT_MIB, "peak RSS {} MiB", children_peak_rss_mib());
}

fn eval_against(base_url: &str) -> std::process::Command {
    let mut command = af();
    command.args(["eval", "--env", "affine:sat", "--model", "m", "--task-id", "0", "--base-url", base_url]).args(["--api-key", SECRET]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_endless_and_oversized_answers_are_refused_in_bounded_memory() {
    for answer in [Answer::Endless, Answer::Declared(10 << 30)] {
        let server = HostileServer::start(vec![("/v1/chat/completions", answer)]).await;
        let mut command = eval_against(&format!("{}/v1", server.url()));
        command.arg("--json");
        let finished = blocking(move || run_within(command, LIMIT)).await;
        // The model's failure is the task's result, as the reference records it.
        check(&finished, 0, "response too large: chat completion over the 16 MiB limit");
    }
    let peak = children_peak_rss_mib();
    eprintln!("af eval against an endless body: peak RSS {peak} MiB");
    assert!(peak < RSS_LIMIT_MIB, "peak RSS {peak} MiB");

    // Chutes and the public store refuse oversized answers the same way.
    let chutes = HostileServer::start(vec![("/chutes/", Answer::Endless)]).await;
    let mut push = af();
    push.args(["chutes-push", "--repo", "o/affine-x", "--revision", COMMIT, "--chute-user", "u"]).args([
        "--chutes-api-url",
        chutes.url(),
        "--chutes-api-key",
        SECRET,
    ]);
    check(&blocking(move || run_within(push, LIMIT)).await, 1, "response too large: API answer over the 32 MiB limit");
    let bucket = HostileServer::start(vec![("/affine/index.json", Answer::Declared(10 << 30))]).await;
    let root = tempfile::tempdir().expect("tempdir");
    let command = recompute_public(root.path(), bucket.url(), 30);
    check(&blocking(move || run_within(command, LIMIT)).await, 1, "response too large: store object over the 128 MiB limit");
    assert!(children_peak_rss_mib() < RSS_LIMIT_MIB, "peak RSS {} MiB", children_peak_rss_mib());
}

/// `af weights -r` against a metagraph snapshot, with `store` flags.
fn recompute(dir: &Path, store: &[&str], store_timeout: u64) -> std::process::Command {
    let snapshot = dir.join("metagraph.json");
    std::fs::write(&snapshot, json!({"block": 1000, "tail": 100, "hotkeys": ["h0"]}).to_string()).expect("write");
    let mut command = af();
    command.args(["weights", "-r", "--metagraph"]).arg(&snapshot).args(store).args(["--store-timeout", &store_timeout.to_string()]);
    command.env("HF_TOKEN", SECRET);
    command
}

/// [`recompute`] reading the public bucket at `url`.
fn recompute_public(dir: &Path, url: &str, store_timeout: u64) -> std::process::Command {
    recompute(dir, &["--r2-public", "1", "--r2-public-url", url], store_timeout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_throttling_and_silent_servers_hit_their_deadlines() {
    let root = tempfile::tempdir().expect("tempdir");
    // 429 forever with an hour's Retry-After: not waited for past the deadline.
    let throttling = HostileServer::start(vec![("/", Answer::Status(429, Some(3600)))]).await;
    let command = recompute_public(root.path(), throttling.url(), 5);
    let finished = blocking(move || run_within(command, LIMIT)).await;
    check(&finished, 1, "store deadline");
    assert!(finished.elapsed < Duration::from_secs(10), "took {:?}", finished.elapsed);
    // A server that never answers: the deadline ends the wait.
    let silent = HostileServer::start(vec![("/", Answer::Silent)]).await;
    let command = recompute_public(root.path(), silent.url(), 3);
    let finished = blocking(move || run_within(command, LIMIT)).await;
    check(&finished, 1, "store deadline");
    assert!(finished.elapsed < Duration::from_secs(15), "took {:?}", finished.elapsed);
    // An S3 endpoint that answers 404 to everything holds no results: an error, not a burn.
    let nothing = HostileServer::start(vec![]).await;
    let s3 = ["--r2-endpoint-url", nothing.url(), "--r2-access-key-id", "id", "--r2-secret-access-key", SECRET, "--no-public-fallback"];
    let command = recompute(root.path(), &s3, 5);
    check(&blocking(move || run_within(command, LIMIT)).await, 2, "has no affine/index.json");
}

/// Starts `command`, sends SIGINT after `after`, and returns how it ended and how long the
/// exit took after the signal.
fn interrupt(command: std::process::Command, after: Duration) -> (Finished, Duration) {
    let running = start(command);
    std::thread::sleep(after);
    let signalled = Instant::now();
    running.signal(Signal::SIGINT);
    let finished = running.finish(LIMIT);
    (finished, signalled.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_silent_peers_yield_to_ctrl_c_with_exit_130() {
    let silent = HostileServer::start(vec![("/", Answer::Silent)]).await;
    let root = tempfile::tempdir().expect("tempdir");
    let mut metagraph = af();
    metagraph.args(["metagraph", "--subtensor-endpoint", &silent.ws_url(), "--chain-timeout", "120"]);
    let mut store = recompute_public(root.path(), silent.url(), 120);
    store.arg("--no-public-fallback");
    let model = eval_against(&format!("{}/v1", silent.url()));
    for (what, command) in
        [("af metagraph, silent node", metagraph), ("af weights -r, silent store", store), ("af eval, silent model", model)]
    {
        let (finished, exit) = blocking(move || interrupt(command, Duration::from_secs(1))).await;
        assert_eq!(finished.code, Some(130), "{what}: {}", finished.stderr);
        eprintln!("{what}: exited {exit:?} after SIGINT");
        assert!(exit < Duration::from_secs(5), "{what}: took {exit:?} after SIGINT");
        assert!(!finished.output().contains(SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_credentials_in_urls_never_reach_logs_tables_or_json() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut metagraph = af();
    metagraph.args(["-vv", "metagraph", "--chain-timeout", "2", "--subtensor-endpoint", &format!("ws://alice:{SECRET}@127.0.0.1:{port}")]);
    let finished = blocking(move || run_within(metagraph, LIMIT)).await;
    check(&finished, 1, "ws://***@127.0.0.1");

    let model = crate::support::openai::OpenAiServer::start(crate::support::openai::Miner::Wrong).await;
    let url = model.base_url.replacen("http://", &format!("http://bob:{SECRET}@"), 1);
    for (format, needle) in [("--json", "\"base_url\": \"http://***@127.0.0.1"), ("-vv", "")] {
        let mut eval = eval_against(&format!("{url}?apikey={SECRET}"));
        eval.arg(format);
        let finished = blocking(move || run_within(eval, LIMIT)).await;
        check(&finished, 0, needle);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_cannot_hold_env_serve_and_a_second_signal_stops_it_at_once() {
    let endless = HostileServer::start(vec![("/v1/chat/completions", Answer::Endless)]).await;
    let silent = HostileServer::start(vec![("/", Answer::Silent)]).await;
    let mut server = blocking(|| ServeProcess::start(&["--idle-timeout", "1"])).await;
    let client = reqwest::Client::new();
    let call =
        |base_url: String| json!({"method": "evaluate", "kwargs": {"task_type": "sat", "task_id": 0, "model": "m", "base_url": base_url}});

    // A body over the limit is 413 (not 422), answered before it is read; a half-sent head, a
    // half-sent body and an idle connection are all let go within the limit.
    let address = server.address.clone();
    blocking(move || {
        for (what, sent) in [
            (
                "oversized body",
                "POST /call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n".to_owned(),
            ),
            ("half-sent head", "POST /call HTTP/1.1\r\nHost: x\r\n".to_owned()),
            (
                "half-sent body",
                "POST /call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"me".to_owned(),
            ),
            ("idle connection", String::new()),
        ] {
            let mut stream = std::net::TcpStream::connect(&address).expect("connect");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            stream.write_all(sent.as_bytes()).expect("write");
            let started = Instant::now();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            let answer = String::from_utf8_lossy(&answer);
            assert!(started.elapsed() < Duration::from_secs(5), "{what}: held for {:?}", started.elapsed());
            match what {
                "half-sent body" => assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}"),
                "oversized body" => assert!(answer.starts_with("HTTP/1.1 413"), "{what}: {answer}"),
                _ => {}
            }
        }
    })
    .await;

    // A model that streams forever: the call fails as the model's, the server's memory stays bounded.
    let response = client.post(format!("{}/call", server.url)).json(&call(format!("{}/v1", endless.url()))).send().await.expect("send");
    let answer: Value = response.json().await.expect("JSON answer");
    assert!(answer.to_string().contains("response too large"), "{answer}");
    let peak = process_peak_rss_mib(server.pid());
    assert!(peak < 200, "af env serve peak RSS {peak} MiB");

    // A call in flight holds the first SIGTERM's drain; the second signal exits at once.
    let in_flight = tokio::spawn(client.post(format!("{}/call", server.url)).json(&call(format!("{}/v1", silent.url()))).send());
    while silent.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Instant::now();
    server.signal(Signal::SIGTERM);
    let code = blocking(move || server.wait_exit(Duration::from_secs(5))).await;
    assert_eq!(code, Some(130));
    assert!(second.elapsed() < Duration::from_secs(2), "took {:?}", second.elapsed());
    in_flight.abort();
}
