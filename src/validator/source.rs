//! Where a tempo's weights come from: the local weight pass over the result store (the
//! `af weights -r` path), or a published `latest.json` (R2-weights mode).

use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;

use super::Error;
use super::r2;
use crate::miners::{DiscoveryOptions, Sources};
use crate::store::Store;
use crate::store::backend::Fetched;
use crate::store::{Backend, BackendConfig};
use crate::weight_pass::{self, Pass};

/// Deadline of the `latest.json` download (the reference's 30 s).
const R2_TIMEOUT: Duration = Duration::from_secs(30);

/// The weights of one tempo, ready to set.
#[derive(Debug, Clone)]
pub struct Computed {
    /// The block they were computed for (local) or published at (R2).
    pub block: u64,
    /// `(uid, weight)` pairs.
    pub vector: Vec<(u32, f64)>,
    /// The hotkeys by uid the vector refers to: a set refuses a uid that changed hands.
    pub hotkeys: Vec<String>,
    /// Why the weights went to uid 0, when they did.
    pub note: Option<String>,
    /// The local pass, whose summary is saved (`None` in R2 mode, or without results).
    pub pass: Option<Arc<Pass>>,
}

/// Local computation's inputs.
#[derive(Debug)]
pub struct LocalSource {
    /// The result store (and where summaries go).
    pub store: Store,
    /// Which miners are queryable.
    pub discovery: DiscoveryOptions,
    /// Blocks of history scored.
    pub tail: u64,
    /// Threads that parse shards.
    pub threads: usize,
    /// Set a vector computed from zero records instead of refusing it (as `af weights -r --set
    /// --allow-empty`): zero records usually mean a wrong store setting, not an empty network.
    pub allow_empty: bool,
}

/// R2-weights mode's inputs.
#[derive(Debug)]
pub struct R2Source {
    /// The URL, for messages.
    pub url: String,
    backend: Backend,
    key: String,
    /// Oldest file accepted, in blocks behind the head.
    pub max_age: u64,
    /// The subnet whose metagraph the hotkeys are mapped onto.
    pub netuid: u16,
}

impl R2Source {
    /// A reader of `url` (a full URL of a `latest.json`).
    ///
    /// # Errors
    /// A URL without a file name, or an HTTP client that cannot be built.
    pub fn new(url: &str, max_age: u64, netuid: u16) -> Result<Self, Error> {
        let (base, key) = url
            .rsplit_once('/')
            .filter(|(base, key)| !key.is_empty() && base.contains("://"))
            .ok_or_else(|| Error::Config(format!("AFFINE_R2_WEIGHTS_URL must be the http(s) URL of a file, not {url:?}")))?;
        let backend = Backend::new(&BackendConfig::Public(base.to_owned()), R2_TIMEOUT)
            .map_err(|source| Error::Store { what: "setting up the R2 reader", source })?;
        Ok(Self { url: url.to_owned(), backend, key: key.to_owned(), max_age, netuid })
    }
}

/// The source of a validator's weights.
#[derive(Debug)]
pub enum WeightSource {
    /// Computed from the result store.
    Local(Box<LocalSource>),
    /// Taken from a published summary.
    R2(R2Source),
}

impl WeightSource {
    /// `local` or `r2`, for logs and reports.
    #[must_use]
    pub const fn mode(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::R2(_) => "r2",
        }
    }

    /// The weights for a tempo at `head`.
    ///
    /// # Errors
    /// The chain, the store or the published file failed, or the file was refused.
    pub async fn compute(&self, sources: &Sources, head: u64) -> Result<Computed, Error> {
        match self {
            Self::Local(local) => compute_local(local, sources).await,
            Self::R2(r2) => compute_r2(r2, sources, head).await,
        }
    }
}

async fn compute_local(local: &LocalSource, sources: &Sources) -> Result<Computed, Error> {
    let hidden = ProgressBar::hidden();
    let snapshot = weight_pass::chain_snapshot(sources, &local.discovery, local.tail, &hidden).await.map_err(Error::Discovery)?;
    let hotkeys = snapshot.hotkeys.clone();
    let pass = weight_pass::compute(&local.store, snapshot, local.threads, &hidden)
        .await
        .map_err(|source| Error::Store { what: "scoring the result store", source })?;
    let input = &pass.outcome.input;
    tracing::info!(
        block = pass.block(),
        records = input.load.records,
        shards = input.load.shards,
        downloaded = pass.download.objects,
        cached = pass.download.cache_hits,
        "weights computed"
    );
    if input.load.records == 0 && !local.allow_empty {
        return Err(Error::Empty { store: local.store.reader().label().to_owned() });
    }
    let note = pass.outcome.report.note.clone();
    // The reference saves no summary when no results were collected.
    let saved = (input.load.records > 0).then(|| Arc::new(pass.clone()));
    Ok(Computed { block: pass.block(), vector: pass.vector().to_vec(), hotkeys, note, pass: saved })
}

async fn compute_r2(r2: &R2Source, sources: &Sources, head: u64) -> Result<Computed, Error> {
    tracing::info!(url = %r2.url, "downloading the published weights");
    let body = match r2.backend.get(&r2.key, None).await {
        Ok(Fetched::Found(object)) => object.bytes,
        Ok(Fetched::Missing) => return Err(Error::R2 { url: r2.url.clone(), reason: "not found (HTTP 404)".to_owned() }),
        Ok(Fetched::NotModified) => return Err(Error::R2 { url: r2.url.clone(), reason: "unexpected 304".to_owned() }),
        Err(source) => return Err(Error::Store { what: "downloading the published weights", source }),
    };
    // Which uid each hotkey holds now: the file's uids are not trusted.
    let metagraph = sources.chain.metagraph(r2.netuid).await.map_err(|source| Error::Chain { what: "reading the metagraph", source })?;
    let hotkeys: Vec<String> = metagraph.neurons.iter().map(|n| n.hotkey.to_ss58()).collect();
    let published = r2::published_vector(&body, head, r2.max_age, &hotkeys).map_err(|reason| Error::R2 { url: r2.url.clone(), reason })?;
    if published.unregistered > 0 || published.moved > 0 {
        tracing::warn!(
            unregistered = published.unregistered,
            moved = published.moved,
            "published weights name hotkeys that left the subnet or changed uid; mapped by hotkey"
        );
    }
    tracing::info!(block = published.block, uids = published.vector.len(), "published weights accepted");
    let note = (published.vector == [(0, 1.0)]).then(|| "No eligible miners in the published weights, defaulting to uid 0".to_owned());
    Ok(Computed { block: published.block, vector: published.vector, hotkeys, note, pass: None })
}
