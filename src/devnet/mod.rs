//! `af devnet`: the whole Affine network on one machine, for developers, tests and demos, in
//! the spirit of foundry's `anvil`.
//!
//! - [`node`]: a subtensor-compatible chain node (finney's metadata, embedded).
//! - [`chutes`]: the Chutes management API (one hot chute per miner).
//! - [`hub`]: the Hugging Face Hub API and its CDN (one model repository per miner).
//! - [`inference`]: the miners' OpenAI-compatible endpoints, answering by [`policy`].
//! - [`dataset`]: the ABD/DED dataset in the public bucket's layout.
//! - [`wallets`]: deterministic dev wallets in bittensor's layout.
//!
//! [`Devnet::start`] wires them into one network: uid 0 is the validator (with a permit), uids
//! 1..=N the miners in `--miners` order, each committed on chain through the same code path as
//! `af commit` (copies after the miners they copy, so their commitment is later). The chain
//! state is saved in the devnet directory and resumed on the next start.

pub mod chutes;
pub mod dataset;
pub mod hub;
pub mod inference;
pub mod node;
pub mod policy;
mod serve;
pub mod wallets;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use self::chutes::{ChutesServer, ChutesUser, chute_fixture, slugify};
use self::dataset::DatasetServer;
use self::hub::{HubFile, HubRepo, HubServer};
use self::inference::InferenceServer;
use self::node::{ChainSnapshot, Node, NodeConfig, RuntimeMetadataSet};
use self::policy::Policy;
use self::wallets::DevWallet;
use crate::chain::client::{ChainClient, ChainConfig};

/// The Chutes user that owns every devnet chute.
pub const CHUTES_USERNAME: &str = "devnet";
/// Its API key (a public test key).
pub const CHUTES_API_KEY: &str = "cpk_devnet_public_test_key";
/// The wallet name of the validator (uid 0).
pub const VALIDATOR_WALLET: &str = "validator";
/// The file the devnet writes its settings to.
pub const ENV_FILE: &str = "devnet.env";
/// The file the chain state is saved to.
pub const CHAIN_FILE: &str = "chain.json";
/// The best block of a new devnet: past any weights rate limit, so the validator (whose
/// `LastUpdate` is 0) may set weights at once, as an established validator can.
pub const GENESIS_HEIGHT: u64 = 1000;
/// How far the devnet's drand beacon runs ahead of wall-clock quicknet (about 95 years).
const DRAND_LEAD_ROUNDS: u64 = 1_000_000_000;
/// The file that records what the saved devnet was made with.
pub const MANIFEST_FILE: &str = "devnet.json";

/// What to start.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Where wallets, the dataset, the saved chain and `devnet.env` live.
    pub dir: PathBuf,
    /// Interface every service listens on.
    pub host: IpAddr,
    /// The node's port; the other services take the next five. 0: free ports for all.
    pub port: u16,
    /// Time between blocks.
    pub block_time: Duration,
    /// The subnet's tempo in blocks.
    pub tempo: u16,
    /// The subnet.
    pub netuid: u16,
    /// One policy per miner; miner `i` (from 0) is uid `i + 1`.
    pub miners: Vec<Policy>,
    /// Start over instead of resuming the saved chain.
    pub fresh: bool,
    /// Commit-reveal (timelocked) weights instead of plain ones.
    pub commit_reveal: bool,
    /// Blocks between weight sets of one hotkey.
    pub weights_rate_limit: u64,
}

/// Why the devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The miner list is unusable.
    #[error("{0}")]
    Miners(String),
    /// The directory cannot be used.
    #[error("cannot use devnet directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A port is taken.
    #[error("cannot listen on {address} for the {service}: {source}")]
    Bind {
        /// Which service.
        service: &'static str,
        /// The address.
        address: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The saved devnet was made differently.
    #[error("the devnet saved in {dir} was made with {saved}, not {requested}")]
    Mismatch {
        /// The directory.
        dir: PathBuf,
        /// What the saved one has.
        saved: String,
        /// What was asked for.
        requested: String,
    },
    /// The saved state cannot be read.
    #[error(transparent)]
    Snapshot(#[from] node::snapshot::SnapshotError),
    /// The node did not start.
    #[error(transparent)]
    Node(#[from] node::NodeError),
    /// Committing a miner failed.
    #[error("failed to commit miner uid {uid}: {source}")]
    Commit {
        /// The miner.
        uid: u16,
        /// The cause.
        #[source]
        source: crate::chain::Error,
    },
}

impl Error {
    /// Whether the error is the caller's to fix (exit 2), rather than a runtime failure.
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Miners(_) | Self::Dir { .. } | Self::Bind { .. } | Self::Mismatch { .. } | Self::Snapshot(_))
            || matches!(self, Self::Node(node::NodeError::Bind { .. } | node::NodeError::Snapshot(_)))
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_usage())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Snapshot(_) | Self::Mismatch { .. } | Self::Node(node::NodeError::Snapshot(_)) => Some("use --fresh to start over"),
            Self::Bind { .. } => Some("pass another --port, or --port 0 for free ports"),
            _ => None,
        }
    }
}

/// One devnet miner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevMiner {
    /// Its uid.
    pub uid: u16,
    /// How it answers (as given, `copy:N` included).
    #[serde(serialize_with = "serialize_display")]
    pub policy: Policy,
    /// Its wallet name (`miner<uid>`).
    pub wallet: String,
    /// Its hotkey address.
    pub hotkey: String,
    /// The committed model repository.
    pub model: String,
    /// The committed revision.
    pub revision: String,
    /// The committed chute id.
    pub chute_id: String,
    /// The chute's slug (its inference URL's host part).
    pub slug: String,
}

fn serialize_display<S: serde::Serializer>(value: &Policy, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// What a saved devnet was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    netuid: u16,
    miners: Vec<String>,
}

/// Checks the miner list: at least one miner, every `copy:UID` naming a miner that is not a
/// copy itself. Returns the policy each miner answers with (copies resolved).
///
/// # Errors
/// [`Error::Miners`] naming the problem.
pub fn resolve_policies(miners: &[Policy]) -> Result<Vec<Policy>, Error> {
    if miners.is_empty() {
        return Err(Error::Miners("the devnet needs at least one miner (--miners)".to_owned()));
    }
    if miners.len() > 255 {
        return Err(Error::Miners(format!("at most 255 miners, not {}", miners.len())));
    }
    miners
        .iter()
        .enumerate()
        .map(|(index, policy)| match policy {
            Policy::Copy(target) => {
                let uid = index + 1;
                match usize::from(*target).checked_sub(1).and_then(|i| miners.get(i)) {
                    _ if usize::from(*target) == uid => Err(Error::Miners(format!("miner uid {uid} (copy:{target}) cannot copy itself"))),
                    Some(Policy::Copy(_)) => Err(Error::Miners(format!("miner uid {uid} copies uid {target}, which is itself a copy"))),
                    Some(original) => Ok(original.clone()),
                    None => Err(Error::Miners(format!(
                        "miner uid {uid} copies uid {target}, which does not exist (miners are uids 1..={})",
                        miners.len()
                    ))),
                }
            }
            other => Ok(other.clone()),
        })
        .collect()
}

/// The devnet miner at `uid` with `policy`.
fn dev_miner(uid: u16, policy: &Policy) -> DevMiner {
    let wallet = DevWallet::named(&format!("miner{uid}"));
    let model = format!("{CHUTES_USERNAME}/Affine-{uid}-{}", policy.slug());
    let revision = hex::encode(&Sha256::digest(format!("af devnet revision {model}").as_bytes())[..20]);
    let chute_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{CHUTES_USERNAME}::chute::{model}").as_bytes()).to_string();
    DevMiner {
        uid,
        policy: policy.clone(),
        wallet: wallet.name.clone(),
        hotkey: wallet.hotkey.public_key().to_ss58(),
        slug: slugify(CHUTES_USERNAME, &model),
        model,
        revision,
        chute_id,
    }
}

/// The Hub repository of a miner: a config and a weights file unique to the uid.
fn hub_repo(miner: &DevMiner) -> HubRepo {
    let weights: Vec<u8> = format!("af devnet weights of uid {} ({})\n", miner.uid, miner.model).into_bytes().repeat(128);
    HubRepo {
        id: miner.model.clone(),
        commit: miner.revision.clone(),
        gated: false,
        private: false,
        files: vec![
            HubFile::new("config.json", br#"{"architectures": ["DevnetForCausalLM"], "model_type": "devnet"}"#.to_vec(), false),
            HubFile::new("model.safetensors", weights, true),
        ],
    }
}

/// The running network; everything stops when it is dropped.
pub struct Devnet {
    config: DevnetConfig,
    validator: DevWallet,
    miners: Vec<DevMiner>,
    node: Node,
    chutes: ChutesServer,
    hub: HubServer,
    inference: InferenceServer,
    dataset: DatasetServer,
    resumed: bool,
    started: Duration,
}

async fn bind(service: &'static str, host: IpAddr, port: u16) -> Result<tokio::net::TcpListener, Error> {
    let address = SocketAddr::new(host, port);
    serve::bind(address).await.map_err(|source| Error::Bind { service, address, source })
}

fn dir_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Dir { path: path.to_path_buf(), source }
}

impl Devnet {
    /// Starts the network and returns once every service accepts connections, the miners are
    /// committed and `devnet.env` is written.
    ///
    /// # Errors
    /// A bad miner list, an unusable directory, a taken port, a saved devnet made with other
    /// settings or whose state is corrupt, or a failed commitment.
    pub async fn start(config: DevnetConfig) -> Result<Self, Error> {
        let begun = Instant::now();
        let answering = resolve_policies(&config.miners)?;
        let dir = &config.dir;
        std::fs::create_dir_all(dir).map_err(dir_error(dir))?;
        let manifest = Manifest { netuid: config.netuid, miners: config.miners.iter().map(ToString::to_string).collect() };
        let manifest_path = dir.join(MANIFEST_FILE);
        let chain_path = dir.join(CHAIN_FILE);
        if config.fresh {
            for path in [&manifest_path, &chain_path] {
                match std::fs::remove_file(path) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(dir_error(dir)(error)),
                    _ => {}
                }
            }
        }
        let snapshot = ChainSnapshot::load(&chain_path)?;
        if snapshot.is_some() {
            let saved: Option<Manifest> = std::fs::read(&manifest_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
            if saved.as_ref() != Some(&manifest) {
                let describe = |m: &Manifest| format!("netuid {} and miners {}", m.netuid, m.miners.join(","));
                return Err(Error::Mismatch {
                    dir: dir.clone(),
                    saved: saved.as_ref().map_or_else(|| "an unknown configuration".to_owned(), describe),
                    requested: describe(&manifest),
                });
            }
        }
        let resumed = snapshot.is_some();
        // The node first: a taken --port is reported as that port.
        let node = Node::start(NodeConfig {
            listen: SocketAddr::new(config.host, config.port),
            block_time: config.block_time,
            initial_blocks: GENESIS_HEIGHT,
            metadata: Arc::new(RuntimeMetadataSet::finney()),
            snapshot,
            beacon_seed: node::BEACON_SEED.to_vec(),
        })
        .await
        .map_err(|error| match error {
            node::NodeError::Bind { address, source } => Error::Bind { service: "chain node", address, source },
            other @ node::NodeError::Snapshot(_) => Error::Node(other),
        })?;
        let offset = |n: u16| if config.port == 0 { 0 } else { config.port.saturating_add(n) };
        let chutes_listener = bind("Chutes API", config.host, offset(1)).await?;
        let hub_listener = bind("Hugging Face Hub", config.host, offset(2)).await?;
        let cdn_listener = bind("Hub CDN", config.host, offset(3)).await?;
        let inference_listener = bind("miners' inference endpoint", config.host, offset(4)).await?;
        let dataset_listener = bind("dataset bucket", config.host, offset(5)).await?;

        let validator = DevWallet::named(VALIDATOR_WALLET);
        let miners: Vec<DevMiner> = (1_u16..).zip(&config.miners).map(|(uid, policy)| dev_miner(uid, policy)).collect();
        let wallets = dir.join("wallets");
        validator.write(&wallets).map_err(dir_error(dir))?;
        for miner in &miners {
            DevWallet::named(&miner.wallet).write(&wallets).map_err(dir_error(dir))?;
        }
        dataset::write_layout(&dir.join("dataset")).map_err(dir_error(dir))?;
        std::fs::create_dir_all(dir.join("store")).map_err(dir_error(dir))?;
        std::fs::create_dir_all(dir.join("cache").join("dataset")).map_err(dir_error(dir))?;

        // The devnet's own beacon can sign any round: timelocked data reveals as soon as the
        // chain's rules allow (commitments at the next block, weights at their reveal epoch),
        // not when wall-clock drand would reach a round computed for 12-second blocks.
        node.set_drand_lead_rounds(DRAND_LEAD_ROUNDS);
        node.set_subnet_params(config.netuid, config.tempo, 0, config.commit_reveal);
        node.set_weights_rate_limit(config.netuid, config.weights_rate_limit);
        if !resumed {
            let mut neurons = vec![(validator.hotkey.public_key().0, validator.coldkey.public_key().0, 0, true)];
            for miner in &miners {
                let wallet = DevWallet::named(&miner.wallet);
                neurons.push((wallet.hotkey.public_key().0, wallet.coldkey.public_key().0, 0, false));
            }
            node.set_neurons_with_coldkeys(config.netuid, &neurons);
        }

        let owner = ChutesUser {
            user_id: format!("{CHUTES_USERNAME}-user"),
            username: CHUTES_USERNAME.to_owned(),
            api_key: Some(CHUTES_API_KEY.to_owned()),
            hotkey: Some(validator.hotkey.public_key().0),
            balance: 1000.0,
        };
        let chutes_list =
            miners.iter().map(|m| (owner.user_id.clone(), chute_fixture(&m.chute_id, &m.model, &owner, Some(&m.revision), true))).collect();
        let chutes = ChutesServer::serve(chutes_listener, vec![owner], chutes_list);
        let hub = HubServer::serve(hub_listener, cdn_listener, miners.iter().map(hub_repo).collect());
        let inference = InferenceServer::serve(
            inference_listener,
            miners.iter().zip(&answering).map(|(m, policy)| (m.slug.clone(), policy.clone())).collect(),
            Arc::new(dataset::rows()),
        );
        let dataset = DatasetServer::serve(dataset_listener, dataset::objects());

        let devnet = Self { config, validator, miners, node, chutes, hub, inference, dataset, resumed, started: Duration::ZERO };
        if !resumed {
            devnet.commit_miners().await?;
        }
        devnet.write_files(&manifest)?;
        Ok(Self { started: begun.elapsed(), ..devnet })
    }

    /// Commits every miner's `{model, revision, chute_id}` as `af commit` does: the originals
    /// together, then the copies, so each copy's commitment lands in a later block.
    async fn commit_miners(&self) -> Result<(), Error> {
        let client =
            ChainClient::connect(ChainConfig { endpoint: self.node.url().to_owned(), fallback: None, timeout: Duration::from_secs(30) })
                .await
                .map_err(|source| Error::Commit { uid: 0, source })?;
        let beacon = self.node.beacon_public_key();
        for copies in [false, true] {
            let batch = self.miners.iter().filter(|m| matches!(m.policy, Policy::Copy(_)) == copies).map(|miner| {
                let (client, beacon) = (&client, &beacon);
                async move {
                    let wallet = DevWallet::named(&miner.wallet);
                    let text = crate::chain::commit::commitment_text(&miner.model, &miner.revision, &miner.chute_id);
                    client
                        .commit(self.config.netuid, &wallet.hotkey, &text, beacon, 1)
                        .await
                        .map(|_| ())
                        .map_err(|source| Error::Commit { uid: miner.uid, source })
                }
            });
            futures_util::future::try_join_all(batch).await?;
        }
        Ok(())
    }

    fn write_files(&self, manifest: &Manifest) -> Result<(), Error> {
        let dir = &self.config.dir;
        let manifest_text = serde_json::to_string_pretty(manifest).map_err(|e| dir_error(dir)(std::io::Error::other(e)))?;
        std::fs::write(dir.join(MANIFEST_FILE), manifest_text).map_err(dir_error(dir))?;
        let mut text =
            String::from("# Written by `af devnet`: points af at this devnet.\n# Load it with: set -a; . ./devnet.env; set +a\n");
        for (name, value) in self.env_vars() {
            let _ = writeln!(text, "{name}={value}");
        }
        std::fs::write(dir.join(ENV_FILE), text).map_err(dir_error(dir))
    }

    /// Saves the chain state so the next start with the same directory resumes it.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self) -> Result<(), Error> {
        self.node.snapshot().save(&self.config.dir.join(CHAIN_FILE)).map_err(Error::Snapshot)
    }

    /// Every variable that points `af` at this devnet, as written to `devnet.env`.
    #[must_use]
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        use crate::env_vars as v;
        let dir = &self.config.dir;
        let path = |sub: &str| dir.join(sub).display().to_string();
        vec![
            (v::SUBTENSOR_ENDPOINT, self.node.url().to_owned()),
            (v::AF_NETUID, self.config.netuid.to_string()),
            (v::AF_DRAND_PUBLIC_KEY, self.node.beacon_public_key_hex()),
            (v::CHUTES_API_URL, self.chutes.url().to_owned()),
            (v::CHUTES_API_KEY, CHUTES_API_KEY.to_owned()),
            (v::CHUTE_USER, CHUTES_USERNAME.to_owned()),
            (v::AF_INFERENCE_URL_TEMPLATE, self.inference.url_template()),
            (v::HF_ENDPOINT, self.hub.url().to_owned()),
            (v::BT_WALLET_PATH, path("wallets")),
            (v::BT_WALLET_COLD, VALIDATOR_WALLET.to_owned()),
            (v::BT_WALLET_HOT, wallets::HOTKEY_NAME.to_owned()),
            (v::AF_STORE_DIR, path("store")),
            (v::AF_NO_PUBLIC_FALLBACK, "1".to_owned()),
            (v::R2_PUBLIC_BASE, self.dataset.url().to_owned()),
            (v::AF_DATASET_DIR, path("dataset")),
            (v::DATASET_CACHE_DIR, path("cache/dataset")),
            (v::AFFINE_CACHE_DIR, path("cache")),
        ]
    }

    /// The miners, by uid.
    #[must_use]
    pub fn miners(&self) -> &[DevMiner] {
        &self.miners
    }

    /// The validator's wallet (uid 0).
    #[must_use]
    pub fn validator(&self) -> &DevWallet {
        &self.validator
    }

    /// The chain node.
    #[must_use]
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The miners' inference endpoint.
    #[must_use]
    pub fn inference(&self) -> &InferenceServer {
        &self.inference
    }

    /// The configuration it runs with.
    #[must_use]
    pub fn config(&self) -> &DevnetConfig {
        &self.config
    }

    /// Whether it resumed a saved chain.
    #[must_use]
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// How long [`Self::start`] took.
    #[must_use]
    pub fn startup_time(&self) -> Duration {
        self.started
    }

    /// The service endpoints, for the banner: `(name, URL)`.
    #[must_use]
    pub fn endpoints(&self) -> Vec<(&'static str, String)> {
        vec![
            ("chain (subtensor RPC)", self.node.url().to_owned()),
            ("Chutes API", self.chutes.url().to_owned()),
            ("Hugging Face Hub", self.hub.url().to_owned()),
            ("miners' inference", self.inference.url_template()),
            ("ABD/DED dataset", self.dataset.url().to_owned()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_must_name_an_existing_original() {
        let parse = |text: &str| text.split(',').map(|p| p.parse::<Policy>().expect("policy")).collect::<Vec<_>>();
        let resolved = resolve_policies(&parse("oracle,random,copy:1")).expect("valid");
        assert_eq!(resolved, vec![Policy::Oracle, Policy::Random, Policy::Oracle]);
        for (bad, says) in [
            ("oracle,copy:5", "does not exist"),
            ("oracle,copy:2", "cannot copy itself"),
            ("copy:2,copy:1", "itself a copy"),
            ("oracle,copy:0", "does not exist"),
        ] {
            let error = resolve_policies(&parse(bad)).expect_err(bad).to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        assert!(resolve_policies(&[]).is_err());
    }

    #[test]
    fn miners_get_distinct_affine_models_weights_and_chutes() {
        let a = dev_miner(1, &Policy::Oracle);
        let b = dev_miner(3, &Policy::Copy(1));
        assert_eq!(a.model, "devnet/Affine-1-oracle");
        assert_eq!(b.model, "devnet/Affine-3-copy-1");
        assert_eq!(a.revision.len(), 40);
        assert_ne!(a.chute_id, b.chute_id);
        assert_ne!(hub_repo(&a).files[1].content, hub_repo(&b).files[1].content);
        assert_eq!(a.slug, "devnet-devnet-affine-1-oracle");
    }
}
