//! The node's state machine: storage, the transaction pool, block production and what a block
//! applies (weights, commitments, reveals), with subtensor's rules for each.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use subxt::ext::codec::{Compact, Decode, Encode};

use super::keys::StorageLayout;
use super::metadata::RuntimeMetadataSet;
use crate::chain::timelock::{self, TestBeacon};

/// Finney's genesis hash: block 0 of the devnet chain, so clients that pin it accept the node.
pub const FINNEY_GENESIS: [u8; 32] = [
    0x2f, 0x05, 0x55, 0xcc, 0x76, 0xfc, 0x28, 0x40, 0xa2, 0x5a, 0x6e, 0xa3, 0xb9, 0x63, 0x71, 0x46, 0x80, 0x6f, 0x1f, 0x44, 0xb0, 0x90,
    0xc1, 0x75, 0xff, 0xde, 0x2a, 0x7e, 0x5a, 0xb3, 0x6c, 0x03,
];
/// The spec and transaction versions of the embedded metadata.
pub const SPEC_VERSION: u32 = 393;
/// See [`SPEC_VERSION`].
pub const TRANSACTION_VERSION: u32 = 1;
/// Blocks whose extrinsics and events are kept for `chain_getBlock` and `System.Events`.
const HISTORY_BLOCKS: u64 = 4096;
/// Applied and revealed weight calls kept for inspection.
const WEIGHTS_HISTORY: usize = 1000;

/// The hash of block `number`: finney's genesis for 0, else the number (8 bytes, big-endian)
/// followed by 24 bytes of its blake2 hash, so a hash maps back to its number without an index.
#[must_use]
pub fn block_hash(number: u64) -> [u8; 32] {
    if number == 0 {
        return FINNEY_GENESIS;
    }
    let mut hash = [0_u8; 32];
    hash[..8].copy_from_slice(&number.to_be_bytes());
    hash[8..].copy_from_slice(&sp_crypto_hashing::blake2_256(&number.to_le_bytes())[..24]);
    hash
}

/// The number of a block hash made by [`block_hash`].
#[must_use]
pub fn block_number(hash: &[u8]) -> Option<u64> {
    if hash == FINNEY_GENESIS {
        return Some(0);
    }
    let number = u64::from_be_bytes(hash.get(..8)?.try_into().ok()?);
    (number > 0 && block_hash(number).as_slice() == hash).then_some(number)
}

/// How a dispatched call ended: `Ok`, or the pallet and error names of a module error.
pub type Outcome = Result<(), (&'static str, &'static str)>;

/// A weights call the node applied (or refused, with the pallet error's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedWeights {
    /// Block it was included in.
    pub block: u64,
    /// The signing hotkey.
    pub hotkey: [u8; 32],
    /// The netuid argument.
    pub netuid: u16,
    /// The call as decoded.
    pub call: WeightsCallSeen,
    /// `None` when applied, else the error the chain emitted.
    pub error: Option<&'static str>,
}

/// The weights payload as the node decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsCallSeen {
    /// `set_weights` / `set_mechanism_weights(netuid, mecid, dests, weights, version_key)`.
    Plain {
        /// Mechanism id (0 for `set_weights`).
        mecid: u8,
        /// Destination uids.
        uids: Vec<u16>,
        /// u16 weights.
        weights: Vec<u16>,
        /// Version key.
        version_key: u64,
    },
    /// `commit_timelocked_mechanism_weights(netuid, mecid, commit, reveal_round, version)`.
    Timelocked {
        /// Mechanism id.
        mecid: u8,
        /// The encrypted payload.
        commit: Vec<u8>,
        /// The drand round it is encrypted to.
        reveal_round: u64,
        /// Commit-reveal version.
        commit_reveal_version: u16,
    },
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
    /// The decrypted uids (empty when decryption failed).
    pub uids: Vec<u16>,
    /// The decrypted values.
    pub weights: Vec<u16>,
    /// The payload's version key.
    pub version_key: u64,
    /// `None` when the weights were written, else why they were dropped.
    pub error: Option<&'static str>,
}

/// A `commit_timelocked_mechanism_weights` waiting for its reveal epoch and round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingWeights {
    /// Subnet.
    pub netuid: u16,
    /// Committing hotkey.
    #[serde(with = "hex_array")]
    pub committer: [u8; 32],
    /// Encrypted payload.
    #[serde(with = "hex_bytes")]
    pub commit: Vec<u8>,
    /// Drand round.
    pub reveal_round: u64,
    /// The subnet epoch at whose start the chain reveals it.
    pub reveal_epoch: u64,
}

/// A timelocked commitment field waiting for its drand round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingReveal {
    /// Subnet.
    pub netuid: u16,
    /// Committing hotkey.
    #[serde(with = "hex_array")]
    pub hotkey: [u8; 32],
    /// Ciphertext.
    #[serde(with = "hex_bytes")]
    pub ciphertext: Vec<u8>,
    /// Drand round.
    pub round: u64,
}

/// A decoded, signature-checked extrinsic in the pool.
#[derive(Debug, Clone)]
pub struct Extrinsic {
    /// Signer account.
    pub signer: [u8; 32],
    /// The call bytes.
    pub call: Vec<u8>,
    /// The whole extrinsic.
    pub bytes: Vec<u8>,
}

/// Call indices the node dispatches, looked up by name in the runtime's metadata.
#[derive(Debug, Clone, Copy)]
struct CallIndices {
    set_weights: (u8, u8),
    set_mechanism_weights: (u8, u8),
    commit_timelocked_mechanism_weights: (u8, u8),
    set_commitment: (u8, u8),
}

impl CallIndices {
    fn from_metadata(metadata: &subxt::metadata::Metadata) -> Self {
        let index = |pallet: &str, call: &str| {
            metadata
                .pallet_by_name(pallet)
                .and_then(|p| p.call_variant_by_name(call).map(|v| (p.call_index(), v.index)))
                .unwrap_or((u8::MAX, u8::MAX))
        };
        Self {
            set_weights: index("SubtensorModule", "set_weights"),
            set_mechanism_weights: index("SubtensorModule", "set_mechanism_weights"),
            commit_timelocked_mechanism_weights: index("SubtensorModule", "commit_timelocked_mechanism_weights"),
            set_commitment: index("Commitments", "set_commitment"),
        }
    }
}

/// Everything the node holds.
pub struct Chain {
    /// The runtime metadata in every served version.
    pub metadata: Arc<RuntimeMetadataSet>,
    decoded: subxt::metadata::Metadata,
    /// Storage hashers by item.
    pub layout: StorageLayout,
    calls: CallIndices,
    best: u64,
    /// Current storage (values at every block but `System.Events` are the current ones).
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// New best block numbers, for head subscriptions.
    pub heads: tokio::sync::broadcast::Sender<u64>,
    /// Next nonce per account.
    pub nonces: BTreeMap<[u8; 32], u64>,
    /// Verified extrinsics waiting for the next block, each with a watcher told the inclusion
    /// block (`author_submitAndWatchExtrinsic`).
    pub pool: Vec<(Extrinsic, Option<tokio::sync::oneshot::Sender<u64>>)>,
    block_extrinsics: BTreeMap<u64, Vec<Vec<u8>>>,
    block_events: BTreeMap<u64, Vec<u8>>,
    /// Timelocked commitment fields waiting for their round.
    pub pending_reveals: Vec<PendingReveal>,
    /// Commitment space used per (netuid, hotkey): (epoch, bytes).
    pub used_space: BTreeMap<(u16, [u8; 32]), (u64, u64)>,
    /// The drand beacon whose pulses reveal timelocked data.
    pub beacon: TestBeacon,
    /// Module errors to fail the next dispatched calls with, in order.
    pub forced_failures: VecDeque<(&'static str, &'static str)>,
    /// Weight calls applied, oldest first (the last thousand).
    pub applied: VecDeque<AppliedWeights>,
    /// Timelocked weight commits waiting for their reveal epoch and round.
    pub pending_weights: Vec<PendingWeights>,
    /// Timelocked weight commits revealed (or dropped), oldest first.
    pub revealed_weights: VecDeque<RevealedWeights>,
    /// How many drand rounds the beacon runs ahead of wall-clock quicknet time.
    pub drand_lead_rounds: u64,
    /// Submissions still to refuse at the pool.
    pub refuse_submissions: u32,
    /// Whether block production is paused.
    pub paused: bool,
}

/// An RPC-level rejection: code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// JSON-RPC error code (1010: invalid transaction, 1014: pool refusal, -32602: params).
    pub code: i32,
    /// Message.
    pub message: String,
}

impl Rejection {
    /// A malformed-parameters rejection.
    pub fn params(message: impl Into<String>) -> Self {
        Self { code: -32602, message: message.into() }
    }
}

/// Reads a SCALE compact integer.
fn read_compact(input: &mut &[u8]) -> Option<u64> {
    <Compact<u64> as Decode>::decode(input).ok().map(|c| c.0)
}

fn take<'a>(input: &mut &'a [u8], count: usize) -> Option<&'a [u8]> {
    if input.len() < count {
        return None;
    }
    let (head, rest) = input.split_at(count);
    *input = rest;
    Some(head)
}

/// The block a mortal era was born at, seen from block `current` (sp-runtime's `Era::birth`).
fn era_birth(era: &[u8], current: u64) -> u64 {
    if era == [0] || era.len() < 2 {
        return 0;
    }
    let encoded = u64::from(u16::from_le_bytes([era[0], era[1]]));
    let period = 2_u64 << (encoded % 16);
    let quantize = (period >> 12).max(1);
    let phase = (encoded >> 4) * quantize;
    (current.max(phase) - phase) / period * period + phase
}

impl Chain {
    /// A chain at block `best` with `storage`, serving `metadata`, revealing with `beacon`.
    #[must_use]
    pub fn new(metadata: Arc<RuntimeMetadataSet>, best: u64, beacon: TestBeacon) -> Self {
        let decoded = subxt::metadata::Metadata::decode_from(&metadata.v16).expect("V16 metadata decodes (checked when loaded)");
        let layout = StorageLayout::from_metadata(&metadata.decoded);
        let (heads, _) = tokio::sync::broadcast::channel(256);
        Self {
            calls: CallIndices::from_metadata(&decoded),
            metadata,
            decoded,
            layout,
            best,
            storage: BTreeMap::new(),
            heads,
            nonces: BTreeMap::new(),
            pool: Vec::new(),
            block_extrinsics: BTreeMap::new(),
            block_events: BTreeMap::new(),
            pending_reveals: Vec::new(),
            used_space: BTreeMap::new(),
            beacon,
            forced_failures: VecDeque::new(),
            applied: VecDeque::new(),
            pending_weights: Vec::new(),
            revealed_weights: VecDeque::new(),
            drand_lead_rounds: 20,
            refuse_submissions: 0,
            paused: false,
        }
    }

    /// The best block number.
    #[must_use]
    pub fn best(&self) -> u64 {
        self.best
    }

    /// Moves the best block to `best` (restoring a saved chain).
    pub fn set_best(&mut self, best: u64) {
        self.best = best;
    }

    /// The block a request is `at`: the given hash (which must exist) or the best block.
    pub fn at(&self, hash: Option<&[u8]>) -> Result<u64, Rejection> {
        match hash {
            None => Ok(self.best),
            Some(hash) => block_number(hash).filter(|n| *n <= self.best).ok_or_else(|| Rejection::params("unknown block")),
        }
    }

    /// The encoded runtime version (`Core_version`).
    #[must_use]
    pub fn runtime_version(&self) -> Vec<u8> {
        ("node-subtensor", "node-subtensor", 1_u32, SPEC_VERSION, 1_u32, self.metadata.apis.clone(), TRANSACTION_VERSION, 1_u8).encode()
    }

    /// Answers a runtime API call (`state_call`).
    pub fn state_call(&self, method: &str, data: &[u8]) -> Result<Vec<u8>, Rejection> {
        match method {
            "Core_version" => Ok(self.runtime_version()),
            "Metadata_metadata_versions" => Ok(vec![14_u32, 15, 16].encode()),
            "Metadata_metadata" => Ok(self.metadata.v14.encode()),
            "AccountNonceApi_account_nonce" => {
                let account: [u8; 32] = data.try_into().map_err(|_| Rejection::params("expected a 32-byte account"))?;
                Ok(u32::try_from(self.nonces.get(&account).copied().unwrap_or(0)).unwrap_or(u32::MAX).encode())
            }
            "Metadata_metadata_at_version" => {
                let version = u32::decode(&mut &data[..]).map_err(|_| Rejection::params("expected a u32 version"))?;
                Ok(self.metadata.at_version(version).map(<[u8]>::to_vec).encode())
            }
            other => Err(Rejection {
                code: 4003,
                message: format!("Client error: Execution failed: Other: Exported method {other} is not found"),
            }),
        }
    }

    /// Decodes a signed v4 extrinsic with finney's extensions, rebuilds its signer payload and
    /// checks the sr25519 signature and the nonce, as a node's pool validation does.
    pub fn validate(&self, bytes: &[u8]) -> Result<Extrinsic, Rejection> {
        let malformed = || Rejection::params("malformed extrinsic");
        let mut input = bytes;
        let length = read_compact(&mut input).ok_or_else(malformed)?;
        if usize::try_from(length).ok() != Some(input.len()) {
            return Err(Rejection::params("length prefix does not match"));
        }
        if take(&mut input, 1) != Some(&[0x84]) {
            return Err(Rejection::params("only signed v4 extrinsics are served"));
        }
        if take(&mut input, 1) != Some(&[0x00]) {
            return Err(Rejection::params("address must be MultiAddress::Id"));
        }
        let signer: [u8; 32] = take(&mut input, 32).and_then(|s| s.try_into().ok()).ok_or_else(malformed)?;
        if take(&mut input, 1) != Some(&[0x01]) {
            return Err(Rejection::params("signature must be sr25519"));
        }
        let signature = take(&mut input, 64).ok_or_else(malformed)?.to_vec();
        let explicit_start = input;
        let era = if input.first() == Some(&0) { take(&mut input, 1) } else { take(&mut input, 2) }.ok_or_else(malformed)?;
        let nonce = read_compact(&mut input).ok_or_else(malformed)?;
        let _tip = read_compact(&mut input).ok_or_else(malformed)?;
        let _metadata_hash_mode = take(&mut input, 1).ok_or_else(malformed)?;
        let explicit = &explicit_start[..explicit_start.len() - input.len()];
        let call = input.to_vec();
        let birth = era_birth(era, self.best);
        if birth > self.best {
            return Err(Rejection::params("era born in the future"));
        }
        let mut payload = [call.as_slice(), explicit].concat();
        payload.extend_from_slice(&SPEC_VERSION.to_le_bytes());
        payload.extend_from_slice(&TRANSACTION_VERSION.to_le_bytes());
        payload.extend_from_slice(&block_hash(0));
        payload.extend_from_slice(&block_hash(birth));
        payload.push(0); // CheckMetadataHash: no hash
        if payload.len() > 256 {
            payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
        }
        if !crate::chain::signing::verify(&crate::chain::signing::PublicKey(signer), &payload, &signature) {
            return Err(Rejection { code: 1010, message: "Invalid Transaction: Transaction has a bad signature".into() });
        }
        let expected = self.nonces.get(&signer).copied().unwrap_or(0) + self.pool.iter().filter(|x| x.0.signer == signer).count() as u64;
        if nonce < expected {
            return Err(Rejection { code: 1010, message: "Invalid Transaction: Transaction is outdated".into() });
        }
        Ok(Extrinsic { signer, call, bytes: bytes.to_vec() })
    }

    /// The next nonce of `account`, counting what the pool holds.
    #[must_use]
    pub fn next_nonce(&self, account: &[u8; 32]) -> u64 {
        self.nonces.get(account).copied().unwrap_or(0) + self.pool.iter().filter(|x| x.0.signer == *account).count() as u64
    }

    /// A storage value at block `at`: `System.Events` is kept per block, the rest is current.
    #[must_use]
    pub fn value_at(&self, key: &[u8], at: u64) -> Option<Vec<u8>> {
        if self.layout.key("System", "Events", &[]).is_some_and(|events| events == key) {
            return Some(self.block_events.get(&at).cloned().unwrap_or_else(|| vec![0]));
        }
        if self.layout.key("System", "Number", &[]).is_some_and(|number| number == key) {
            return Some(u32::try_from(at).unwrap_or(u32::MAX).encode());
        }
        self.storage.get(key).cloned()
    }

    /// The extrinsics of block `number` (empty when none or forgotten).
    #[must_use]
    pub fn extrinsics_of(&self, number: u64) -> Vec<Vec<u8>> {
        self.block_extrinsics.get(&number).cloned().unwrap_or_default()
    }

    /// Sets `pallet.item(keys) = value` (SCALE-encoded); ignored (logged) when the runtime has
    /// no such item.
    pub fn put(&mut self, pallet: &str, item: &str, keys: &[&[u8]], value: Vec<u8>) {
        if let Some(key) = self.layout.key(pallet, item, keys) {
            self.storage.insert(key, value);
        } else {
            tracing::debug!(pallet, item, "the runtime has no such storage item; not written");
        }
    }

    /// Decodes `pallet.item(keys)`.
    #[must_use]
    pub fn get<T: Decode>(&self, pallet: &str, item: &str, keys: &[&[u8]]) -> Option<T> {
        self.storage.get(&self.layout.key(pallet, item, keys)?).and_then(|bytes| T::decode(&mut bytes.as_slice()).ok())
    }

    /// A `SubtensorModule` item keyed by netuid.
    #[must_use]
    pub fn by_netuid<T: Decode>(&self, item: &str, netuid: u16) -> Option<T> {
        self.get("SubtensorModule", item, &[&netuid.encode()])
    }

    /// The uid of `hotkey` on `netuid`.
    #[must_use]
    pub fn uid_of(&self, netuid: u16, hotkey: &[u8; 32]) -> Option<u16> {
        self.get("SubtensorModule", "Uids", &[&netuid.encode(), hotkey])
    }

    /// Registers `neurons` on `netuid` by uid: `(hotkey, coldkey, last_update, validator_permit)`;
    /// writes every item the metagraph and the SDKs read for them.
    pub fn set_neurons(&mut self, netuid: u16, neurons: &[([u8; 32], [u8; 32], u64, bool)]) {
        let n = u16::try_from(neurons.len()).expect("fewer than 65536 neurons");
        let key = netuid.encode();
        self.put("SubtensorModule", "NetworksAdded", &[&key], true.encode());
        self.put("SubtensorModule", "SubnetworkN", &[&key], n.encode());
        self.put("SubtensorModule", "LastUpdate", &[&key], neurons.iter().map(|x| x.2).collect::<Vec<u64>>().encode());
        self.put("SubtensorModule", "ValidatorPermit", &[&key], neurons.iter().map(|x| x.3).collect::<Vec<bool>>().encode());
        for (uid, (hotkey, coldkey, _, _)) in (0_u16..).zip(neurons) {
            self.put("SubtensorModule", "Keys", &[&key, &uid.encode()], hotkey.encode());
            self.put("SubtensorModule", "Uids", &[&key, hotkey], uid.encode());
            self.put("SubtensorModule", "Owner", &[hotkey], coldkey.encode());
            self.put("SubtensorModule", "IsNetworkMember", &[hotkey, &key], true.encode());
        }
    }

    /// Produces the next block: applies the pool, reveals what is due, tells subscribers.
    pub fn produce_block(&mut self) -> u64 {
        let next = self.best + 1;
        self.best = next;
        self.apply_pool(next);
        let forget = next.saturating_sub(HISTORY_BLOCKS);
        self.block_events = self.block_events.split_off(&forget);
        self.block_extrinsics = self.block_extrinsics.split_off(&forget);
        // No subscriber is fine.
        let _ = self.heads.send(next);
        next
    }

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
        self.reveal_weights(block);
        self.reveal_commitments(block);
    }

    fn dispatch(&mut self, extrinsic: &Extrinsic, block: u64) -> Outcome {
        if let Some(failure) = self.forced_failures.pop_front() {
            return Err(failure);
        }
        let mut input = extrinsic.call.as_slice();
        let Ok(index) = <(u8, u8)>::decode(&mut input) else { return Err(("System", "CallFiltered")) };
        let calls = self.calls;
        if index == calls.set_weights || index == calls.set_mechanism_weights || index == calls.commit_timelocked_mechanism_weights {
            self.apply_weights(extrinsic.signer, index, input, block)
        } else if index == calls.set_commitment {
            self.apply_commitment(extrinsic.signer, input, block)
        } else {
            Err(("System", "CallFiltered"))
        }
    }

    fn apply_weights(&mut self, signer: [u8; 32], index: (u8, u8), mut input: &[u8], block: u64) -> Outcome {
        let filtered = ("System", "CallFiltered");
        let (netuid, seen) = if index == self.calls.set_weights {
            let (netuid, uids, weights, version_key) = <(u16, Vec<u16>, Vec<u16>, u64)>::decode(&mut input).map_err(|_| filtered)?;
            (netuid, WeightsCallSeen::Plain { mecid: 0, uids, weights, version_key })
        } else if index == self.calls.set_mechanism_weights {
            let (netuid, mecid, uids, weights, version_key) =
                <(u16, u8, Vec<u16>, Vec<u16>, u64)>::decode(&mut input).map_err(|_| filtered)?;
            (netuid, WeightsCallSeen::Plain { mecid, uids, weights, version_key })
        } else {
            let (netuid, mecid, commit, reveal_round, commit_reveal_version) =
                <(u16, u8, Vec<u8>, u64, u16)>::decode(&mut input).map_err(|_| filtered)?;
            (netuid, WeightsCallSeen::Timelocked { mecid, commit, reveal_round, commit_reveal_version })
        };
        let commit_reveal = self.by_netuid::<bool>("CommitRevealWeightsEnabled", netuid).unwrap_or(true);
        let uid = self.uid_of(netuid, &signer);
        let error = match (&seen, uid) {
            (_, None) => Some("HotKeyNotRegisteredInSubNet"),
            (WeightsCallSeen::Plain { .. }, _) if commit_reveal => Some("CommitRevealEnabled"),
            (WeightsCallSeen::Timelocked { .. }, _) if !commit_reveal => Some("CommitRevealDisabled"),
            (WeightsCallSeen::Plain { uids, weights, .. }, _) if uids.len() != weights.len() => Some("WeightVecNotEqualSize"),
            (WeightsCallSeen::Plain { version_key, .. }, _)
                if *version_key < self.by_netuid::<u64>("WeightsVersionKey", netuid).unwrap_or(0) =>
            {
                Some("IncorrectWeightVersionKey")
            }
            _ => None,
        };
        if let (None, Some(uid)) = (error, uid) {
            let mut last_update: Vec<u64> = self.by_netuid("LastUpdate", netuid).unwrap_or_default();
            if let Some(slot) = last_update.get_mut(usize::from(uid)) {
                *slot = block;
            }
            self.put("SubtensorModule", "LastUpdate", &[&netuid.encode()], last_update.encode());
            match &seen {
                WeightsCallSeen::Plain { uids, weights, .. } => self.write_weights(netuid, uid, uids, weights),
                WeightsCallSeen::Timelocked { commit, reveal_round, .. } => {
                    let reveal_epoch = self.epoch(netuid, block) + self.by_netuid::<u64>("RevealPeriodEpochs", netuid).unwrap_or(1);
                    self.pending_weights.push(PendingWeights {
                        netuid,
                        committer: signer,
                        commit: commit.clone(),
                        reveal_round: *reveal_round,
                        reveal_epoch,
                    });
                }
            }
        }
        self.applied.push_back(AppliedWeights { block, hotkey: signer, netuid, call: seen, error });
        if self.applied.len() > WEIGHTS_HISTORY {
            self.applied.pop_front();
        }
        error.map_or(Ok(()), |name| Err(("SubtensorModule", name)))
    }

    /// `Commitments.set_commitment(netuid, CommitmentInfo { fields })`: registered hotkeys only;
    /// space `max(100, sum of field sizes)` per subnet epoch up to `MaxSpace`; timelocked
    /// fields wait for their drand round.
    fn apply_commitment(&mut self, signer: [u8; 32], mut input: &[u8], block: u64) -> Outcome {
        let malformed = ("System", "CallFiltered");
        let netuid = u16::decode(&mut input).map_err(|_| malformed)?;
        let count = read_compact(&mut input).ok_or(malformed)?;
        let mut size = 0_u64;
        let mut timelocked = Vec::new();
        for _ in 0..count.min(16) {
            let variant = take(&mut input, 1).ok_or(malformed)?[0];
            match variant {
                0 | 135 => {}
                1..=129 => size += take(&mut input, usize::from(variant - 1)).ok_or(malformed)?.len() as u64,
                130..=133 => size += take(&mut input, 32).ok_or(malformed)?.len() as u64,
                134 => {
                    let length = usize::try_from(read_compact(&mut input).ok_or(malformed)?).map_err(|_| malformed)?;
                    let ciphertext = take(&mut input, length).ok_or(malformed)?.to_vec();
                    let round = u64::decode(&mut input).map_err(|_| malformed)?;
                    size += length as u64;
                    timelocked.push((ciphertext, round));
                }
                136 => {
                    let length = usize::try_from(read_compact(&mut input).ok_or(malformed)?).map_err(|_| malformed)?;
                    size += take(&mut input, length).ok_or(malformed)?.len() as u64;
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
        let epoch = self.epoch(netuid, block);
        let max_space = self.get::<u32>("Commitments", "MaxSpace", &[]).unwrap_or(3100);
        let used = self.used_space.get(&(netuid, signer)).filter(|(e, _)| *e == epoch).map_or(0, |(_, used)| *used);
        let space = size.max(100);
        if used + space > u64::from(max_space) {
            return Err(("Commitments", "SpaceLimitExceeded"));
        }
        self.used_space.insert((netuid, signer), (epoch, used + space));
        for (ciphertext, round) in timelocked {
            self.pending_reveals.push(PendingReveal { netuid, hotkey: signer, ciphertext, round });
        }
        Ok(())
    }

    /// `Weights(netuid, uid) = zip(uids, values)`, as subtensor stores a weight vector.
    fn write_weights(&mut self, netuid: u16, uid: u16, uids: &[u16], values: &[u16]) {
        let pairs: Vec<(u16, u16)> = uids.iter().copied().zip(values.iter().copied()).collect();
        self.put("SubtensorModule", "Weights", &[&netuid.encode(), &uid.encode()], pairs.encode());
    }

    /// Subtensor's epoch of `block` on `netuid`: `(block + netuid + 1) / (tempo + 1)`.
    #[must_use]
    pub fn epoch(&self, netuid: u16, block: u64) -> u64 {
        let tempo = u64::from(self.by_netuid::<u16>("Tempo", netuid).unwrap_or(360));
        (block + u64::from(netuid) + 1) / (tempo + 1)
    }

    /// The latest round the beacon has "published": wall-clock quicknet time plus
    /// `drand_lead_rounds`.
    fn latest_drand_round(&self) -> u64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        now.saturating_sub(timelock::QUICKNET_GENESIS) / timelock::QUICKNET_PERIOD + self.drand_lead_rounds
    }

    /// Reveals timelocked weight commits as subtensor does: from the start of their reveal
    /// epoch, once the beacon has the pulse of their round, decrypt, decode
    /// `WeightsTlockPayload { hotkey, uids, values, version_key }`, require the payload's
    /// hotkey to be the committer and the version key to pass, then write `Weights`.
    fn reveal_weights(&mut self, block: u64) {
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
            let decoded = timelock::decrypt(&pending.commit, &self.beacon.sign(pending.reveal_round))
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
            self.revealed_weights.push_back(revealed);
            if self.revealed_weights.len() > WEIGHTS_HISTORY {
                self.revealed_weights.pop_front();
            }
        }
    }

    /// Reveals every pending commitment whose round the beacon has "published" into
    /// `RevealedCommitments` (the last 10 per hotkey, as the runtime keeps).
    fn reveal_commitments(&mut self, block: u64) {
        let latest_round = self.latest_drand_round();
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_reveals).into_iter().partition(|entry| entry.round <= latest_round);
        self.pending_reveals = waiting;
        for reveal in due {
            // Undecryptable fields are dropped silently, as the runtime does.
            let Ok(plaintext) = timelock::decrypt(&reveal.ciphertext, &self.beacon.sign(reveal.round)) else { continue };
            self.push_revealed_commitment(reveal.netuid, reveal.hotkey, plaintext, block);
        }
    }

    /// Appends `(data, block)` to `RevealedCommitments(netuid, hotkey)`, keeping the last 10.
    pub fn push_revealed_commitment(&mut self, netuid: u16, hotkey: [u8; 32], data: Vec<u8>, block: u64) {
        let keys: [&[u8]; 2] = [&netuid.encode(), &hotkey];
        let mut list: Vec<(Vec<u8>, u64)> = self.get("Commitments", "RevealedCommitments", &keys).unwrap_or_default();
        list.push((data, block));
        if list.len() > 10 {
            list.remove(0);
        }
        self.put("Commitments", "RevealedCommitments", &keys, list.encode());
    }

    /// `System.Events` for a block: one `ExtrinsicSuccess`/`ExtrinsicFailed` per extrinsic,
    /// encoded against the runtime's own event types.
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
            .expect("the runtime has System.Events")
            .value_ty();
        let mut out = Vec::new();
        subxt::ext::scale_value::scale::encode_as_type(&Value::unnamed_composite(records), ty, self.decoded.types(), &mut out)
            .expect("events encode against the runtime's types");
        out
    }

    fn error_index(&self, pallet: &str, error: &str) -> (u8, u8) {
        let pallet = self.decoded.pallet_by_name(pallet).expect("the pallet exists in the runtime");
        let index = pallet
            .error_variants()
            .and_then(|variants| variants.iter().find(|v| v.name == error))
            .expect("the error exists in the runtime")
            .index;
        (pallet.error_index(), index)
    }
}

/// `serde` for 32-byte arrays as hex.
pub(super) mod hex_array {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text).ok().and_then(|v| v.try_into().ok()).ok_or_else(|| serde::de::Error::custom("expected 32 hex bytes"))
    }
}

/// `serde` for byte vectors as hex.
pub(super) mod hex_bytes {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hashes_map_back_to_their_numbers() {
        for number in [0, 1, 2, 179, 1_000_000, u64::from(u32::MAX) + 7] {
            assert_eq!(block_number(&block_hash(number)), Some(number));
        }
        let mut forged = block_hash(5);
        forged[31] ^= 1;
        assert_eq!(block_number(&forged), None);
        assert_eq!(block_number(&[0; 32]), None);
    }

    #[test]
    fn eras_are_born_where_sp_runtime_puts_them() {
        assert_eq!(era_birth(&[0], 100), 0);
        // Mortal era of period 64 with phase 100 % 64 = 36, as subxt encodes it at block 100.
        let period: u64 = 64;
        let phase = 100 % period;
        let encoded = u64::from((period.trailing_zeros() - 1).clamp(1, 15)) | (phase << 4);
        let bytes = u16::try_from(encoded).expect("fits").to_le_bytes();
        assert_eq!(era_birth(&bytes, 120), 100);
    }
}
