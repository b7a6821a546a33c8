//! A local subtensor-compatible node for tests: the real finney metadata
//! (`src/devnet/finney.scale`) served over a loopback WebSocket with the legacy RPC
//! methods subxt's `LegacyBackend` uses, storage kept in memory and blocks produced on a timer.
//!
//! Served: `chain_getBlockHash`, `chain_getFinalizedHead`, `chain_getHeader`,
//! `state_call` (`Core_version`, `Metadata_metadata_versions`, `Metadata_metadata_at_version`),
//! `state_getStorage`, `state_getKeysPaged`, `state_queryStorageAt`, and the
//! `chain_subscribeNewHeads` subscription. Storage keys are built the
//! way FRAME builds them (twox128 of pallet and item, then each key with its hasher), so the
//! production client reads it unchanged.
//!
//! Submission: `author_submitExtrinsic` decodes signed v4 extrinsics with finney's transaction
//! extensions, rebuilds the signer payload and checks the sr25519 signature and nonce
//! (`system_accountNextIndex`, `AccountNonceApi_account_nonce`); the next block applies weight
//! calls (`set_mechanism_weights`, `commit_timelocked_mechanism_weights`): registration,
//! commit-reveal mode and version-key checks, then `LastUpdate` of the signer's uid; plain
//! weights are written to `Weights` at once, timelocked ones are revealed as subtensor does
//! (from their reveal epoch, with the beacon's pulse for their round: decrypted, decoded as
//! `WeightsTlockPayload`, hotkey and version checked, then written to `Weights`).
//! `refuse_next_submissions` makes the pool refuse submissions with an RPC error.
//! `author_submitAndWatchExtrinsic` reports `ready`, `inBlock` and `finalized`; each block
//! records its extrinsics (`chain_getBlock`) and `System.Events` (`ExtrinsicSuccess` or
//! `ExtrinsicFailed` with the pallet's own error index, encoded against finney's types).
//! `Commitments.set_commitment` checks registration and per-epoch space (`MaxSpace`), and
//! timelocked fields are revealed into `RevealedCommitments` with a test drand beacon's
//! signatures once their round is due.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonrpsee::RpcModule;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{Value, json};
use subxt::ext::codec::{Compact, Encode};

/// Finney's genesis hash: block 0 of the fake chain.
const FINNEY_GENESIS: &str = "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";
/// The spec and transaction versions of the metadata in finney.scale.
const SPEC_VERSION: u32 = 393;
const TRANSACTION_VERSION: u32 = 1;

struct Chain {
    metadata: Vec<u8>,
    /// Block hashes by number.
    blocks: Vec<[u8; 32]>,
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// New best block numbers, for `chain_subscribeNewHeads`.
    heads: tokio::sync::broadcast::Sender<u64>,
    /// Next nonce per account.
    nonces: BTreeMap<[u8; 32], u64>,
    /// Verified extrinsics waiting for the next block (with a watcher to tell the inclusion
    /// block to, for `author_submitAndWatchExtrinsic`).
    pool: Vec<(Extrinsic, Option<tokio::sync::oneshot::Sender<u64>>)>,
    /// Decoded metadata, to encode events and find error indices.
    decoded: subxt::metadata::Metadata,
    /// Extrinsics and encoded `System.Events` of each block.
    block_extrinsics: BTreeMap<u64, Vec<Vec<u8>>>,
    block_events: BTreeMap<u64, Vec<u8>>,
    /// Timelocked commitments waiting for their drand round: (netuid, hotkey, ciphertext, round).
    pending_reveals: Vec<(u16, [u8; 32], Vec<u8>, u64)>,
    /// Commitment space used per (netuid, hotkey): (epoch, bytes).
    used_space: BTreeMap<(u16, [u8; 32]), (u64, u64)>,
    /// The test drand beacon whose pulses reveal commitments.
    beacon: affine::chain::timelock::TestBeacon,
    /// Module errors to fail the next dispatched calls with, in order.
    forced_failures: std::collections::VecDeque<(&'static str, &'static str)>,
    /// Weight calls applied, oldest first.
    applied: Vec<AppliedWeights>,
    /// Timelocked weight commits waiting for their reveal epoch and drand round.
    pending_weights: Vec<PendingWeights>,
    /// Timelocked weight commits revealed (or dropped), oldest first.
    revealed_weights: Vec<RevealedWeights>,
    /// How many drand rounds the test beacon runs ahead of wall-clock quicknet time.
    drand_lead_rounds: u64,
    /// Submissions still to refuse at the pool (`author_submitExtrinsic`).
    refuse_submissions: u32,
}

/// A `commit_timelocked_mechanism_weights` the node accepted.
#[derive(Debug, Clone)]
struct PendingWeights {
    netuid: u16,
    committer: [u8; 32],
    commit: Vec<u8>,
    reveal_round: u64,
    /// The subnet epoch at whose start the chain reveals it.
    reveal_epoch: u64,
}

/// A timelocked weight commit the node revealed: decrypted with its beacon's pulse for the
/// reveal round, decoded as bittensor's `WeightsTlockPayload`, checked and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedWeights {
    /// Block it was revealed in.
    pub block: u64,
    /// The committing hotkey.
    pub hotkey: [u8; 32],
    /// The subnet.
    pub netuid: u16,
    /// The decrypted uids and u16 values (empty when decryption failed).
    pub uids: Vec<u16>,
    /// The decrypted values.
    pub weights: Vec<u16>,
    /// The payload's version key.
    pub version_key: u64,
    /// `None` when the weights were written, else why they were dropped.
    pub error: Option<&'static str>,
}

/// A decoded, signature-checked extrinsic.
#[derive(Debug, Clone)]
struct Extrinsic {
    signer: [u8; 32],
    call: Vec<u8>,
    bytes: Vec<u8>,
}

/// How a dispatched call ended: `Ok`, or the pallet and error names of a module error.
type Outcome = Result<(), (&'static str, &'static str)>;

/// A weights call the node applied (or refused, with the pallet error's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedWeights {
    /// Block it was included in.
    pub block: u64,
    /// The signing hotkey.
    pub hotkey: [u8; 32],
    /// The netuid argument.
    pub netuid: u16,
    /// `set_mechanism_weights` (plain) or `commit_timelocked_mechanism_weights`.
    pub call: WeightsCallSeen,
    /// `None` when applied, else the error the chain would emit.
    pub error: Option<&'static str>,
}

/// The weights payload as the node decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsCallSeen {
    /// `set_mechanism_weights(netuid, mecid, dests, weights, version_key)`.
    Plain { mecid: u8, uids: Vec<u16>, weights: Vec<u16>, version_key: u64 },
    /// `commit_timelocked_mechanism_weights(netuid, mecid, commit, reveal_round, version)`.
    Timelocked { mecid: u8, commit: Vec<u8>, reveal_round: u64, commit_reveal_version: u16 },
}

type Shared = Arc<Mutex<Chain>>;

/// The running node; stops its server and block producer on drop.
pub struct FakeSubtensor {
    url: String,
    chain: Shared,
    handle: Option<ServerHandle>,
    producer: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSubtensor {
    fn drop(&mut self) {
        self.producer.abort();
        if let Some(handle) = self.handle.take() {
            let _ = handle.stop();
        }
    }
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn rpc_error(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, message.into(), None::<()>)
}

fn parse_hex(value: &Value) -> Result<Vec<u8>, ErrorObjectOwned> {
    let text = value.as_str().ok_or_else(|| rpc_error("expected a hex string"))?;
    hex::decode(text.trim_start_matches("0x")).map_err(|_| rpc_error("invalid hex"))
}

fn params_list(params: &Params<'_>) -> Vec<Value> {
    params.parse::<Vec<Value>>().unwrap_or_default()
}

/// finney's metadata as the file holds it.
pub fn finney_metadata() -> Vec<u8> {
    include_bytes!("../../../src/devnet/finney.scale").to_vec()
}

/// finney's metadata without pallet `name`: a node running a runtime `af` does not expect.
pub fn finney_metadata_without_pallet(name: &str) -> Vec<u8> {
    use subxt::ext::codec::Decode as _;
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut finney_metadata().as_slice()).expect("finney.scale decodes");
    let RuntimeMetadata::V16(metadata) = &mut prefixed.1 else { panic!("finney.scale is V16 metadata") };
    let before = metadata.pallets.len();
    metadata.pallets.retain(|pallet| pallet.name != name);
    assert_eq!(metadata.pallets.len(), before - 1, "finney has pallet {name}");
    prefixed.encode()
}

/// `twox128(pallet) ++ twox128(item)`.
pub fn storage_prefix(pallet: &str, item: &str) -> Vec<u8> {
    [sp_crypto_hashing::twox_128(pallet.as_bytes()), sp_crypto_hashing::twox_128(item.as_bytes())].concat()
}

/// `Twox64Concat` of an encoded key.
fn twox64_concat(key: &[u8]) -> Vec<u8> {
    [sp_crypto_hashing::twox_64(key).as_slice(), key].concat()
}

fn block_hash(number: u64) -> [u8; 32] {
    if number == 0 {
        return hex::decode(FINNEY_GENESIS).expect("hex").try_into().expect("32 bytes");
    }
    sp_crypto_hashing::blake2_256(&number.to_le_bytes())
}

fn header_json(number: u64) -> Value {
    let parent = if number == 0 { [0; 32] } else { block_hash(number - 1) };
    json!({
        "parentHash": hex0x(&parent),
        "number": format!("0x{number:x}"),
        "stateRoot": hex0x(&[0; 32]),
        "extrinsicsRoot": hex0x(&[0; 32]),
        "digest": {"logs": []},
    })
}

fn runtime_version() -> Vec<u8> {
    let apis: Vec<([u8; 8], u32)> = Vec::new();
    ("node-subtensor", "node-subtensor", 1_u32, SPEC_VERSION, 1_u32, apis, TRANSACTION_VERSION, 1_u8).encode()
}

impl Chain {
    fn number_of(&self, hash: &[u8]) -> Option<u64> {
        self.blocks.iter().position(|h| h.as_slice() == hash).map(|n| n as u64)
    }

    fn best(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    /// The block a request is `at`: the given hash (which must exist) or the best block.
    fn at(&self, value: Option<&Value>) -> Result<u64, ErrorObjectOwned> {
        match value {
            None | Some(Value::Null) => Ok(self.best()),
            Some(hash) => self.number_of(&parse_hex(hash)?).ok_or_else(|| rpc_error("unknown block")),
        }
    }

    fn state_call(&self, method: &str, data: &[u8]) -> Result<Vec<u8>, ErrorObjectOwned> {
        match method {
            "Core_version" => Ok(runtime_version()),
            "Metadata_metadata_versions" => Ok(vec![16_u32].encode()),
            "AccountNonceApi_account_nonce" => {
                let account: [u8; 32] = data.try_into().map_err(|_| rpc_error("expected a 32-byte account"))?;
                Ok(u32::try_from(self.nonces.get(&account).copied().unwrap_or(0)).expect("small nonce").encode())
            }
            "Metadata_metadata_at_version" => {
                if data != 16_u32.encode().as_slice() {
                    return Ok(None::<Vec<u8>>.encode());
                }
                let mut out = vec![1_u8];
                Compact(u32::try_from(self.metadata.len()).expect("metadata fits u32")).encode_to(&mut out);
                out.extend_from_slice(&self.metadata);
                Ok(out)
            }
            other => Err(rpc_error(format!("runtime call {other} is not served by the fake node"))),
        }
    }
}

/// Reads a SCALE compact integer.
fn read_compact(input: &mut &[u8]) -> Result<u64, ErrorObjectOwned> {
    <Compact<u64> as subxt::ext::codec::Decode>::decode(input).map(|c| c.0).map_err(|_| rpc_error("bad compact"))
}

fn take<'a>(input: &mut &'a [u8], count: usize) -> Result<&'a [u8], ErrorObjectOwned> {
    if input.len() < count {
        return Err(rpc_error("truncated extrinsic"));
    }
    let (head, rest) = input.split_at(count);
    *input = rest;
    Ok(head)
}

/// The block a mortal era was born at, seen from block `current` (sp-runtime's `Era::birth`).
fn era_birth(era: &[u8], current: u64) -> u64 {
    if era == [0] {
        return 0;
    }
    let encoded = u64::from(u16::from_le_bytes([era[0], era[1]]));
    let period = 2_u64 << (encoded % 16);
    let quantize = (period >> 12).max(1);
    let phase = (encoded >> 4) * quantize;
    (current.max(phase) - phase) / period * period + phase
}

impl Chain {
    /// Decodes a signed v4 extrinsic with finney's extensions, rebuilds its signer payload and
    /// checks the sr25519 signature and the nonce, as a node's pool validation does.
    fn validate(&self, bytes: &[u8]) -> Result<(Extrinsic, u64), ErrorObjectOwned> {
        let mut input = bytes;
        let length = read_compact(&mut input)?;
        if usize::try_from(length).ok() != Some(input.len()) {
            return Err(rpc_error("length prefix does not match"));
        }
        if take(&mut input, 1)? != [0x84] {
            return Err(rpc_error("only signed v4 extrinsics are served"));
        }
        if take(&mut input, 1)? != [0x00] {
            return Err(rpc_error("address must be MultiAddress::Id"));
        }
        let signer: [u8; 32] = take(&mut input, 32)?.try_into().expect("32 bytes");
        if take(&mut input, 1)? != [0x01] {
            return Err(rpc_error("signature must be sr25519"));
        }
        let signature = take(&mut input, 64)?.to_vec();
        let explicit_start = input;
        let era = if input.first() == Some(&0) { take(&mut input, 1)? } else { take(&mut input, 2)? };
        let nonce = read_compact(&mut input)?;
        let _tip = read_compact(&mut input)?;
        let _metadata_hash_mode = take(&mut input, 1)?;
        let explicit = &explicit_start[..explicit_start.len() - input.len()];
        let call = input.to_vec();
        let birth = era_birth(era, self.best());
        let birth_hash = self.blocks.get(usize::try_from(birth).expect("small")).ok_or_else(|| rpc_error("era born in the future"))?;
        let mut payload = [call.as_slice(), explicit].concat();
        payload.extend_from_slice(&SPEC_VERSION.to_le_bytes());
        payload.extend_from_slice(&TRANSACTION_VERSION.to_le_bytes());
        payload.extend_from_slice(&self.blocks[0]);
        payload.extend_from_slice(birth_hash);
        payload.push(0); // CheckMetadataHash: no hash
        if payload.len() > 256 {
            payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
        }
        if !affine::chain::signing::verify(&affine::chain::signing::PublicKey(signer), &payload, &signature) {
            return Err(ErrorObjectOwned::owned(1010, "Invalid Transaction: bad signature", None::<()>));
        }
        let expected = self.nonces.get(&signer).copied().unwrap_or(0) + self.pool.iter().filter(|x| x.0.signer == signer).count() as u64;
        if nonce < expected {
            return Err(ErrorObjectOwned::owned(1010, "Invalid Transaction: stale nonce", None::<()>));
        }
        Ok((Extrinsic { signer, call, bytes: bytes.to_vec() }, nonce))
    }

    /// A storage value at block `at`: `System.Events` is kept per block, the rest is current.
    fn value_at(&self, key: &[u8], at: u64) -> Option<Vec<u8>> {
        if key == storage_prefix("System", "Events").as_slice() {
            return Some(self.block_events.get(&at).cloned().unwrap_or_else(|| vec![0]));
        }
        self.storage.get(key).cloned()
    }

    fn uid_of(&self, netuid: u16, hotkey: &[u8; 32]) -> Option<u16> {
        let prefix = [storage_prefix("SubtensorModule", "Keys"), netuid.encode()].concat();
        self.storage.iter().filter(|(key, _)| key.starts_with(&prefix)).find(|(_, value)| value.as_slice() == hotkey).map(|(key, _)| {
            let uid = &key[prefix.len()..];
            u16::from_le_bytes([uid[0], uid[1]])
        })
    }

    fn by_netuid<T: subxt::ext::codec::Decode>(&self, item: &str, netuid: u16) -> Option<T> {
        self.storage
            .get(&[storage_prefix("SubtensorModule", item), netuid.encode()].concat())
            .and_then(|bytes| T::decode(&mut bytes.as_slice()).ok())
    }

    /// Applies the pooled extrinsics in block `block` and records them and their events;
    /// then reveals due timelocked commitments.
    fn apply_pool(&mut self, block: u64) {
        let mut included = Vec::new();
        let mut outcomes = Vec::new();
        for (extrinsic, watcher) in std::mem::take(&mut self.pool) {
            *self.nonces.entry(extrinsic.signer).or_default() += 1;
            let outcome = self.dispatch(&extrinsic, block);
            included.push(extrinsic.bytes);
            outcomes.push(outcome);
            if let Some(watcher) = watcher {
                let _ = watcher.send(block);
            }
        }
        let events = self.encode_events(&outcomes);
        self.block_events.insert(block, events);
        self.block_extrinsics.insert(block, included);
        self.reveal(block);
    }

    fn dispatch(&mut self, extrinsic: &Extrinsic, block: u64) -> Outcome {
        use subxt::ext::codec::Decode;
        if let Some(failure) = self.forced_failures.pop_front() {
            return Err(failure);
        }
        let mut input = extrinsic.call.as_slice();
        match <(u8, u8)>::decode(&mut input) {
            Ok((7, 119 | 118)) => self.apply_weights(extrinsic, block),
            Ok((18, 0)) => self.apply_commitment(extrinsic.signer, input, block),
            _ => Err(("System", "CallFiltered")),
        }
    }

    fn apply_weights(&mut self, extrinsic: &Extrinsic, block: u64) -> Outcome {
        use subxt::ext::codec::Decode;
        let mut input = &extrinsic.call[2..];
        let (netuid, seen) = if extrinsic.call[1] == 119 {
            let (netuid, mecid, uids, weights, version_key) =
                <(u16, u8, Vec<u16>, Vec<u16>, u64)>::decode(&mut input).map_err(|_| ("System", "CallFiltered"))?;
            (netuid, WeightsCallSeen::Plain { mecid, uids, weights, version_key })
        } else {
            let (netuid, mecid, commit, reveal_round, commit_reveal_version) =
                <(u16, u8, Vec<u8>, u64, u16)>::decode(&mut input).map_err(|_| ("System", "CallFiltered"))?;
            (netuid, WeightsCallSeen::Timelocked { mecid, commit, reveal_round, commit_reveal_version })
        };
        let commit_reveal = self.by_netuid::<bool>("CommitRevealWeightsEnabled", netuid).unwrap_or(true);
        let uid = self.uid_of(netuid, &extrinsic.signer);
        let error = match (&seen, uid) {
            (_, None) => Some("HotKeyNotRegisteredInSubNet"),
            (WeightsCallSeen::Plain { .. }, _) if commit_reveal => Some("CommitRevealEnabled"),
            (WeightsCallSeen::Timelocked { .. }, _) if !commit_reveal => Some("CommitRevealDisabled"),
            (WeightsCallSeen::Plain { version_key, .. }, _)
                if *version_key < self.by_netuid::<u64>("WeightsVersionKey", netuid).unwrap_or(0) =>
            {
                Some("IncorrectWeightVersionKey")
            }
            _ => None,
        };
        if let (None, Some(uid)) = (error, uid) {
            let key = [storage_prefix("SubtensorModule", "LastUpdate"), netuid.encode()].concat();
            let mut last_update: Vec<u64> =
                self.storage.get(&key).and_then(|b| Vec::<u64>::decode(&mut b.as_slice()).ok()).unwrap_or_default();
            if let Some(slot) = last_update.get_mut(usize::from(uid)) {
                *slot = block;
            }
            self.storage.insert(key, last_update.encode());
            match &seen {
                WeightsCallSeen::Plain { uids, weights, .. } => self.write_weights(netuid, uid, uids, weights),
                WeightsCallSeen::Timelocked { commit, reveal_round, .. } => {
                    let reveal_epoch = self.epoch(netuid, block) + self.by_netuid::<u64>("RevealPeriodEpochs", netuid).unwrap_or(1);
                    self.pending_weights.push(PendingWeights {
                        netuid,
                        committer: extrinsic.signer,
                        commit: commit.clone(),
                        reveal_round: *reveal_round,
                        reveal_epoch,
                    });
                }
            }
        }
        self.applied.push(AppliedWeights { block, hotkey: extrinsic.signer, netuid, call: seen, error });
        error.map_or(Ok(()), |name| Err(("SubtensorModule", name)))
    }

    /// `Commitments.set_commitment(netuid, CommitmentInfo { fields })`: registered hotkeys only;
    /// space `max(100, sum of field sizes)` per subnet epoch up to `MaxSpace`; timelocked
    /// fields wait for their drand round.
    fn apply_commitment(&mut self, signer: [u8; 32], mut input: &[u8], block: u64) -> Outcome {
        use subxt::ext::codec::Decode;
        let malformed = ("System", "CallFiltered");
        let netuid = u16::decode(&mut input).map_err(|_| malformed)?;
        let count = read_compact(&mut input).map_err(|_| malformed)?;
        let mut size = 0_u64;
        let mut timelocked = Vec::new();
        for _ in 0..count {
            let variant = take(&mut input, 1).map_err(|_| malformed)?[0];
            match variant {
                0 | 135 => {}
                1..=129 => {
                    let length = usize::from(variant - 1);
                    size += take(&mut input, length).map_err(|_| malformed)?.len() as u64;
                }
                130..=133 => {
                    size += take(&mut input, 32).map_err(|_| malformed)?.len() as u64;
                }
                134 => {
                    let length = usize::try_from(read_compact(&mut input).map_err(|_| malformed)?).map_err(|_| malformed)?;
                    let ciphertext = take(&mut input, length).map_err(|_| malformed)?.to_vec();
                    let round = u64::decode(&mut input).map_err(|_| malformed)?;
                    size += length as u64;
                    timelocked.push((ciphertext, round));
                }
                136 => {
                    let length = usize::try_from(read_compact(&mut input).map_err(|_| malformed)?).map_err(|_| malformed)?;
                    size += take(&mut input, length).map_err(|_| malformed)?.len() as u64;
                }
                _ => return Err(malformed),
            }
        }
        if count > 3 {
            return Err(("Commitments", "TooManyFieldsInCommitmentInfo"));
        }
        if self.uid_of(netuid, &signer).is_none() {
            return Err(("Commitments", "AccountNotAllowedCommit"));
        }
        let tempo = u64::from(self.by_netuid::<u16>("Tempo", netuid).unwrap_or(360));
        let epoch = (block + u64::from(netuid) + 1) / (tempo + 1);
        let max_space = self
            .storage
            .get(&storage_prefix("Commitments", "MaxSpace"))
            .and_then(|bytes| u32::decode(&mut bytes.as_slice()).ok())
            .unwrap_or(3100);
        let used = self.used_space.get(&(netuid, signer)).filter(|(e, _)| *e == epoch).map_or(0, |(_, used)| *used);
        let space = size.max(100);
        if used + space > u64::from(max_space) {
            return Err(("Commitments", "SpaceLimitExceeded"));
        }
        self.used_space.insert((netuid, signer), (epoch, used + space));
        for (ciphertext, round) in timelocked {
            self.pending_reveals.push((netuid, signer, ciphertext, round));
        }
        Ok(())
    }

    /// `Weights(netuid, uid) = zip(uids, values)`, as subtensor stores a weight vector.
    fn write_weights(&mut self, netuid: u16, uid: u16, uids: &[u16], values: &[u16]) {
        let pairs: Vec<(u16, u16)> = uids.iter().copied().zip(values.iter().copied()).collect();
        self.storage.insert([storage_prefix("SubtensorModule", "Weights"), netuid.encode(), uid.encode()].concat(), pairs.encode());
    }

    /// Subtensor's epoch of `block` on `netuid`: `(block + netuid + 1) / (tempo + 1)`.
    fn epoch(&self, netuid: u16, block: u64) -> u64 {
        let tempo = u64::from(self.by_netuid::<u16>("Tempo", netuid).unwrap_or(360));
        (block + u64::from(netuid) + 1) / (tempo + 1)
    }

    /// The latest round the test beacon has "published": wall-clock quicknet time plus
    /// `drand_lead_rounds`.
    fn latest_drand_round(&self) -> u64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
        (now - affine::chain::timelock::QUICKNET_GENESIS) / affine::chain::timelock::QUICKNET_PERIOD + self.drand_lead_rounds
    }

    /// Reveals timelocked weight commits as subtensor does: from the start of their reveal
    /// epoch, once the beacon has the pulse of their round, decrypt with it, decode
    /// `WeightsTlockPayload { hotkey, uids, values, version_key }`, require the payload's
    /// hotkey to be the committer and the version key to pass, then write `Weights`.
    fn reveal_weights(&mut self, block: u64) {
        use subxt::ext::codec::Decode;
        let latest_round = self.latest_drand_round();
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_weights)
            .into_iter()
            .partition(|pending| self.epoch(pending.netuid, block) >= pending.reveal_epoch && pending.reveal_round <= latest_round);
        self.pending_weights = waiting;
        for pending in due {
            let mut revealed = RevealedWeights {
                block,
                hotkey: pending.committer,
                netuid: pending.netuid,
                uids: Vec::new(),
                weights: Vec::new(),
                version_key: 0,
                error: None,
            };
            let decoded = affine::chain::timelock::decrypt(&pending.commit, &self.beacon.sign(pending.reveal_round))
                .ok()
                .and_then(|plaintext| <(Vec<u8>, Vec<u16>, Vec<u16>, u64)>::decode(&mut plaintext.as_slice()).ok());
            match decoded {
                None => revealed.error = Some("InvalidRevealCommitHashNotMatch"),
                Some((hotkey, uids, values, version_key)) => {
                    revealed.uids = uids;
                    revealed.weights = values;
                    revealed.version_key = version_key;
                    let required = self.by_netuid::<u64>("WeightsVersionKey", pending.netuid).unwrap_or(0);
                    revealed.error = if hotkey.as_slice() != pending.committer.as_slice() {
                        Some("InvalidRevealCommitHashNotMatch")
                    } else if required != 0 && version_key < required {
                        Some("IncorrectWeightVersionKey")
                    } else if revealed.uids.len() != revealed.weights.len() {
                        Some("WeightVecNotEqualSize")
                    } else {
                        match self.uid_of(pending.netuid, &pending.committer) {
                            None => Some("HotKeyNotRegisteredInSubNet"),
                            Some(uid) => {
                                let (uids, values) = (revealed.uids.clone(), revealed.weights.clone());
                                self.write_weights(pending.netuid, uid, &uids, &values);
                                None
                            }
                        }
                    };
                }
            }
            self.revealed_weights.push(revealed);
        }
    }

    /// Reveals every pending commitment whose round the test beacon has "published": drand is
    /// taken to be `drand_lead_rounds` (default 20, 60 s) ahead of wall-clock quicknet time, so
    /// commitments made for the next block reveal at once.
    fn reveal(&mut self, block: u64) {
        use subxt::ext::codec::Decode;
        self.reveal_weights(block);
        let latest_round = self.latest_drand_round();
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_reveals).into_iter().partition(|entry| entry.3 <= latest_round);
        self.pending_reveals = waiting;
        for (netuid, hotkey, ciphertext, round) in due {
            // Undecryptable fields are dropped silently, as the runtime does.
            let Ok(plaintext) = affine::chain::timelock::decrypt(&ciphertext, &self.beacon.sign(round)) else { continue };
            let key = [storage_prefix("Commitments", "RevealedCommitments"), netuid.encode(), twox64_concat(&hotkey)].concat();
            let mut list: Vec<(Vec<u8>, u64)> =
                self.storage.get(&key).and_then(|bytes| Vec::decode(&mut bytes.as_slice()).ok()).unwrap_or_default();
            list.push((plaintext, block));
            if list.len() > 10 {
                list.remove(0);
            }
            self.storage.insert(key, list.encode());
        }
    }

    /// `System.Events` for a block: one `ExtrinsicSuccess`/`ExtrinsicFailed` per extrinsic,
    /// encoded against finney's own event types.
    fn encode_events(&self, outcomes: &[Outcome]) -> Vec<u8> {
        use subxt::ext::scale_value::Value;
        let info = || {
            Value::named_composite([
                ("weight", Value::named_composite([("ref_time", Value::u128(0)), ("proof_size", Value::u128(0))])),
                ("class", Value::unnamed_variant("Normal", [])),
                ("pays_fee", Value::unnamed_variant("No", [])),
            ])
        };
        let records: Vec<Value> = (0_u32..)
            .zip(outcomes)
            .map(|(index, outcome)| {
                let event = match outcome {
                    Ok(()) => Value::named_variant("ExtrinsicSuccess", [("dispatch_info", info())]),
                    Err((pallet, error)) => {
                        let (pallet_index, error_index) = self.error_index(pallet, error);
                        let module = Value::named_composite([
                            ("index", Value::u128(u128::from(pallet_index))),
                            ("error", Value::unnamed_composite([error_index, 0, 0, 0].map(|b| Value::u128(u128::from(b))))),
                        ]);
                        Value::named_variant(
                            "ExtrinsicFailed",
                            [("dispatch_error", Value::unnamed_variant("Module", [module])), ("dispatch_info", info())],
                        )
                    }
                };
                Value::named_composite([
                    ("phase", Value::unnamed_variant("ApplyExtrinsic", [Value::u128(u128::from(index))])),
                    ("event", Value::unnamed_variant("System", [event])),
                    ("topics", Value::unnamed_composite([])),
                ])
            })
            .collect();
        let ty = self
            .decoded
            .pallet_by_name("System")
            .and_then(|pallet| pallet.storage())
            .and_then(|storage| storage.entry_by_name("Events"))
            .expect("finney has System.Events")
            .value_ty();
        let mut out = Vec::new();
        subxt::ext::scale_value::scale::encode_as_type(&Value::unnamed_composite(records), ty, self.decoded.types(), &mut out)
            .expect("events encode against finney's types");
        out
    }

    fn error_index(&self, pallet: &str, error: &str) -> (u8, u8) {
        let pallet = self.decoded.pallet_by_name(pallet).expect("pallet exists");
        let index = pallet.error_variants().and_then(|variants| variants.iter().find(|v| v.name == error)).expect("error exists").index;
        (pallet.error_index(), index)
    }
}

fn register(module: &mut RpcModule<Shared>) {
    module
        .register_method("author_submitExtrinsic", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let mut chain = chain.lock().expect("chain lock");
            let bytes = parse_hex(params_list(&params).first().ok_or_else(|| rpc_error("missing extrinsic"))?)?;
            let (extrinsic, _nonce) = chain.validate(&bytes)?;
            if chain.refuse_submissions > 0 {
                chain.refuse_submissions -= 1;
                return Err(ErrorObjectOwned::owned(
                    1014,
                    "Priority is too low: (18446744073709551615 vs 18446744073709551615)",
                    None::<()>,
                ));
            }
            chain.pool.push((extrinsic, None));
            Ok(json!(hex0x(&sp_crypto_hashing::blake2_256(&bytes))))
        })
        .expect("register");
    module
        .register_method("chain_getBlock", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let number = chain.at(params_list(&params).first())?;
            let extrinsics: Vec<Value> =
                chain.block_extrinsics.get(&number).map(|list| list.iter().map(|x| json!(hex0x(x))).collect()).unwrap_or_default();
            Ok(json!({"block": {"header": header_json(number), "extrinsics": extrinsics}, "justifications": null}))
        })
        .expect("register");
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, chain, _| async move {
                let included = {
                    let mut chain = chain.lock().expect("chain lock");
                    let validated = params_list(&params)
                        .first()
                        .ok_or_else(|| rpc_error("missing extrinsic"))
                        .and_then(parse_hex)
                        .and_then(|bytes| chain.validate(&bytes));
                    match validated {
                        Ok((extrinsic, _)) => {
                            let (sender, receiver) = tokio::sync::oneshot::channel();
                            chain.pool.push((extrinsic, Some(sender)));
                            Ok(receiver)
                        }
                        Err(error) => Err(error),
                    }
                };
                let receiver = match included {
                    Ok(receiver) => receiver,
                    Err(error) => {
                        pending.reject(error).await;
                        return;
                    }
                };
                let Ok(sink) = pending.accept().await else { return };
                let send = |value: Value| {
                    let sink = sink.clone();
                    async move { sink.send(serde_json::value::to_raw_value(&value).expect("json")).await.is_ok() }
                };
                if !send(json!("ready")).await {
                    return;
                }
                let Ok(block) = receiver.await else { return };
                let hash = hex0x(&block_hash(block));
                if send(json!({"inBlock": hash})).await {
                    let _ = send(json!({"finalized": hash})).await;
                }
            },
        )
        .expect("register");
    module
        .register_method("system_accountNextIndex", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let address =
                params_list(&params).first().and_then(Value::as_str).map(str::to_owned).ok_or_else(|| rpc_error("missing account"))?;
            let account = affine::chain::ss58::decode(&address).map_err(|_| rpc_error("bad account"))?;
            let pooled = chain.pool.iter().filter(|x| x.0.signer == account).count() as u64;
            Ok(json!(chain.nonces.get(&account).copied().unwrap_or(0) + pooled))
        })
        .expect("register");
    module
        .register_method("chain_getBlockHash", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let number = match params_list(&params).first() {
                None | Some(Value::Null) => chain.best(),
                Some(Value::Number(n)) => n.as_u64().ok_or_else(|| rpc_error("bad block number"))?,
                Some(Value::String(text)) => {
                    u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|_| rpc_error("bad block number"))?
                }
                Some(_) => return Err(rpc_error("bad block number")),
            };
            Ok(if number <= chain.best() { json!(hex0x(&chain.blocks[usize::try_from(number).expect("small")])) } else { Value::Null })
        })
        .expect("register");
    module
        .register_subscription("chain_subscribeNewHeads", "chain_newHead", "chain_unsubscribeNewHeads", |_, pending, chain, _| async move {
            let mut heads = chain.lock().expect("chain lock").heads.subscribe();
            let Ok(sink) = pending.accept().await else { return };
            while let Ok(number) = heads.recv().await {
                let Ok(message) = serde_json::value::to_raw_value(&header_json(number)) else { return };
                if sink.send(message).await.is_err() {
                    return;
                }
            }
        })
        .expect("register");
    module
        .register_method("chain_getFinalizedHead", |_, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            Ok(json!(hex0x(&block_hash(chain.best()))))
        })
        .expect("register");
    module
        .register_method("chain_getHeader", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let list = params_list(&params);
            match list.first() {
                None | Some(Value::Null) => Ok(header_json(chain.best())),
                Some(hash) => Ok(chain.number_of(&parse_hex(hash)?).map_or(Value::Null, header_json)),
            }
        })
        .expect("register");
    module
        .register_method("state_call", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let list = params_list(&params);
            let method = list.first().and_then(Value::as_str).ok_or_else(|| rpc_error("missing method"))?;
            let data = list.get(1).map(parse_hex).transpose()?.unwrap_or_default();
            chain.at(list.get(2))?;
            Ok(json!(hex0x(&chain.state_call(method, &data)?)))
        })
        .expect("register");
    module
        .register_method("state_getStorage", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let list = params_list(&params);
            let key = parse_hex(list.first().ok_or_else(|| rpc_error("missing key"))?)?;
            let at = chain.at(list.get(1))?;
            Ok(chain.value_at(&key, at).map_or(Value::Null, |value| json!(hex0x(&value))))
        })
        .expect("register");
    module
        .register_method("state_getKeysPaged", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let list = params_list(&params);
            let prefix = parse_hex(list.first().ok_or_else(|| rpc_error("missing prefix"))?)?;
            let count = list.get(1).and_then(Value::as_u64).ok_or_else(|| rpc_error("missing count"))?;
            let start = match list.get(2) {
                None | Some(Value::Null) => None,
                Some(key) => Some(parse_hex(key)?),
            };
            chain.at(list.get(3))?;
            let keys: Vec<Value> = chain
                .storage
                .keys()
                .filter(|key| key.starts_with(&prefix))
                .filter(|key| start.as_ref().is_none_or(|start| *key > start))
                .take(usize::try_from(count).unwrap_or(usize::MAX))
                .map(|key| json!(hex0x(key)))
                .collect();
            Ok(Value::Array(keys))
        })
        .expect("register");
    module
        .register_method("state_queryStorageAt", |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let chain = chain.lock().expect("chain lock");
            let list = params_list(&params);
            let keys = list.first().and_then(Value::as_array).ok_or_else(|| rpc_error("missing keys"))?;
            let at = chain.at(list.get(1))?;
            let changes: Vec<Value> = keys
                .iter()
                .map(|key| {
                    let bytes = parse_hex(key)?;
                    Ok(json!([hex0x(&bytes), chain.value_at(&bytes, at).map_or(Value::Null, |value| json!(hex0x(&value)))]))
                })
                .collect::<Result<_, ErrorObjectOwned>>()?;
            Ok(json!([{"block": hex0x(&block_hash(at)), "changes": changes}]))
        })
        .expect("register");
}

impl FakeSubtensor {
    /// Starts the node on 127.0.0.1 (port 0) with `initial_blocks` blocks after genesis and a
    /// new block every `block_interval`; returns once it accepts connections.
    pub async fn start(initial_blocks: u64, block_interval: Duration) -> Self {
        Self::start_with_metadata(finney_metadata(), initial_blocks, block_interval).await
    }

    /// As [`Self::start`], serving `metadata` (SCALE `RuntimeMetadataPrefixed`) instead of
    /// finney's.
    pub async fn start_with_metadata(metadata: Vec<u8>, initial_blocks: u64, block_interval: Duration) -> Self {
        let (heads, _) = tokio::sync::broadcast::channel(64);
        let blocks = (0..=initial_blocks).map(block_hash).collect();
        let decoded = subxt::metadata::Metadata::decode_from(&metadata).expect("metadata decodes");
        let chain: Shared = Arc::new(Mutex::new(Chain {
            metadata,
            blocks,
            storage: BTreeMap::new(),
            heads,
            nonces: BTreeMap::new(),
            pool: Vec::new(),
            applied: Vec::new(),
            decoded,
            block_extrinsics: BTreeMap::new(),
            block_events: BTreeMap::new(),
            pending_reveals: Vec::new(),
            used_space: BTreeMap::new(),
            beacon: affine::chain::timelock::TestBeacon::from_seed(b"fake subtensor drand"),
            forced_failures: std::collections::VecDeque::new(),
            pending_weights: Vec::new(),
            revealed_weights: Vec::new(),
            drand_lead_rounds: 20,
            refuse_submissions: 0,
        }));
        let mut module = RpcModule::new(chain.clone());
        register(&mut module);
        let server = Server::builder()
            .set_config(ServerConfig::builder().set_tcp_no_delay(true).build())
            .build("127.0.0.1:0")
            .await
            .expect("bind the fake subtensor node");
        let address = server.local_addr().expect("bound address");
        let handle = server.start(module);
        let ticking = chain.clone();
        let producer = tokio::spawn(async move {
            let mut interval = tokio::time::interval(block_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let mut chain = ticking.lock().expect("chain lock");
                let next = chain.blocks.len() as u64;
                chain.blocks.push(block_hash(next));
                chain.apply_pool(next);
                // No subscriber is fine.
                let _ = chain.heads.send(next);
            }
        });
        // The listener is bound before `start`, so connections are accepted from here on.
        Self { url: format!("ws://{address}"), chain, handle: Some(handle), producer }
    }

    /// The WebSocket URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The best block number.
    pub fn best_block(&self) -> u64 {
        self.chain.lock().expect("chain lock").best()
    }

    fn put(&self, key: Vec<u8>, value: Vec<u8>) {
        self.chain.lock().expect("chain lock").storage.insert(key, value);
    }

    /// Registers neurons on `netuid`: `(hotkey, last_update, validator_permit)` by uid.
    pub fn set_neurons(&self, netuid: u16, neurons: &[([u8; 32], u64, bool)]) {
        let count = u16::try_from(neurons.len()).expect("fewer than 65536 neurons");
        let netuid_key = netuid.encode();
        self.put([storage_prefix("SubtensorModule", "SubnetworkN"), netuid_key.clone()].concat(), count.encode());
        let last_update: Vec<u64> = neurons.iter().map(|n| n.1).collect();
        self.put([storage_prefix("SubtensorModule", "LastUpdate"), netuid_key.clone()].concat(), last_update.encode());
        let permits: Vec<bool> = neurons.iter().map(|n| n.2).collect();
        self.put([storage_prefix("SubtensorModule", "ValidatorPermit"), netuid_key.clone()].concat(), permits.encode());
        for (uid, (hotkey, _, _)) in (0_u16..).zip(neurons) {
            self.put([storage_prefix("SubtensorModule", "Keys"), netuid_key.clone(), uid.encode()].concat(), hotkey.encode());
        }
    }

    /// The public key of the node's drand beacon (hex), which reveals commitments.
    pub fn beacon_public_key_hex(&self) -> String {
        hex::encode(self.chain.lock().expect("chain lock").beacon.public_key().to_bytes())
    }

    /// Fails the next dispatched call with `pallet::error` (a module error from finney's
    /// metadata, e.g. `("Commitments", "SpaceLimitExceeded")`).
    pub fn fail_next_call(&self, pallet: &'static str, error: &'static str) {
        self.chain.lock().expect("chain lock").forced_failures.push_back((pallet, error));
    }

    /// Sets `Commitments.MaxSpace` (bytes of commitments per hotkey and epoch).
    pub fn set_max_space(&self, bytes: u32) {
        self.put(storage_prefix("Commitments", "MaxSpace"), bytes.encode());
    }

    /// Weight calls the node has included so far.
    pub fn applied_weights(&self) -> Vec<AppliedWeights> {
        self.chain.lock().expect("chain lock").applied.clone()
    }

    /// Timelocked weight commits the node has revealed so far.
    pub fn revealed_weights(&self) -> Vec<RevealedWeights> {
        self.chain.lock().expect("chain lock").revealed_weights.clone()
    }

    /// `Weights` of `netuid`: each uid's `(uid, u16 weight)` pairs.
    pub fn weights(&self, netuid: u16) -> BTreeMap<u16, Vec<(u16, u16)>> {
        use subxt::ext::codec::Decode;
        let prefix = [storage_prefix("SubtensorModule", "Weights"), netuid.encode()].concat();
        let chain = self.chain.lock().expect("chain lock");
        chain
            .storage
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix) && key.len() == prefix.len() + 2)
            .map(|(key, value)| {
                let uid = u16::from_le_bytes([key[prefix.len()], key[prefix.len() + 1]]);
                (uid, Vec::<(u16, u16)>::decode(&mut value.as_slice()).expect("stored weights decode"))
            })
            .collect()
    }

    /// Lets the test beacon run `rounds` drand rounds ahead of wall-clock quicknet time
    /// (default 20), so timelocked weights aimed a few epochs ahead reveal within a test.
    pub fn set_drand_lead_rounds(&self, rounds: u64) {
        self.chain.lock().expect("chain lock").drand_lead_rounds = rounds;
    }

    /// Refuses the next `count` submissions at the pool (`author_submitExtrinsic` answers an
    /// RPC error, as a node does for a transaction it will not pool).
    pub fn refuse_next_submissions(&self, count: u32) {
        self.chain.lock().expect("chain lock").refuse_submissions = count;
    }

    /// `LastUpdate` of `netuid`.
    pub fn last_update(&self, netuid: u16) -> Vec<u64> {
        let chain = self.chain.lock().expect("chain lock");
        chain.by_netuid::<Vec<u64>>("LastUpdate", netuid).unwrap_or_default()
    }

    /// Sets `Tempo`, `WeightsVersionKey` and `CommitRevealWeightsEnabled` of `netuid`
    /// (`RevealPeriodEpochs` and `WeightsSetRateLimit` keep their storage defaults).
    pub fn set_subnet_params(&self, netuid: u16, tempo: u16, weights_version_key: u64, commit_reveal_enabled: bool) {
        let netuid_key = netuid.encode();
        self.put([storage_prefix("SubtensorModule", "Tempo"), netuid_key.clone()].concat(), tempo.encode());
        self.put([storage_prefix("SubtensorModule", "WeightsVersionKey"), netuid_key.clone()].concat(), weights_version_key.encode());
        self.put([storage_prefix("SubtensorModule", "CommitRevealWeightsEnabled"), netuid_key].concat(), commit_reveal_enabled.encode());
    }

    /// Sets `WeightsSetRateLimit` of `netuid` (blocks between weight updates; default 100).
    pub fn set_weights_rate_limit(&self, netuid: u16, blocks: u64) {
        self.put([storage_prefix("SubtensorModule", "WeightsSetRateLimit"), netuid.encode()].concat(), blocks.encode());
    }

    /// Appends a revealed commitment (SCALE-encoded text, as the chain stores it) for `hotkey`.
    pub fn push_revealed_commitment(&self, netuid: u16, hotkey: [u8; 32], text: &str, block: u64) {
        let key = [storage_prefix("Commitments", "RevealedCommitments"), netuid.encode(), twox64_concat(&hotkey)].concat();
        let mut chain = self.chain.lock().expect("chain lock");
        let mut list: Vec<(Vec<u8>, u64)> = chain
            .storage
            .get(&key)
            .map(|bytes| subxt::ext::codec::Decode::decode(&mut bytes.as_slice()).expect("stored list decodes"))
            .unwrap_or_default();
        list.push((text.to_owned().encode(), block));
        chain.storage.insert(key, list.encode());
    }
}
