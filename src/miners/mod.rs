//! Miner discovery: which committed miners the validator samples, and why the others are not.
//!
//! The rules are the reference's (`miners.miners`, spec/services.md §1.5, §2.2, §2.3): each
//! hotkey's latest revealed commitment `{model, revision, chute_id}` (uid 0's block counts as
//! 0), the blacklist, Hugging Face gating, the chute checks (answered, hot, name equal to the
//! model, `affine` prefix for uids other than 0, pinned revision equal to the committed one),
//! then duplicate weights (equal safetensors sha256 sets) and duplicate models, both resolved
//! in favour of the earliest block. Unlike the reference, every rejected miner is reported with
//! its reason instead of being dropped silently.
//!
//! Discovery composes the existing clients ([`ChainClient`], [`ChutesClient`], [`HubClient`]);
//! lookups are bounded by one semaphore and cached with the reference's TTLs.

mod cache;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::chain::client::{ChainClient, RevealedCommitment};
use crate::chain::signing::PublicKey;
use crate::error::one_line;
use crate::hub::HubClient;
use crate::inference::InferenceUrlTemplate;
use crate::inference::chutes::{Chute, ChutesClient};
use crate::store::replay::MetagraphSnapshot;

use cache::{Fetched, TtlCache};
pub use rules::{Commitment, Rejection};

/// How long a gating answer is reused (the reference's `GATING_TTL`).
pub const GATING_TTL: Duration = Duration::from_secs(3600);
/// How long a weights sha set (or the failure to get one) is reused (`WEIGHTS_TTL`).
pub const WEIGHTS_TTL: Duration = Duration::from_secs(3600);
/// How long a chute answer is reused. The reference fetched every chute on every refresh;
/// a minute keeps a validator's repeated refreshes cheap while a chute that goes cold is
/// noticed quickly.
pub const CHUTE_TTL: Duration = Duration::from_secs(60);
/// Lookups in flight at once (the reference's `AFFINE_META_CONCURRENCY` default).
pub const DEFAULT_CONCURRENCY: usize = 12;

/// Failures that stop discovery as a whole (per-miner failures become rejections).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the metagraph or the commitments failed.
    #[error("failed to read {what} of netuid {netuid}")]
    Chain {
        /// What was being read.
        what: &'static str,
        /// The subnet.
        netuid: u16,
        /// The chain error.
        #[source]
        source: crate::chain::Error,
    },
}

/// The clients discovery reads from, and the lookup caches (keep one `Sources` alive across
/// refreshes to benefit from them).
pub struct Sources {
    /// The subtensor node.
    pub chain: ChainClient,
    /// The Chutes API.
    pub chutes: ChutesClient,
    /// The Hugging Face Hub.
    pub hub: HubClient,
    gating: TtlCache<String, Result<bool, String>>,
    weights: TtlCache<(String, String), BTreeSet<String>>,
    chutes_cache: TtlCache<String, Result<Chute, String>>,
}

impl Sources {
    /// Sources with empty caches.
    #[must_use]
    pub fn new(chain: ChainClient, chutes: ChutesClient, hub: HubClient) -> Self {
        Self {
            chain,
            chutes,
            hub,
            gating: TtlCache::new(GATING_TTL),
            weights: TtlCache::new(WEIGHTS_TTL),
            chutes_cache: TtlCache::new(CHUTE_TTL),
        }
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// The subnet.
    pub netuid: u16,
    /// Hotkeys (SS58) never sampled (`AFFINE_MINER_BLACKLIST`).
    pub blacklist: BTreeSet<String>,
    /// Lookups in flight at once (`AFFINE_META_CONCURRENCY`).
    pub concurrency: usize,
    /// Where a chute's OpenAI-compatible endpoint is (`AF_INFERENCE_URL_TEMPLATE`).
    pub inference_url: InferenceUrlTemplate,
    /// `false` skips the chute checks, as the reference's `check_validity=False` (gating and
    /// the duplicate filters still apply).
    pub check_validity: bool,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            netuid: 120,
            blacklist: BTreeSet::new(),
            concurrency: DEFAULT_CONCURRENCY,
            inference_url: InferenceUrlTemplate::default(),
            check_validity: true,
        }
    }
}

/// The verdict on one miner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Sampled.
    Valid,
    /// Not sampled, and why.
    Rejected {
        /// The reason.
        reason: Rejection,
    },
}

/// One uid as discovery saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Miner {
    /// Its uid.
    pub uid: u16,
    /// Its hotkey (SS58).
    pub hotkey: String,
    /// Committed model, if the commitment parsed.
    pub model: Option<String>,
    /// Committed revision.
    pub revision: Option<String>,
    /// Committed chute id.
    pub chute_id: Option<String>,
    /// Block of the commitment used (forced to 0 for uid 0).
    pub block: Option<u64>,
    /// Block of the hotkey's first revealed commitment.
    pub first_block: Option<u64>,
    /// The chute's slug (its inference host label), when the chute was read.
    pub slug: Option<String>,
    /// The OpenAI-compatible base URL the validator queries (the slug through
    /// [`DiscoveryOptions::inference_url`]).
    pub base_url: Option<String>,
    /// The chute as the API answered, minus the bulky fields.
    pub chute: Option<Chute>,
    /// The revision's safetensors sha256 set, sorted (empty when unknown).
    pub weights_shas: Vec<String>,
    /// Valid or rejected.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Miner {
    /// Whether the validator samples it.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.verdict == Verdict::Valid
    }
}

/// The result of one discovery pass.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// The subnet.
    pub netuid: u16,
    /// The block the metagraph was read at.
    pub block: u64,
    /// Hotkeys (SS58) by uid.
    pub hotkeys: Vec<String>,
    /// One entry per uid, ascending.
    pub miners: Vec<Miner>,
    /// Rejections counted by [`Rejection::kind`].
    pub rejected: BTreeMap<&'static str, usize>,
}

impl Discovery {
    /// The hotkeys the validator samples.
    #[must_use]
    pub fn queryable(&self) -> BTreeSet<String> {
        self.miners.iter().filter(|m| m.is_valid()).map(|m| m.hotkey.clone()).collect()
    }

    /// Each committed hotkey's first revealed commitment block.
    #[must_use]
    pub fn first_commit_blocks(&self) -> BTreeMap<String, u64> {
        self.miners.iter().filter_map(|m| Some((m.hotkey.clone(), m.first_block?))).collect()
    }

    /// The valid miners.
    pub fn valid(&self) -> impl Iterator<Item = &Miner> {
        self.miners.iter().filter(|m| m.is_valid())
    }

    /// The scoring snapshot of this pass, as the reference's weight computation builds it:
    /// the hotkeys by uid, the valid ones as queryable, and for every committed hotkey the block
    /// of its latest commitment (0 for uid 0) as its first block; nothing burned.
    #[must_use]
    pub fn scoring_snapshot(&self, tail: u64) -> MetagraphSnapshot {
        MetagraphSnapshot {
            netuid: Some(self.netuid),
            block: self.block,
            tail,
            hotkeys: self.hotkeys.clone(),
            queryable: self.valid().map(|m| m.hotkey.clone()).collect(),
            first_commit_block: self
                .miners
                .iter()
                .filter_map(|m| Some((m.hotkey.clone(), i64::try_from(m.block?).unwrap_or(i64::MAX))))
                .collect(),
            burn: 0.0,
        }
    }
}

/// Each hotkey's first revealed commitment block (lists are oldest first, as the chain client
/// returns them).
#[must_use]
pub fn first_commit_blocks(revealed: &BTreeMap<PublicKey, Vec<RevealedCommitment>>) -> BTreeMap<String, u64> {
    revealed.iter().filter_map(|(hotkey, list)| Some((hotkey.to_ss58(), list.iter().map(|c| c.block).min()?))).collect()
}

/// Parses `AFFINE_MINER_BLACKLIST`: comma-separated hotkeys, blanks ignored.
#[must_use]
pub fn parse_blacklist(text: &str) -> BTreeSet<String> {
    text.split(',').map(str::trim).filter(|hotkey| !hotkey.is_empty()).map(str::to_owned).collect()
}

/// Reads the metagraph and the revealed commitments of `options.netuid`, checks every uid, and
/// returns one verdict per uid. `progress` gets its length set to the number of uids with a
/// commitment and advances as each is checked.
///
/// # Errors
/// [`Error::Chain`] when the metagraph or the commitments cannot be read; failures of the Hub or
/// Chutes only reject the miners concerned.
pub async fn discover(sources: &Sources, options: &DiscoveryOptions, progress: &ProgressBar) -> Result<Discovery, Error> {
    let netuid = options.netuid;
    let metagraph = sources.chain.metagraph(netuid).await.map_err(|source| Error::Chain { what: "the metagraph", netuid, source })?;
    let revealed = sources.chain.revealed_commitments(netuid).await.map_err(|source| Error::Chain {
        what: "the revealed commitments",
        netuid,
        source,
    })?;
    let first_blocks = first_commit_blocks(&revealed);
    progress.set_length(metagraph.neurons.iter().filter(|n| revealed.contains_key(&n.hotkey)).count() as u64);
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));

    let checks = metagraph.neurons.iter().map(|neuron| {
        let hotkey = neuron.hotkey.to_ss58();
        let latest = revealed.get(&neuron.hotkey).and_then(|list| list.last());
        let first_block = first_blocks.get(&hotkey).copied();
        let semaphore = semaphore.clone();
        async move {
            let miner = check_miner(sources, options, &semaphore, neuron.uid, hotkey, latest, first_block).await;
            if latest.is_some() {
                progress.inc(1);
            }
            miner
        }
    });
    let mut miners: Vec<Miner> = join_all(checks).await;

    let candidates: Vec<rules::Candidate> = miners
        .iter()
        .filter(|m| m.is_valid())
        .filter_map(|m| {
            Some(rules::Candidate {
                uid: m.uid,
                block: m.block?,
                model: m.model.clone()?,
                weights_shas: m.weights_shas.iter().cloned().collect(),
            })
        })
        .collect();
    let duplicates = rules::duplicates(&candidates);
    let mut rejected: BTreeMap<&'static str, usize> = BTreeMap::new();
    for miner in &mut miners {
        if let Some(reason) = duplicates.get(&miner.uid) {
            miner.verdict = Verdict::Rejected { reason: reason.clone() };
        }
        if let Verdict::Rejected { reason } = &miner.verdict {
            *rejected.entry(reason.kind()).or_default() += 1;
            tracing::debug!(uid = miner.uid, hotkey = %miner.hotkey, model = ?miner.model, %reason, "miner rejected");
        }
    }
    let valid = miners.iter().filter(|m| m.is_valid()).count();
    tracing::info!(netuid, block = metagraph.block, uids = miners.len(), valid, ?rejected, "miner discovery done");
    Ok(Discovery {
        netuid,
        block: metagraph.block,
        hotkeys: metagraph.neurons.iter().map(|n| n.hotkey.to_ss58()).collect(),
        miners,
        rejected,
    })
}

/// The per-miner checks (everything except the duplicate filters).
async fn check_miner(
    sources: &Sources,
    options: &DiscoveryOptions,
    semaphore: &Semaphore,
    uid: u16,
    hotkey: String,
    latest: Option<&RevealedCommitment>,
    first_block: Option<u64>,
) -> Miner {
    let mut miner = Miner {
        uid,
        hotkey,
        model: None,
        revision: None,
        chute_id: None,
        block: None,
        first_block,
        slug: None,
        base_url: None,
        chute: None,
        weights_shas: Vec::new(),
        verdict: Verdict::Valid,
    };
    let reject = |mut miner: Miner, reason: Rejection| {
        miner.verdict = Verdict::Rejected { reason };
        miner
    };
    // Known for every committed hotkey, blacklisted ones too: the scorer's first-block map
    // covers them all, as the reference's does.
    miner.block = latest.map(|latest| if uid == 0 { 0 } else { latest.block });
    if options.blacklist.contains(&miner.hotkey) {
        return reject(miner, Rejection::Blacklisted);
    }
    let Some(latest) = latest else { return reject(miner, Rejection::NoCommitment) };
    let commitment = match rules::parse_commitment(&latest.text) {
        Ok(commitment) => commitment,
        Err(reason) => return reject(miner, Rejection::MalformedCommitment { reason }),
    };
    miner.model = Some(commitment.model.clone());
    miner.revision = Some(commitment.revision.clone());
    miner.chute_id = Some(commitment.chute_id.clone());

    match gating(sources, semaphore, &commitment.model).await {
        Ok(false) => {}
        Ok(true) => return reject(miner, Rejection::Gated),
        Err(reason) => return reject(miner, Rejection::ModelUnavailable { reason }),
    }
    miner.weights_shas = weights_shas(sources, semaphore, &commitment.model, &commitment.revision).await.into_iter().collect();
    if !options.check_validity {
        return miner;
    }
    let chute = match chute(sources, semaphore, &commitment.chute_id).await {
        Ok(chute) => chute,
        Err(reason) => return reject(miner, Rejection::ChuteUnavailable { reason }),
    };
    miner.slug.clone_from(&chute.slug);
    miner.base_url = chute.inference_url(&options.inference_url);
    let checked = rules::check_chute(uid, &commitment, &chute);
    miner.chute = Some(chute);
    match checked {
        Ok(()) => miner,
        Err(reason) => reject(miner, reason),
    }
}

/// Gating of `model`, cached per repository; a failed lookup reuses a stale answer.
async fn gating(sources: &Sources, semaphore: &Semaphore, model: &str) -> Result<bool, String> {
    sources
        .gating
        .get_or_fetch(&model.to_owned(), || async {
            let _permit = semaphore.acquire().await;
            match sources.hub.is_gated(model).await {
                Ok(gated) => Fetched::Store(Ok(gated)),
                Err(error) => Fetched::Transient(Err(one_line(&error))),
            }
        })
        .await
}

/// The safetensors sha set of `model@revision`; failures count as "unknown" (empty) and are
/// cached like answers, as the reference does.
async fn weights_shas(sources: &Sources, semaphore: &Semaphore, model: &str, revision: &str) -> BTreeSet<String> {
    sources
        .weights
        .get_or_fetch(&(model.to_owned(), revision.to_owned()), || async {
            let _permit = semaphore.acquire().await;
            match sources.hub.weights_shas(model, revision).await {
                Ok(shas) => Fetched::Store(shas),
                Err(error) => {
                    tracing::trace!(model, revision, error = %one_line(&error), "weights sha lookup failed");
                    Fetched::Store(BTreeSet::new())
                }
            }
        })
        .await
}

/// The chute `chute_id`; answers (including "not found") are cached briefly, transport
/// failures are not.
async fn chute(sources: &Sources, semaphore: &Semaphore, chute_id: &str) -> Result<Chute, String> {
    sources
        .chutes_cache
        .get_or_fetch(&chute_id.to_owned(), || async {
            let _permit = semaphore.acquire().await;
            match sources.chutes.get_chute(chute_id).await {
                Ok(chute) => Fetched::Store(Ok(chute)),
                Err(error) if error.status().is_some() && !error.is_transient() => Fetched::Store(Err(one_line(&error))),
                Err(error) => Fetched::Transient(Err(one_line(&error))),
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blacklist_is_comma_separated_and_trimmed() {
        let list = parse_blacklist(" 5Abc, ,5Def ,");
        assert_eq!(list.into_iter().collect::<Vec<_>>(), vec!["5Abc".to_owned(), "5Def".to_owned()]);
        assert!(parse_blacklist("").is_empty());
    }

    #[test]
    fn first_commit_blocks_take_the_earliest_reveal() {
        let mut revealed = BTreeMap::new();
        let commitment = |block| RevealedCommitment { block, text: String::new() };
        revealed.insert(PublicKey([1; 32]), vec![commitment(40), commitment(45)]);
        revealed.insert(PublicKey([2; 32]), vec![]);
        let blocks = first_commit_blocks(&revealed);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[&PublicKey([1; 32]).to_ss58()], 40);
    }
}
