//! The Hub client, unchanged, against the local Hub server: snapshot download (skip, resume
//! within a run and across runs, corruption), gating, 401/403/404 errors, weight hashes.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use affine::hub::{Error, HubClient, HubConfig, SnapshotOptions};
use affine::secret::Secret;
use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use crate::support::hub_server::{HUB_TOKEN, HubFile, HubRepo, HubServer};

const COMMIT: &str = "4f2a0c9e1b7d3a5c6e8f0a1b2c3d4e5f60718293";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future).await.expect("test timed out")
}

/// Deterministic bytes that are not a repeating short pattern.
fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn model_repo(id: &str) -> HubRepo {
    HubRepo {
        id: id.to_owned(),
        commit: COMMIT.to_owned(),
        gated: false,
        private: false,
        files: vec![
            HubFile::new("config.json", br#"{"model_type":"qwen2"}"#.to_vec(), false),
            HubFile::new("model-00001-of-00002.safetensors", content(3 << 20, 1), true),
            HubFile::new("model-00002-of-00002.safetensors", content(1 << 20, 2), true),
            HubFile::new("tokenizer/tokenizer.json", content(10_000, 3), false),
        ],
    }
}

fn client(server: &HubServer, token: Option<&str>) -> HubClient {
    HubClient::new(HubConfig { endpoint: server.url().to_owned(), token: token.map(Secret::new) }).expect("client")
}

fn fast_options() -> SnapshotOptions {
    SnapshotOptions { retry_delay: Duration::from_millis(20), ..SnapshotOptions::default() }
}

fn assert_files_equal(dest: &Path, repo: &HubRepo) {
    for file in &repo.files {
        let got = std::fs::read(dest.join(&file.name)).unwrap_or_else(|e| panic!("{}: {e}", file.name));
        assert_eq!(Sha256::digest(&got), Sha256::digest(&file.content), "{} differs", file.name);
    }
}

#[tokio::test]
async fn hub_snapshot_downloads_every_file_then_skips_them_on_rerun() {
    within(async {
        let repo = model_repo("miner/affine-one");
        let server = HubServer::start(vec![repo.clone()]).await;
        let dest = tempfile::tempdir().expect("tempdir");
        let hub = client(&server, Some(HUB_TOKEN));
        let bar = ProgressBar::hidden();
        let report =
            hub.snapshot_download(&repo.id, COMMIT, dest.path(), &fast_options(), &bar, &CancellationToken::new()).await.expect("download");
        assert_eq!((report.files, report.downloaded, report.skipped, report.resumed), (4, 4, 0, 0));
        let total: u64 = repo.files.iter().map(|f| f.content.len() as u64).sum();
        assert_eq!((report.bytes_total, report.bytes_downloaded, report.commit.as_str()), (total, total, COMMIT));
        assert_eq!(bar.position(), total, "progress counts every byte once");
        assert_files_equal(dest.path(), &repo);
        let metadata = std::fs::read_to_string(dest.path().join(".cache/huggingface/download/model-00001-of-00002.safetensors.metadata"))
            .expect("metadata");
        let lines: Vec<&str> = metadata.lines().collect();
        assert_eq!(lines[..2], [COMMIT, hex::encode(Sha256::digest(&repo.files[1].content)).as_str()]);

        let requests = server.requests();
        let cdn: Vec<_> = requests.iter().filter(|r| r.host == "cdn").collect();
        assert_eq!(cdn.len(), 2, "the two LFS files come from the CDN");
        assert!(cdn.iter().all(|r| r.authorization.is_none()), "the token never leaves the Hub host: {cdn:?}");
        let resolves: Vec<_> = requests.iter().filter(|r| r.uri.contains("/resolve/")).collect();
        assert_eq!(resolves.len(), 4);
        assert!(resolves.iter().all(|r| r.uri.contains(COMMIT) && r.authorization.as_deref() == Some(&format!("Bearer {HUB_TOKEN}"))));

        let again =
            hub.snapshot_download(&repo.id, "main", dest.path(), &fast_options(), &bar, &CancellationToken::new()).await.expect("rerun");
        assert_eq!((again.downloaded, again.skipped, again.bytes_downloaded), (0, 4, 0));
        assert_eq!(server.requests().iter().filter(|r| r.uri.contains("/resolve/")).count(), 4, "nothing fetched again");
    })
    .await;
}

#[tokio::test]
async fn hub_snapshot_interrupted_halfway_resumes_with_a_range_and_verifies() {
    within(async {
        let repo = model_repo("miner/affine-cut");
        let server = HubServer::start(vec![repo.clone()]).await;
        let big = &repo.files[1];
        server.interrupt(&big.name, 1);
        let dest = tempfile::tempdir().expect("tempdir");
        let hub = client(&server, None);
        let report = hub
            .snapshot_download(&repo.id, COMMIT, dest.path(), &fast_options(), &ProgressBar::hidden(), &CancellationToken::new())
            .await
            .expect("download survives the cut");
        assert_eq!((report.downloaded, report.resumed), (4, 1));
        assert_eq!(report.bytes_downloaded, report.bytes_total, "the resumed request fetched only the rest");
        assert_files_equal(dest.path(), &repo);
        let cdn: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.host == "cdn" && r.uri.ends_with(&hex::encode(Sha256::digest(&big.content))))
            .collect();
        assert_eq!(cdn.len(), 2, "{cdn:?}");
        assert_eq!(cdn[0].range, None);
        let start: usize = cdn[1].range.as_deref().and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()).expect("range");
        assert!(start > 0 && start <= big.content.len() / 2, "resumed from {start}");
    })
    .await;
}

#[tokio::test]
async fn hub_snapshot_resumes_a_part_file_left_by_an_earlier_run() {
    within(async {
        let repo = model_repo("miner/affine-part");
        let server = HubServer::start(vec![repo.clone()]).await;
        let dest = tempfile::tempdir().expect("tempdir");
        let big = &repo.files[1];
        let sha = hex::encode(Sha256::digest(&big.content));
        let part = dest.path().join(format!(".cache/huggingface/download/{}.{sha}.part", big.name));
        std::fs::create_dir_all(part.parent().expect("parent")).expect("mkdir");
        let kept = 1_234_567;
        std::fs::write(&part, &big.content[..kept]).expect("write part");
        let report = client(&server, None)
            .snapshot_download(&repo.id, COMMIT, dest.path(), &fast_options(), &ProgressBar::hidden(), &CancellationToken::new())
            .await
            .expect("download");
        assert_eq!(report.resumed, 1);
        assert_eq!(report.bytes_downloaded, report.bytes_total - kept as u64);
        assert!(!part.exists(), "the part file became the target");
        assert_files_equal(dest.path(), &repo);
        let ranges: Vec<_> = server.requests().into_iter().filter(|r| r.host == "cdn").filter_map(|r| r.range).collect();
        assert_eq!(ranges, [format!("bytes={kept}-")]);
    })
    .await;
}

#[tokio::test]
async fn hub_snapshot_wrong_content_range_discards_the_part_and_starts_over() {
    within(async {
        let repo = model_repo("miner/affine-misrange");
        let server = HubServer::start(vec![repo.clone()]).await;
        let big = &repo.files[1];
        server.misrange(&big.name);
        let dest = tempfile::tempdir().expect("tempdir");
        let sha = hex::encode(Sha256::digest(&big.content));
        let part = dest.path().join(format!(".cache/huggingface/download/{}.{sha}.part", big.name));
        std::fs::create_dir_all(part.parent().expect("parent")).expect("mkdir");
        std::fs::write(&part, &big.content[..1000]).expect("write part");
        let report = client(&server, None)
            .snapshot_download(&repo.id, COMMIT, dest.path(), &fast_options(), &ProgressBar::hidden(), &CancellationToken::new())
            .await
            .expect("download");
        assert_eq!(report.resumed, 0, "nothing was appended to the old part");
        assert_files_equal(dest.path(), &repo);
        let ranges: Vec<_> = server.requests().into_iter().filter(|r| r.host == "cdn" && r.uri.ends_with(&sha)).map(|r| r.range).collect();
        assert_eq!(ranges, [Some("bytes=1000-".to_owned()), None], "the asked range, then the whole file");
    })
    .await;
}

#[tokio::test]
async fn hub_snapshot_detects_a_corrupted_file_and_keeps_nothing_of_it() {
    within(async {
        let repo = model_repo("miner/affine-bad");
        let server = HubServer::start(vec![repo.clone()]).await;
        let bad = &repo.files[2];
        server.corrupt(&bad.name);
        let dest = tempfile::tempdir().expect("tempdir");
        let error = client(&server, None)
            .snapshot_download(&repo.id, COMMIT, dest.path(), &fast_options(), &ProgressBar::hidden(), &CancellationToken::new())
            .await
            .expect_err("corruption is an error");
        match &error {
            Error::Integrity { path, expected, actual } => {
                assert_eq!(path, &bad.name);
                assert_eq!(expected, &hex::encode(Sha256::digest(&bad.content)));
                assert_ne!(actual, expected);
            }
            other => panic!("expected an integrity error, got {other:?}"),
        }
        assert!(error.to_string().contains("is corrupted"), "{error}");
        assert!(!dest.path().join(&bad.name).exists(), "a corrupted file is never moved into place");
        let leftovers: Vec<_> = std::fs::read_dir(dest.path().join(".cache/huggingface/download"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&bad.name) && e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty(), "the corrupted part is removed so a rerun starts clean");
    })
    .await;
}

#[tokio::test]
async fn hub_gated_private_and_missing_repos_give_typed_errors() {
    within(async {
        let gated = HubRepo { gated: true, ..model_repo("org/affine-gated") };
        let private = HubRepo { private: true, ..model_repo("org/affine-private") };
        let server = HubServer::start(vec![gated.clone(), private.clone(), model_repo("org/affine-open")]).await;
        let anonymous = client(&server, None);
        let with_token = client(&server, Some(HUB_TOKEN));

        assert!(anonymous.is_gated(&gated.id).await.expect("model info"));
        assert!(!anonymous.is_gated("org/affine-open").await.expect("model info"));
        let dest = tempfile::tempdir().expect("tempdir");
        let options = fast_options();
        let token = CancellationToken::new();
        let bar = ProgressBar::hidden();

        let error = anonymous.snapshot_download(&gated.id, COMMIT, dest.path(), &options, &bar, &token).await.expect_err("gated");
        assert!(matches!(error, Error::Gated { status: 403, .. }), "{error:?}");
        assert!(error.needs_token() && error.is_user_input());
        with_token.snapshot_download(&gated.id, COMMIT, dest.path(), &options, &bar, &token).await.expect("token with access");

        let error = anonymous.revision_info(&private.id, COMMIT).await.expect_err("private");
        assert!(matches!(error, Error::AccessDenied { status: 401, .. }), "{error:?}");
        assert!(error.needs_token());
        assert_eq!(with_token.revision_info(&private.id, COMMIT).await.expect("private with token").sha, COMMIT);

        let error = with_token.revision_info("org/affine-missing", COMMIT).await.expect_err("missing");
        assert!(matches!(error, Error::RepoNotFound { .. }), "{error:?}");
        // Model info is fetched without the token (the gating check must see what the public
        // sees), and the Hub answers 401 for a repository it will not name to strangers.
        let error = with_token.model_info("org/affine-missing").await.expect_err("missing");
        assert!(matches!(error, Error::AccessDenied { status: 401, .. }), "{error:?}");
        let error = anonymous.model_info(&private.id).await.expect_err("private");
        assert!(matches!(error, Error::AccessDenied { status: 401, .. }), "{error:?}");
        let wrong = "0000000000000000000000000000000000000000";
        let error = anonymous.revision_info("org/affine-open", wrong).await.expect_err("wrong revision");
        assert!(matches!(&error, Error::RevisionNotFound { revision, .. } if revision == wrong), "{error:?}");
        assert!(!error.needs_token() && error.is_user_input());
    })
    .await;
}

#[tokio::test]
async fn hub_weights_shas_are_the_safetensors_lfs_hashes() {
    within(async {
        let repo = model_repo("miner/affine-shas");
        let server = HubServer::start(vec![repo.clone()]).await;
        let shas = client(&server, None).weights_shas(&repo.id, COMMIT).await.expect("shas");
        let mut expected: Vec<String> = repo.files[1..3].iter().map(|f| hex::encode(Sha256::digest(&f.content))).collect();
        expected.sort();
        assert_eq!(shas.into_iter().collect::<Vec<_>>(), expected);
        let branch = server.requests().into_iter().find(|r| r.uri.contains("/revision/")).expect("revision request");
        assert!(branch.uri.ends_with(COMMIT));
    })
    .await;
}

#[tokio::test]
async fn hub_unreachable_endpoint_is_a_transient_request_error() {
    within(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let hub = HubClient::new(HubConfig { endpoint: url, token: None }).expect("client");
        let error = hub.model_info("a/affine-b").await.expect_err("nothing listens");
        assert!(matches!(error, Error::Request { .. }) && error.is_transient(), "{error:?}");
    })
    .await;
}
