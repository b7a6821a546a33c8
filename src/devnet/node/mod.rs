//! A subtensor-compatible node: finney's real runtime metadata served over WebSocket JSON-RPC,
//! storage in memory, signature- and nonce-checked extrinsics, blocks on a timer.
//!
//! What it serves: the legacy RPC methods subxt's `LegacyBackend` uses and the standard
//! Substrate surface other clients call (see [`rpc`]); `Metadata_metadata_at_version` for
//! V14, V15 and V16 ([`metadata`]). Submitted extrinsics are decoded with finney's transaction
//! extensions and their sr25519 signatures and nonces checked; the next block applies weight
//! calls (`set_weights`, `set_mechanism_weights`, `commit_timelocked_mechanism_weights`) with
//! subtensor's registration, commit-reveal and version-key rules and `LastUpdate`, and
//! `Commitments.set_commitment` with its space rule. Timelocked weights and commitment
//! fields are revealed with the node's drand beacon once their round is due. Each block
//! records its extrinsics and `System.Events`.
//!
//! Storage keys are built the way FRAME builds them, with the hashers the metadata names, so
//! any client reads it unchanged.

pub mod chain;
pub mod keys;
pub mod metadata;
pub mod rpc;
pub mod snapshot;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use subxt::ext::codec::{Decode as _, Encode as _};

use chain::Chain;
pub use chain::{AppliedWeights, RevealedWeights, WeightsCallSeen};
pub use metadata::RuntimeMetadataSet;
use rpc::Shared;
pub use snapshot::ChainSnapshot;

use crate::chain::timelock::{BeaconPublicKey, TestBeacon};

/// The seed of the devnet's drand beacon: fixed, so a restarted devnet reveals what was
/// committed before it stopped.
pub const BEACON_SEED: &[u8] = b"af devnet drand beacon";

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where to listen (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Time between blocks.
    pub block_time: Duration,
    /// Blocks after genesis at start (ignored when `snapshot` is given).
    pub initial_blocks: u64,
    /// The runtime (default finney).
    pub metadata: Arc<RuntimeMetadataSet>,
    /// State to resume from.
    pub snapshot: Option<ChainSnapshot>,
    /// The drand beacon's seed.
    pub beacon_seed: Vec<u8>,
}

impl NodeConfig {
    /// A node on 127.0.0.1 (free port) with finney's runtime, `initial_blocks` blocks and a
    /// block every `block_time`.
    #[must_use]
    pub fn loopback(initial_blocks: u64, block_time: Duration) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            block_time,
            initial_blocks,
            metadata: Arc::new(RuntimeMetadataSet::finney()),
            snapshot: None,
            beacon_seed: BEACON_SEED.to_vec(),
        }
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The saved state does not restore.
    #[error("saved chain state is corrupt: {0}")]
    Snapshot(String),
}

/// A running node; stops its server and block producer on drop.
pub struct Node {
    url: String,
    address: SocketAddr,
    chain: Shared,
    handle: Option<ServerHandle>,
    producer: tokio::task::JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.producer.abort();
        if let Some(handle) = self.handle.take() {
            let _ = handle.stop();
        }
    }
}

fn lock(chain: &Shared) -> std::sync::MutexGuard<'_, Chain> {
    chain.lock().expect("the chain lock is never held across a panic")
}

impl Node {
    /// Starts a node; returns once it accepts connections.
    ///
    /// # Errors
    /// The listen address cannot be bound, or the snapshot does not restore.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let mut chain = Chain::new(config.metadata.clone(), config.initial_blocks, TestBeacon::from_seed(&config.beacon_seed));
        if let Some(snapshot) = &config.snapshot {
            snapshot.restore(&mut chain).map_err(NodeError::Snapshot)?;
        }
        let chain: Shared = Arc::new(Mutex::new(chain));
        let server = Server::builder()
            .set_config(ServerConfig::builder().set_tcp_no_delay(true).max_connections(256).build())
            .build(config.listen)
            .await
            .map_err(|source| NodeError::Bind { address: config.listen, source })?;
        let address = server.local_addr().map_err(|source| NodeError::Bind { address: config.listen, source })?;
        let handle = server.start(rpc::module(chain.clone()));
        let ticking = chain.clone();
        let block_time = config.block_time;
        let producer = tokio::spawn(async move {
            let mut interval = tokio::time::interval(block_time);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let mut chain = lock(&ticking);
                if !chain.paused {
                    chain.produce_block();
                }
            }
        });
        // The listener is bound before `start`, so connections are accepted from here on.
        Ok(Self { url: format!("ws://{address}"), address, chain, handle: Some(handle), producer })
    }

    /// A loopback node with finney's runtime (see [`NodeConfig::loopback`]).
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_loopback(initial_blocks: u64, block_time: Duration) -> Result<Self, NodeError> {
        Self::start(NodeConfig::loopback(initial_blocks, block_time)).await
    }

    /// The WebSocket URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The best block number.
    #[must_use]
    pub fn best_block(&self) -> u64 {
        lock(&self.chain).best()
    }

    /// The chain state as it would be saved.
    #[must_use]
    pub fn snapshot(&self) -> ChainSnapshot {
        ChainSnapshot::capture(&lock(&self.chain))
    }

    /// Stops or restarts block production (`devnet_pause` / `devnet_resume`).
    pub fn set_paused(&self, paused: bool) {
        lock(&self.chain).paused = paused;
    }

    /// Produces `count` blocks at once (`devnet_mine`); returns the new best block.
    #[must_use = "the new best block"]
    pub fn mine(&self, count: u64) -> u64 {
        let mut chain = lock(&self.chain);
        for _ in 0..count {
            chain.produce_block();
        }
        chain.best()
    }

    /// Registers neurons on `netuid`: `(hotkey, last_update, validator_permit)` by uid (each
    /// hotkey its own coldkey).
    pub fn set_neurons(&self, netuid: u16, neurons: &[([u8; 32], u64, bool)]) {
        let full: Vec<_> = neurons.iter().map(|(hotkey, last, permit)| (*hotkey, *hotkey, *last, *permit)).collect();
        lock(&self.chain).set_neurons(netuid, &full);
    }

    /// Registers neurons on `netuid`: `(hotkey, coldkey, last_update, validator_permit)` by uid.
    pub fn set_neurons_with_coldkeys(&self, netuid: u16, neurons: &[([u8; 32], [u8; 32], u64, bool)]) {
        lock(&self.chain).set_neurons(netuid, neurons);
    }

    /// The public key of the node's drand beacon.
    #[must_use]
    pub fn beacon_public_key(&self) -> BeaconPublicKey {
        lock(&self.chain).beacon.public_key()
    }

    /// The public key of the node's drand beacon as hex (what `AF_DRAND_PUBLIC_KEY` takes).
    #[must_use]
    pub fn beacon_public_key_hex(&self) -> String {
        hex::encode(self.beacon_public_key().to_bytes())
    }

    /// Fails the next dispatched call with `pallet::error` (a module error of the runtime, e.g.
    /// `("Commitments", "SpaceLimitExceeded")`): fault injection for tests.
    pub fn fail_next_call(&self, pallet: &'static str, error: &'static str) {
        lock(&self.chain).forced_failures.push_back((pallet, error));
    }

    /// Sets `Commitments.MaxSpace` (bytes of commitments per hotkey and epoch).
    pub fn set_max_space(&self, bytes: u32) {
        lock(&self.chain).put("Commitments", "MaxSpace", &[], bytes.encode());
    }

    /// Weight calls the node has included (the last thousand).
    #[must_use]
    pub fn applied_weights(&self) -> Vec<AppliedWeights> {
        lock(&self.chain).applied.iter().cloned().collect()
    }

    /// Timelocked weight commits the node has revealed (the last thousand).
    #[must_use]
    pub fn revealed_weights(&self) -> Vec<RevealedWeights> {
        lock(&self.chain).revealed_weights.iter().cloned().collect()
    }

    /// `Weights` of `netuid`: each uid's `(uid, u16 weight)` pairs.
    #[must_use]
    pub fn weights(&self, netuid: u16) -> BTreeMap<u16, Vec<(u16, u16)>> {
        let chain = lock(&self.chain);
        let Some(prefix) = chain.layout.key("SubtensorModule", "Weights", &[&netuid.encode()]) else { return BTreeMap::new() };
        chain
            .storage
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter_map(|(key, value)| {
                let uid = u16::decode(&mut key.get(prefix.len()..)?).ok()?;
                Some((uid, Vec::<(u16, u16)>::decode(&mut value.as_slice()).ok()?))
            })
            .collect()
    }

    /// Lets the beacon run `rounds` drand rounds ahead of wall-clock quicknet time (default
    /// 20), so timelocked data aimed a few epochs ahead reveals sooner.
    pub fn set_drand_lead_rounds(&self, rounds: u64) {
        lock(&self.chain).drand_lead_rounds = rounds;
    }

    /// Refuses the next `count` submissions at the pool (`author_submitExtrinsic` answers an
    /// RPC error, as a node does for a transaction it will not pool): fault injection.
    pub fn refuse_next_submissions(&self, count: u32) {
        lock(&self.chain).refuse_submissions = count;
    }

    /// `LastUpdate` of `netuid`.
    #[must_use]
    pub fn last_update(&self, netuid: u16) -> Vec<u64> {
        lock(&self.chain).by_netuid::<Vec<u64>>("LastUpdate", netuid).unwrap_or_default()
    }

    /// Sets `Tempo`, `WeightsVersionKey` and `CommitRevealWeightsEnabled` of `netuid`.
    pub fn set_subnet_params(&self, netuid: u16, tempo: u16, weights_version_key: u64, commit_reveal_enabled: bool) {
        let mut chain = lock(&self.chain);
        let key = netuid.encode();
        chain.put("SubtensorModule", "Tempo", &[&key], tempo.encode());
        chain.put("SubtensorModule", "WeightsVersionKey", &[&key], weights_version_key.encode());
        chain.put("SubtensorModule", "CommitRevealWeightsEnabled", &[&key], commit_reveal_enabled.encode());
    }

    /// Sets `WeightsSetRateLimit` of `netuid` (blocks between weight updates; default 100).
    pub fn set_weights_rate_limit(&self, netuid: u16, blocks: u64) {
        lock(&self.chain).put("SubtensorModule", "WeightsSetRateLimit", &[&netuid.encode()], blocks.encode());
    }

    /// Appends a revealed commitment (the SCALE-encoded text, as the chain stores it) for
    /// `hotkey` at `block`.
    pub fn push_revealed_commitment(&self, netuid: u16, hotkey: [u8; 32], text: &str, block: u64) {
        lock(&self.chain).push_revealed_commitment(netuid, hotkey, text.to_owned().encode(), block);
    }
}
