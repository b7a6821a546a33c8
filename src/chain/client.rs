//! The subtensor client: subxt's dynamic API over an explicit legacy RPC backend.
//!
//! Dynamic only (no generated code): finney upgrades its runtime often, and the dynamic API
//! keeps working as long as the storage items `af` reads keep their names and shapes. The
//! legacy backend (`chain_*`, `state_*`, `author_*` RPCs) is what Python's substrate client
//! uses too, and every full node serves it.
//!
//! Like the original `SubtensorWrapper`, a failed call reconnects (the primary endpoint, then
//! the fallback) and is tried once more; every call runs under a deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use subxt::OnlineClient;
use subxt::backend::LegacyBackend;
use subxt::config::RpcConfigFor;
use subxt::config::substrate::SubstrateConfig;
use subxt::dynamic;
use subxt::rpcs::client::RpcClient;
use subxt::rpcs::methods::LegacyRpcMethods;
use tokio::sync::Mutex;

use super::signing::PublicKey;
use super::{Error, scale};

/// The public finney entry point (`SUBTENSOR_ENDPOINT=finney`).
pub const FINNEY_URL: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// The public testnet entry point (`SUBTENSOR_ENDPOINT=test`).
pub const TEST_URL: &str = "wss://test.finney.opentensor.ai:443";
/// A local node (`SUBTENSOR_ENDPOINT=local`).
pub const LOCAL_URL: &str = "ws://127.0.0.1:9944";
/// The original's fallback endpoint (`SUBTENSOR_FALLBACK`).
pub const DEFAULT_FALLBACK_URL: &str = "wss://lite.sub.latent.to:443";

/// Turns a network name (`finney`, `test`, `local`) or a `ws://`/`wss://` URL into a URL.
///
/// # Errors
/// [`Error::InvalidEndpoint`] for anything else.
pub fn resolve_endpoint(name_or_url: &str) -> Result<String, Error> {
    match name_or_url.trim() {
        "finney" => Ok(FINNEY_URL.to_owned()),
        "test" => Ok(TEST_URL.to_owned()),
        "local" => Ok(LOCAL_URL.to_owned()),
        url if url.starts_with("ws://") || url.starts_with("wss://") => Ok(url.to_owned()),
        other => Err(Error::InvalidEndpoint { endpoint: other.to_owned() }),
    }
}

/// Where to connect and how long a call may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// The primary endpoint URL.
    pub endpoint: String,
    /// Tried when the primary fails.
    pub fallback: Option<String>,
    /// Deadline of one call (connecting, or one logical read).
    pub timeout: Duration,
}

pub(super) struct Connection {
    pub(super) client: OnlineClient<SubstrateConfig>,
    pub(super) rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
    pub(super) endpoint: String,
}

/// A connection to a subtensor node.
pub struct ChainClient {
    config: ChainConfig,
    connection: Mutex<Arc<Connection>>,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient").field("endpoint", &self.config.endpoint).finish_non_exhaustive()
    }
}

/// One uid's row of the metagraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neuron {
    /// The uid.
    pub uid: u16,
    /// Its hotkey.
    pub hotkey: PublicKey,
    /// Block of its last weight set or commit (`LastUpdate`).
    pub last_update: u64,
    /// Whether it holds a validator permit.
    pub validator_permit: bool,
}

/// A subnet's metagraph read at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metagraph {
    /// The netuid.
    pub netuid: u16,
    /// The block every value was read at.
    pub block: u64,
    /// Neurons in uid order (`SubnetworkN` of them).
    pub neurons: Vec<Neuron>,
}

/// A subnet's weight-setting parameters, read at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetParams {
    /// The block they were read at.
    pub block: u64,
    /// `Tempo` (blocks per epoch; storage default 360).
    pub tempo: u16,
    /// `WeightsVersionKey` (the chain accepts `version_key >=` this, or anything when 0).
    pub weights_version_key: u64,
    /// `CommitRevealWeightsEnabled` (storage default true): weights go through timelocked
    /// commits instead of `set_mechanism_weights`.
    pub commit_reveal_enabled: bool,
    /// `RevealPeriodEpochs` (storage default 1).
    pub reveal_period_epochs: u64,
    /// `WeightsSetRateLimit` in blocks (storage default 100).
    pub weights_rate_limit: u64,
}

/// One revealed commitment: the block the chain revealed it at and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedCommitment {
    /// The reveal block.
    pub block: u64,
    /// The revealed text (SCALE prefix removed, invalid UTF-8 dropped as Python's
    /// `errors="ignore"`).
    pub text: String,
}

fn chain_error(what: &'static str, endpoint: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Rpc { what, endpoint: endpoint.to_owned(), source: Box::new(error) }
}

/// Classifies a subxt storage error: an unknown pallet or item means the node runs a runtime
/// `af` does not know, not a network problem.
fn storage_error(what: &'static str, endpoint: &str, error: subxt::error::StorageError) -> Error {
    use subxt::error::StorageError;
    use subxt::ext::frame_decode::storage::StorageInfoError;
    match error {
        StorageError::StorageInfoError(StorageInfoError::PalletNotFound { pallet_name }) => {
            Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: pallet_name }
        }
        StorageError::StorageInfoError(StorageInfoError::StorageNotFound { name, pallet_name }) => {
            Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: format!("{pallet_name}.{name}") }
        }
        StorageError::PalletNameNotFound(pallet) => Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: pallet },
        StorageError::StorageEntryNotFound { pallet_name, entry_name } => {
            Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: format!("{pallet_name}.{entry_name}") }
        }
        other => chain_error(what, endpoint, other),
    }
}

/// Classifies a subxt extrinsic-building error: an unknown pallet or call means the node runs
/// a runtime `af` does not know.
pub(super) fn extrinsic_error(what: &'static str, endpoint: &str, error: subxt::error::ExtrinsicError) -> Error {
    use subxt::error::ExtrinsicError;
    use subxt::ext::frame_decode::extrinsics::{ExtrinsicEncodeError, ExtrinsicInfoError};
    match error {
        ExtrinsicError::EncodeError(ExtrinsicEncodeError::CannotGetInfo(ExtrinsicInfoError::PalletNotFoundByName { name })) => {
            Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: name.into_owned() }
        }
        ExtrinsicError::EncodeError(ExtrinsicEncodeError::CannotGetInfo(ExtrinsicInfoError::CallNotFoundByName {
            call_name,
            pallet_name,
            ..
        })) => Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: format!("{pallet_name}.{call_name}") },
        ExtrinsicError::PalletNameNotFound(pallet) => Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: pallet },
        ExtrinsicError::CallNameNotFound { pallet_name, call_name } => {
            Error::UnexpectedMetadata { endpoint: endpoint.to_owned(), item: format!("{pallet_name}.{call_name}") }
        }
        other => chain_error(what, endpoint, other),
    }
}

async fn connect_to(url: &str) -> Result<Connection, Error> {
    let rpc_client =
        RpcClient::from_insecure_url(url).await.map_err(|error| Error::Connect { endpoint: url.to_owned(), source: Box::new(error) })?;
    let backend = LegacyBackend::<SubstrateConfig>::builder().build(rpc_client.clone());
    let client = OnlineClient::<SubstrateConfig>::from_backend(Arc::new(backend))
        .await
        .map_err(|error| Error::Connect { endpoint: url.to_owned(), source: Box::new(error) })?;
    Ok(Connection { client, rpc: LegacyRpcMethods::new(rpc_client), endpoint: url.to_owned() })
}

impl ChainClient {
    /// Connects to the primary endpoint, else the fallback.
    ///
    /// # Errors
    /// [`Error::Connect`] or [`Error::Timeout`] when neither endpoint answers.
    pub async fn connect(config: ChainConfig) -> Result<Self, Error> {
        let connection = Self::open(&config).await?;
        Ok(Self { config, connection: Mutex::new(Arc::new(connection)) })
    }

    async fn open(config: &ChainConfig) -> Result<Connection, Error> {
        let mut last_error = None;
        for url in std::iter::once(&config.endpoint).chain(config.fallback.as_ref()) {
            match tokio::time::timeout(config.timeout, connect_to(url)).await {
                Ok(Ok(connection)) => {
                    tracing::info!(endpoint = %url, "connected to subtensor");
                    return Ok(connection);
                }
                Ok(Err(error)) => {
                    tracing::debug!(endpoint = %url, %error, "subtensor connection failed");
                    last_error = Some(error);
                }
                Err(_) => {
                    tracing::debug!(endpoint = %url, "subtensor connection timed out");
                    last_error = Some(Error::Timeout { what: "connecting", endpoint: url.clone() });
                }
            }
        }
        Err(last_error.expect("the primary endpoint is always tried"))
    }

    /// Runs `call` under the deadline; on failure reconnects and runs it once more.
    pub(super) async fn call<T, F, Fut>(&self, what: &'static str, call: F) -> Result<T, Error>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let connection = self.connection.lock().await.clone();
        let first = match tokio::time::timeout(self.config.timeout, call(connection.clone())).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) if !error.is_transient() => return Err(error),
            Ok(Err(error)) => error,
            Err(_) => Error::Timeout { what, endpoint: connection.endpoint.clone() },
        };
        tracing::debug!(error = %first, "subtensor call failed; reconnecting and retrying once");
        let fresh = Arc::new(Self::open(&self.config).await?);
        *self.connection.lock().await = fresh.clone();
        match tokio::time::timeout(self.config.timeout, call(fresh.clone())).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { what, endpoint: fresh.endpoint.clone() }),
        }
    }

    /// The best block number (`chain_getHeader` without a hash), as the original's
    /// `get_current_block`.
    ///
    /// # Errors
    /// Transport failures after the retry, or a node without a best header.
    pub async fn best_block(&self) -> Result<u64, Error> {
        self.call("reading the best block", |connection| async move {
            let header = connection
                .rpc
                .chain_get_header(None)
                .await
                .map_err(|error| chain_error("reading the best block", &connection.endpoint, error))?;
            header.map(|header| header.number).ok_or_else(|| Error::Rpc {
                what: "reading the best block",
                endpoint: connection.endpoint.clone(),
                source: "the node returned no header".into(),
            })
        })
        .await
    }

    /// Waits for the next best block (a `chain_subscribeNewHeads` subscription) and returns
    /// its number, as the original's `wait_for_block`.
    ///
    /// # Errors
    /// Transport failures after the retry, or no new block within the deadline.
    pub async fn wait_for_next_block(&self) -> Result<u64, Error> {
        self.call("waiting for the next block", |connection| async move {
            const WHAT: &str = "waiting for the next block";
            let mut heads =
                connection.rpc.chain_subscribe_new_heads().await.map_err(|error| chain_error(WHAT, &connection.endpoint, error))?;
            let current = connection
                .rpc
                .chain_get_header(None)
                .await
                .map_err(|error| chain_error(WHAT, &connection.endpoint, error))?
                .map_or(0, |header| header.number);
            // A node may first repeat its current head: wait for a higher one.
            loop {
                match heads.next().await {
                    Some(Ok(header)) if header.number > current => return Ok(header.number),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(chain_error(WHAT, &connection.endpoint, error)),
                    None => {
                        return Err(Error::Rpc {
                            what: WHAT,
                            endpoint: connection.endpoint.clone(),
                            source: "the new-heads subscription ended".into(),
                        });
                    }
                }
            }
        })
        .await
    }

    /// The weight-setting parameters of `netuid` at the latest finalized block.
    ///
    /// # Errors
    /// Transport failures after the retry, or a node whose metadata lacks these items.
    pub async fn subnet_params(&self, netuid: u16) -> Result<SubnetParams, Error> {
        self.call("reading subnet parameters", |connection| async move { read_subnet_params(&connection, netuid).await }).await
    }

    /// The metagraph of `netuid` (hotkeys by uid, `LastUpdate`, `ValidatorPermit`), every
    /// value read at the latest finalized block.
    ///
    /// # Errors
    /// Transport failures after the retry, or a node whose metadata lacks these items.
    pub async fn metagraph(&self, netuid: u16) -> Result<Metagraph, Error> {
        self.call("reading the metagraph", |connection| async move { read_metagraph(&connection, netuid).await }).await
    }

    /// Every revealed commitment on `netuid`, per hotkey, oldest first (the original reads the
    /// last one), read at the latest finalized block.
    ///
    /// # Errors
    /// Transport failures after the retry, or a node whose metadata lacks the item.
    pub async fn revealed_commitments(&self, netuid: u16) -> Result<BTreeMap<PublicKey, Vec<RevealedCommitment>>, Error> {
        self.call("reading revealed commitments", |connection| async move { read_revealed(&connection, netuid).await }).await
    }
}

async fn read_metagraph(connection: &Connection, netuid: u16) -> Result<Metagraph, Error> {
    const WHAT: &str = "reading the metagraph";
    let endpoint = &connection.endpoint;
    let at = connection.client.at_current_block().await.map_err(|error| chain_error(WHAT, endpoint, error))?;
    let block = at.block_number();
    let storage = at.storage();
    let count: u16 = storage
        .fetch(dynamic::storage::<(u16,), u16>("SubtensorModule", "SubnetworkN"), (netuid,))
        .await
        .map_err(|error| storage_error(WHAT, endpoint, error))?
        .decode()
        .map_err(|error| chain_error(WHAT, endpoint, error))?;
    let last_update: Vec<u64> = storage
        .fetch(dynamic::storage::<(u16,), Vec<u64>>("SubtensorModule", "LastUpdate"), (netuid,))
        .await
        .map_err(|error| storage_error(WHAT, endpoint, error))?
        .decode()
        .map_err(|error| chain_error(WHAT, endpoint, error))?;
    let permits: Vec<bool> = storage
        .fetch(dynamic::storage::<(u16,), Vec<bool>>("SubtensorModule", "ValidatorPermit"), (netuid,))
        .await
        .map_err(|error| storage_error(WHAT, endpoint, error))?
        .decode()
        .map_err(|error| chain_error(WHAT, endpoint, error))?;
    // Keys is a ValueQuery: a uid without an entry has the all-zero account, as the original.
    let mut hotkeys = vec![PublicKey([0; 32]); usize::from(count)];
    let mut entries = storage
        .iter(dynamic::storage::<(u16, u16), [u8; 32]>("SubtensorModule", "Keys"), (netuid,))
        .await
        .map_err(|error| storage_error(WHAT, endpoint, error))?;
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(|error| storage_error(WHAT, endpoint, error))?;
        let (_, uid) = entry.key().and_then(|key| key.decode()).map_err(|error| chain_error(WHAT, endpoint, error))?;
        let hotkey = entry.value().decode().map_err(|error| chain_error(WHAT, endpoint, error))?;
        if let Some(slot) = hotkeys.get_mut(usize::from(uid)) {
            *slot = PublicKey(hotkey);
        }
    }
    let neurons = (0..count)
        .zip(hotkeys)
        .map(|(uid, hotkey)| Neuron {
            uid,
            hotkey,
            last_update: last_update.get(usize::from(uid)).copied().unwrap_or(0),
            validator_permit: permits.get(usize::from(uid)).copied().unwrap_or(false),
        })
        .collect();
    Ok(Metagraph { netuid, block, neurons })
}

/// Reads one storage value keyed by the netuid (its default when unset).
async fn fetch_by_netuid<V>(
    at: &subxt::client::ClientAtBlock<SubstrateConfig, subxt::client::OnlineClientAtBlockImpl<SubstrateConfig>>,
    endpoint: &str,
    item: &'static str,
    netuid: u16,
) -> Result<V, Error>
where
    V: subxt::ext::scale_decode::DecodeAsType + 'static,
{
    const WHAT: &str = "reading subnet parameters";
    at.storage()
        .fetch(dynamic::storage::<(u16,), V>("SubtensorModule", item), (netuid,))
        .await
        .map_err(|error| storage_error(WHAT, endpoint, error))?
        .decode()
        .map_err(|error| chain_error(WHAT, endpoint, error))
}

async fn read_subnet_params(connection: &Connection, netuid: u16) -> Result<SubnetParams, Error> {
    let endpoint = &connection.endpoint;
    let at = connection.client.at_current_block().await.map_err(|error| chain_error("reading subnet parameters", endpoint, error))?;
    Ok(SubnetParams {
        block: at.block_number(),
        tempo: fetch_by_netuid(&at, endpoint, "Tempo", netuid).await?,
        weights_version_key: fetch_by_netuid(&at, endpoint, "WeightsVersionKey", netuid).await?,
        commit_reveal_enabled: fetch_by_netuid(&at, endpoint, "CommitRevealWeightsEnabled", netuid).await?,
        reveal_period_epochs: fetch_by_netuid(&at, endpoint, "RevealPeriodEpochs", netuid).await?,
        weights_rate_limit: fetch_by_netuid(&at, endpoint, "WeightsSetRateLimit", netuid).await?,
    })
}

async fn read_revealed(connection: &Connection, netuid: u16) -> Result<BTreeMap<PublicKey, Vec<RevealedCommitment>>, Error> {
    const WHAT: &str = "reading revealed commitments";
    let endpoint = &connection.endpoint;
    let at = connection.client.at_current_block().await.map_err(|error| chain_error(WHAT, endpoint, error))?;
    let mut entries = at
        .storage()
        .iter(dynamic::storage::<(u16, [u8; 32]), Vec<(Vec<u8>, u64)>>("Commitments", "RevealedCommitments"), (netuid,))
        .await
        .map_err(|error| storage_error(WHAT, endpoint, error))?;
    let mut revealed = BTreeMap::new();
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(|error| storage_error(WHAT, endpoint, error))?;
        let (_, hotkey) = entry.key().and_then(|key| key.decode()).map_err(|error| chain_error(WHAT, endpoint, error))?;
        let list: Vec<(Vec<u8>, u64)> = entry.value().decode().map_err(|error| chain_error(WHAT, endpoint, error))?;
        let commitments = list
            .into_iter()
            .map(|(bytes, block)| RevealedCommitment { block, text: utf8_ignoring_errors(scale::strip_compact_prefix(&bytes)) })
            .collect();
        revealed.insert(PublicKey(hotkey), commitments);
    }
    Ok(revealed)
}

/// Python's `bytes.decode("utf-8", errors="ignore")`: invalid sequences are dropped.
fn utf8_ignoring_errors(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\u{FFFD}', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_endpoint_knows_network_names_and_urls() {
        assert_eq!(resolve_endpoint("finney").expect("known"), FINNEY_URL);
        assert_eq!(resolve_endpoint("ws://127.0.0.1:1234").expect("url"), "ws://127.0.0.1:1234");
        assert!(matches!(resolve_endpoint("http://x"), Err(Error::InvalidEndpoint { .. })));
    }

    #[test]
    fn utf8_ignoring_errors_drops_invalid_bytes() {
        assert_eq!(utf8_ignoring_errors(b"a\xffb"), "ab");
    }
}
