//! The Chutes client, unchanged, against the local Chutes server: chute get and list with an
//! API key or anonymously, error statuses with their detail, hotkey-signed requests verified
//! with real sr25519, and the deploy path (402/403/409/429, then a confirmed chute id).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use affine::inference::chutes::Error;
use affine::inference::chutes::{
    ChutesAuth, ChutesClient, ChutesConfig, DeploySettings, HotkeyAuth, ListQuery, chute_id, deploy_request, signing_message,
};
use affine::inference::chutes_config::ChutesCredentials;
use affine::secret::Secret;

use crate::support::chutes_server::{ChutesServer, ChutesUser, TestHotkey, chute_fixture, ss58_decode};

const REV: &str = "4f2a0c9e1b7d3a5c6e8f0a1b2c3d4e5f60718293";
const KEY: &str = "cpk_0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210.abcdefghijklmnopqrstuvwxyz012345";
const CHUTE: &str = "11111111-2222-5333-8444-555555555555";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future).await.expect("test timed out")
}

fn alice(hotkey: Option<&TestHotkey>) -> ChutesUser {
    ChutesUser {
        user_id: "user-alice".into(),
        username: "alice".into(),
        api_key: Some(KEY.into()),
        hotkey: hotkey.map(TestHotkey::public),
        balance: 100.0,
    }
}

fn client(server: &ChutesServer, auth: ChutesAuth) -> ChutesClient {
    ChutesClient::new(ChutesConfig { api_url: server.url().to_owned(), auth }).expect("client")
}

fn hotkey_auth(user: &ChutesUser, hotkey: TestHotkey) -> ChutesAuth {
    let ss58 = hotkey.ss58();
    ChutesAuth::Hotkey(HotkeyAuth { user_id: user.user_id.clone(), hotkey: ss58, signer: Arc::new(move |m: &[u8]| hotkey.sign_hex(m)) })
}

async fn server_with_chutes() -> (ChutesServer, ChutesUser) {
    let user = alice(None);
    let bob = ChutesUser { user_id: "user-bob".into(), username: "bob".into(), api_key: None, hotkey: None, balance: 0.0 };
    let mut popular = chute_fixture("22222222-0000-5000-8000-000000000002", "bob/affine-popular", &bob, None, true);
    popular["invocation_count"] = serde_json::json!(500);
    let chutes = vec![
        (user.user_id.clone(), chute_fixture(CHUTE, "alice/Affine-one", &user, Some(REV), true)),
        (user.user_id.clone(), chute_fixture("33333333-0000-5000-8000-000000000003", "alice/private-model", &user, None, false)),
        (bob.user_id.clone(), popular),
        (bob.user_id.clone(), chute_fixture("44444444-0000-5000-8000-000000000004", "bob/other", &bob, None, false)),
    ];
    (ChutesServer::start(vec![user.clone(), bob], chutes).await, user)
}

#[tokio::test]
async fn chutes_get_chute_with_api_key_returns_typed_fields_without_bulky_ones() {
    within(async {
        let (server, _) = server_with_chutes().await;
        let chute = client(&server, ChutesAuth::ApiKey(Secret::new(KEY))).get_chute(CHUTE).await.expect("chute");
        assert_eq!((chute.chute_id.as_str(), chute.name.as_str(), chute.revision.as_deref()), (CHUTE, "alice/Affine-one", Some(REV)));
        assert!(chute.hot);
        assert_eq!(chute.slug.as_deref(), Some("alice-alice-affine-one"));
        assert_eq!(
            chute.inference_url(&affine::inference::InferenceUrlTemplate::default()).as_deref(),
            Some("https://alice-alice-affine-one.chutes.ai/v1")
        );
        for dropped in ["readme", "cords", "tagline", "instances"] {
            assert!(!chute.fields().contains_key(dropped), "{dropped} kept");
        }
        assert!(chute.fields()["image"].get("readme").is_none());
        assert_eq!(chute.fields()["image"]["tag"], "nightly-2025081600");
        assert_eq!(chute.fields()["invocation_count"], 0, "the rest is kept");
        let request = server.requests().pop().expect("recorded");
        assert_eq!(request.headers.get("authorization").map(String::as_str), Some(KEY), "the key is sent raw, as the reference does");
    })
    .await;
}

#[tokio::test]
async fn chutes_errors_keep_the_status_and_the_server_detail() {
    within(async {
        let (server, _) = server_with_chutes().await;
        let anonymous = client(&server, ChutesAuth::Anonymous);
        // Anonymous callers see */affine* chutes but not private ones.
        assert!(anonymous.get_chute(CHUTE).await.expect("affine chute is visible").hot);
        let error = anonymous.get_chute("33333333-0000-5000-8000-000000000003").await.expect_err("private");
        assert!(error.is_not_found() && !error.is_transient(), "{error:?}");
        match &error {
            Error::Api { status: 404, detail, .. } => assert_eq!(detail.as_str(), Some("Chute not found, or does not belong to you")),
            other => panic!("{other:?}"),
        }
        let owner = client(&server, ChutesAuth::ApiKey(Secret::new(KEY)));
        assert_eq!(owner.get_chute("33333333-0000-5000-8000-000000000003").await.expect("own chute").name, "alice/private-model");

        let unknown = client(&server, ChutesAuth::ApiKey(Secret::new("cpk_unknown.key.here")));
        let error = unknown.get_chute(CHUTE).await.expect_err("unknown key");
        assert!(error.is_auth());
        assert!(error.to_string().ends_with("answered HTTP 401: Invalid token or user not found"), "{error}");
        assert!(!format!("{unknown:?}").contains("cpk_unknown"), "the key is redacted in Debug");
        let malformed = client(&server, ChutesAuth::ApiKey(Secret::new("not-a-key")));
        let error = malformed.get_chute(CHUTE).await.expect_err("malformed key");
        assert!(matches!(&error, Error::Api { status: 401, detail, .. } if detail.as_str() == Some("Missing or invalid authorization header(s)")));
    })
    .await;
}

#[tokio::test]
async fn chutes_list_filters_by_name_pages_and_orders_by_invocations() {
    within(async {
        let (server, _) = server_with_chutes().await;
        let owner = client(&server, ChutesAuth::ApiKey(Secret::new(KEY)));
        let own = owner.list_chutes(&ListQuery::default()).await.expect("list");
        let names: Vec<&str> = own.items.iter().map(|c| c.name.as_str()).collect();
        assert_eq!((own.total, names.len()), (Some(2), 2), "authenticated without include_public: own chutes only, {names:?}");
        let with_public = owner.list_chutes(&ListQuery { include_public: true, ..ListQuery::default() }).await.expect("list");
        assert_eq!(with_public.items[0].name, "bob/affine-popular", "ordered by invocation count");
        assert!(with_public.items.iter().all(|c| c.name != "bob/other"), "bob's private chute stays hidden");
        let filtered = client(&server, ChutesAuth::Anonymous)
            .list_chutes(&ListQuery { name: Some("AFFINE-ONE".into()), ..ListQuery::default() })
            .await
            .expect("list");
        assert_eq!(filtered.items.iter().map(|c| c.chute_id.as_str()).collect::<Vec<_>>(), [CHUTE]);
        let paged = owner.list_chutes(&ListQuery { page: 1, limit: 1, include_public: true, ..ListQuery::default() }).await.expect("page");
        assert_eq!((paged.total, paged.page, paged.limit, paged.items.len()), (Some(3), Some(1), Some(1), 1));
        let uri = server.requests().pop().expect("recorded").uri;
        assert!(uri.contains("page=1") && uri.contains("limit=1") && uri.contains("include_public=true"), "{uri}");
        // Exact, case-insensitive name match among the caller's own chutes.
        assert_eq!(owner.find_chute_by_name("ALICE/affine-ONE").await.expect("find").map(|c| c.chute_id), Some(CHUTE.to_owned()));
        assert_eq!(owner.find_chute_by_name("alice/affine").await.expect("find"), None, "a substring is not a match");
    })
    .await;
}

#[tokio::test]
async fn chutes_signed_requests_pass_real_sr25519_verification() {
    within(async {
        let hotkey = TestHotkey::from_seed([7; 32]);
        let user = alice(Some(&hotkey));
        let server = ChutesServer::start(
            vec![user.clone()],
            vec![(user.user_id.clone(), chute_fixture(CHUTE, "alice/affine-one", &user, Some(REV), true))],
        )
        .await;
        let ss58 = hotkey.ss58();
        assert_eq!(ss58_decode(&ss58), Some(hotkey.public()));
        let signed = client(&server, hotkey_auth(&user, hotkey));
        assert_eq!(signed.get_chute(CHUTE).await.expect("signed get").chute_id, CHUTE);
        let request = server.requests().pop().expect("recorded");
        assert_eq!(request.headers.get("x-chutes-hotkey"), Some(&ss58));
        assert_eq!(request.headers.get("x-chutes-userid").map(String::as_str), Some("user-alice"));
        assert!(request.headers.get("x-chutes-nonce").is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())));
        assert!(request.headers.get("x-chutes-signature").is_some_and(|s| s.len() == 128 && !s.starts_with("0x")));
        assert!(!request.headers.contains_key("authorization"));

        // A deploy signs the sha256 of the exact body bytes it sends.
        let body = deploy_request("alice", "alice/affine-new", REV, &DeploySettings::default()).expect("body");
        let chute = signed.deploy(&body, true).await.expect("signed deploy");
        let request = server.requests().pop().expect("recorded");
        assert_eq!((request.method.as_str(), request.uri.as_str()), ("POST", "/chutes/?accept_fee=true"));
        assert_eq!(request.headers.get("content-type").map(String::as_str), Some("application/json"));
        assert_eq!(chute.chute_id, chute_id("alice", "alice/affine-new").to_string());

        // Signatures by another key, or over another message, are refused by the server.
        let impostor = TestHotkey::from_seed([8; 32]);
        let forged = ChutesAuth::Hotkey(HotkeyAuth {
            user_id: user.user_id.clone(),
            hotkey: ss58.clone(),
            signer: Arc::new(move |m: &[u8]| impostor.sign_hex(m)),
        });
        let error = client(&server, forged).get_chute(CHUTE).await.expect_err("wrong key");
        assert!(
            matches!(&error, Error::Api { status: 401, detail, .. } if detail.as_str() == Some("Invalid request signature")),
            "{error:?}"
        );
        let same_key = TestHotkey::from_seed([7; 32]);
        let wrong_message = ChutesAuth::Hotkey(HotkeyAuth {
            user_id: user.user_id.clone(),
            hotkey: ss58.clone(),
            signer: Arc::new(move |m: &[u8]| same_key.sign_hex(&[m, b"x"].concat())),
        });
        assert!(client(&server, wrong_message).get_chute(CHUTE).await.expect_err("wrong message").is_auth());
        // The message format itself, as the server recomputes it.
        assert_eq!(signing_message(&ss58, "1", None, "chutes"), format!("{ss58}:1:chutes"));
    })
    .await;
}

#[tokio::test]
async fn chutes_deploy_answers_402_403_409_429_and_confirms_the_computed_id() {
    within(async {
        let (server, user) = server_with_chutes().await;
        let api = client(&server, ChutesAuth::ApiKey(Secret::new(KEY)));
        let body = deploy_request(&user.username, "alice/affine-deploy", REV, &DeploySettings::default()).expect("body");

        let error = api.deploy(&body, false).await.expect_err("fee not accepted");
        assert!(matches!(&error, Error::Api { status: 402, detail, .. } if detail.to_string().starts_with("DEPLOYMENT FEE NOTICE")), "{error:?}");

        let deployed = api.deploy(&body, true).await.expect("deploy");
        let expected = chute_id("alice", "alice/affine-deploy").to_string();
        assert_eq!(deployed.chute_id, expected);
        let confirmed = api.get_chute(&expected).await.expect("confirm with a get");
        assert_eq!((confirmed.name.as_str(), confirmed.revision.as_deref(), confirmed.hot), ("alice/affine-deploy", Some(REV), false));
        assert_eq!(confirmed.fields()["concurrency"], 20);
        assert_eq!(confirmed.fields()["scaling_threshold"], 0.5);

        let error = api.deploy(&body, true).await.expect_err("same version again");
        assert!(matches!(error, Error::Api { status: 409, .. }), "{error:?}");

        // A body that skipped the local checks meets the server's own refusal.
        let mut renamed = body.clone();
        renamed.name = "alice/model".into();
        let error = api.deploy(&renamed, true).await.expect_err("non-affine name");
        assert!(matches!(&error, Error::Api { status: 403, detail, .. } if detail.as_str() == Some("Affine miners may only deploy chutes named */affine*")));
        assert!(error.is_auth() && !error.is_transient());

        server.set_deploy_limit(1);
        let other = deploy_request(&user.username, "alice/affine-second", REV, &DeploySettings::default()).expect("body");
        let error = api.deploy(&other, true).await.expect_err("daily limit");
        assert!(matches!(error, Error::Api { status: 429, .. }) && error.is_transient(), "{error:?}");

        let error = client(&server, ChutesAuth::Anonymous).deploy(&other, true).await.expect_err("anonymous deploy");
        assert_eq!(error.status(), Some(401));
    })
    .await;
}

#[tokio::test]
async fn chutes_unreachable_api_is_a_transient_request_error() {
    within(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let api = ChutesClient::new(ChutesConfig { api_url: url, auth: ChutesAuth::Anonymous }).expect("client");
        let error = api.get_chute(CHUTE).await.expect_err("nothing listens");
        assert!(matches!(error, Error::Request { .. }) && error.is_transient(), "{error:?}");
    })
    .await;
}

#[tokio::test]
async fn chutes_credentials_from_config_ini_drive_signed_requests() {
    within(async {
        let seed = [9u8; 32];
        let hotkey = TestHotkey::from_seed(seed);
        let user = ChutesUser { api_key: None, ..alice(Some(&hotkey)) };
        let server = ChutesServer::start(vec![user.clone()], vec![(user.user_id.clone(), chute_fixture(CHUTE, "alice/affine-one", &user, Some(REV), false))]).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.ini");
        let text = format!(
            "[api]\nbase_url = {}\n\n[auth]\nuser_id = {}\nusername = alice\nhotkey_seed = {}\nhotkey_name = default\nhotkey_ss58address = {}\n",
            server.url(),
            user.user_id,
            hex::encode(seed),
            hotkey.ss58()
        );
        std::fs::write(&path, text).expect("write config");
        let credentials = ChutesCredentials::load(&path).expect("credentials");
        // The chain code will build the keypair from the seed; the test's schnorrkel key stands in.
        let seed: [u8; 32] = hex::decode(credentials.hotkey_seed.expose()).expect("hex").try_into().expect("32 bytes");
        let signer = TestHotkey::from_seed(seed);
        let auth = ChutesAuth::Hotkey(credentials.hotkey_auth(Arc::new(move |m: &[u8]| signer.sign_hex(m))));
        let api_url = credentials.api_url.clone().expect("base_url");
        let api = ChutesClient::new(ChutesConfig { api_url, auth }).expect("client");
        let chute = api.get_chute(CHUTE).await.expect("signed get");
        assert!(!chute.hot);
    })
    .await;
}
