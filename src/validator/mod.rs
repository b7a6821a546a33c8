//! The `af validate` loop: every interval, the weights of the tempo (computed locally or taken
//! from R2), set through the signer (or the local wallet when the signer is unreachable),
//! confirmed, and retried inside the tempo until they are.
//!
//! - [`schedule`]: when a tempo is due (level-triggered on the best head).
//! - [`watchdog`]: progress timestamps and the check that ends a stuck process.
//! - [`r2`]: R2-weights mode's checks of a published `latest.json`.
//! - [`source`]: where a tempo's weights come from.
//! - [`setter`]: the signer route and the local fallback.
//!
//! Three tasks run: a head follower (new best heads into a watch channel, each one progress
//! for the watchdog), the watchdog, and the loop. The loop checks the cancellation token
//! between steps and never inside one: a weight set that started finishes (with its own
//! deadline), so a stop never leaves the validator unsure whether an extrinsic landed.
//! Summaries are saved in the background, so a failed upload never holds up a set.
//!
//! Every chain and HTTP call has a deadline (the chain client's per-call timeout, the signer
//! client's, the store's); a phase that still hangs is the watchdog's.

pub mod r2;
pub mod schedule;
pub mod setter;
pub mod source;
pub mod watchdog;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chain::signing::PublicKey;
use crate::miners::Sources;
use schedule::Schedule;
use setter::{Route, Setter};
use source::{Computed, WeightSource};
use watchdog::{Progress, Stall};

/// The last confirmed set is "old" past this many intervals: an `ALERT` line.
pub const ALERT_INTERVALS: u64 = 2;
/// Time between summary upload attempts, and how many are made.
const UPLOAD_RETRY: Duration = Duration::from_secs(10);
const UPLOAD_ATTEMPTS: u32 = 3;
/// Pause after a head-follower error before it tries again.
const FOLLOW_RETRY: Duration = Duration::from_secs(1);
/// The loop looks at the state at least this often, new head or not.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// Why the validator stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is unusable (exit code 2).
    #[error("{0}")]
    Config(String),
    /// A chain call failed.
    #[error("failed while {what}")]
    Chain {
        /// What was being done.
        what: &'static str,
        /// The chain error.
        #[source]
        source: crate::chain::Error,
    },
    /// Miner discovery failed.
    #[error("failed to read the miners")]
    Discovery(#[source] crate::miners::Error),
    /// The store failed.
    #[error("failed while {what}")]
    Store {
        /// What was being done.
        what: &'static str,
        /// The store error.
        #[source]
        source: crate::store::Error,
    },
    /// The published weights were refused.
    #[error("published weights at {url} not used: {reason}")]
    R2 {
        /// The file.
        url: String,
        /// Why.
        reason: String,
    },
    /// The store had no result records in the window (refused unless `--allow-empty`).
    #[error(
        "no result records in the scored window of {store}: refusing to set everything to uid 0 (check the store settings, or pass --allow-empty)"
    )]
    Empty {
        /// The store read.
        store: String,
    },
    /// The signer could not be asked for its hotkey.
    #[error("failed to learn the signer's hotkey")]
    Signer(#[source] crate::signer::client::Error),
    /// The watchdog fired.
    #[error("watchdog: {0}; exiting so the container is restarted")]
    Stalled(Stall),
}

impl Error {
    /// Whether the user must fix a setting (exit code 2).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        match self {
            Self::Config(_) => true,
            Self::Chain { source, .. } => source.is_user_input(),
            Self::Signer(source) => source.is_user_input(),
            _ => false,
        }
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Chain { source: crate::chain::Error::NotRegistered { .. }, .. } => {
                Some("register the hotkey on the subnet (btcli subnets register), or pick another with --wallet.name/--wallet.hotkey")
            }
            Self::Signer(_) => Some("check SIGNER_URL and that af signer runs; with a token, set the same SIGNER_TOKEN on both sides"),
            _ => None,
        }
    }
}

/// What the validator needs that settings resolve.
#[derive(Debug)]
pub struct ValidatorConfig {
    /// The subnet.
    pub netuid: u16,
    /// Blocks between weight sets.
    pub interval: u64,
    /// Time without progress before the watchdog fires.
    pub watchdog_timeout: Duration,
    /// Pause between two set attempts of a tempo (at least one new block passes too).
    pub retry_delay: Duration,
    /// Do everything but signing (and writing summaries).
    pub dry_run: bool,
}

/// One tempo as it ended: what `af validate` prints (text, or one JSON object with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct TempoReport {
    /// The boundary (multiple of the interval) the tempo belongs to.
    pub boundary: u64,
    /// The head it started at.
    pub head: u64,
    /// `local` or `r2`.
    pub mode: &'static str,
    /// `confirmed`, `dry_run` or `abandoned` (its window closed unconfirmed).
    pub result: &'static str,
    /// `signer` or `local`, for sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// The signer was unreachable and the local hotkey set the weights.
    pub fell_back: bool,
    /// The block the weights were computed for (local) or published at (R2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scored_block: Option<u64>,
    /// Uids of the vector.
    pub uids: Vec<u32>,
    /// Their float weights.
    pub weights: Vec<f64>,
    /// The u16 weights and the call a dry run would send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<Box<crate::weights_set::SetReport>>,
    /// Why the weights went to uid 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set attempts made.
    pub attempts: u32,
    /// The hotkey's `LastUpdate` after the confirmed set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_block: Option<u64>,
    /// The last confirmed set before or at this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_confirmed_block: Option<u64>,
    /// The head of the last set attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_block: Option<u64>,
    /// The last failure, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds from the tempo's start to its end.
    pub seconds: f64,
}

impl TempoReport {
    /// The text form.
    #[must_use]
    pub fn text(&self) -> String {
        let vector: Vec<String> = self.uids.iter().zip(&self.weights).map(|(uid, w)| format!("{uid}:{w:.6}")).collect();
        let how = match (self.result, self.route) {
            ("confirmed", Some(route)) => format!(
                "confirmed at block {} via {}{} after {} attempt(s)",
                self.confirmed_block.map_or_else(|| "?".to_owned(), |b| b.to_string()),
                route.name(),
                if self.fell_back { " (signer unreachable)" } else { "" },
                self.attempts
            ),
            ("dry_run", _) => "dry run: nothing signed, sent or saved".to_owned(),
            (result, _) => format!("{result} after {} attempt(s): {}", self.attempts, self.error.as_deref().unwrap_or("-")),
        };
        let mut text = format!(
            "tempo {} (head {}, {} weights{}): {how} in {:.1} s\nweights: {}\n",
            self.boundary,
            self.head,
            self.mode,
            self.scored_block.map(|b| format!(" of block {b}")).unwrap_or_default(),
            self.seconds,
            vector.join(" ")
        );
        if let Some(report) = &self.dry_run {
            let u16s: Vec<String> = report.uids.iter().zip(&report.weights).map(|(uid, w)| format!("{uid}:{w}")).collect();
            let _ = writeln!(text, "u16 weights: {}{}", u16s.join(" "), report.call.map(|c| format!(" ({c})")).unwrap_or_default());
        }
        if let Some(note) = &self.note {
            let _ = writeln!(text, "note: {note}");
        }
        text
    }
}

/// A validator ready to run: registered, with its schedule.
pub struct Validator {
    config: ValidatorConfig,
    sources: Arc<Sources>,
    source: WeightSource,
    setter: Setter,
    hotkey: PublicKey,
    uid: u16,
    schedule: Schedule,
    /// The last confirmed set (the hotkey's `LastUpdate` then), apart from the last attempt.
    last_confirmed: Option<u64>,
    last_attempt: Option<u64>,
    /// The block the `ALERT` age counts from when nothing was confirmed since start.
    alert_base: u64,
    last_alert: Option<u64>,
    uploads: TaskTracker,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("hotkey", &self.hotkey)
            .field("uid", &self.uid)
            .field("schedule", &self.schedule)
            .field("last_confirmed", &self.last_confirmed)
            .field("last_attempt", &self.last_attempt)
            .finish_non_exhaustive()
    }
}

/// A tempo in progress.
#[derive(Debug)]
struct Tempo {
    boundary: u64,
    head: u64,
    started: Instant,
    computed: Option<Computed>,
    attempts: u32,
    next_block: u64,
    not_before: Instant,
    last_error: Option<String>,
    last_route: Option<Route>,
}

impl Validator {
    /// Checks the hotkey is registered and plans the first tempo: at once when its
    /// `LastUpdate` is older than one interval and the rate limit allows.
    ///
    /// # Errors
    /// The chain cannot be read, or the hotkey is not registered (exit code 2).
    pub async fn start(
        config: ValidatorConfig,
        sources: Arc<Sources>,
        source: WeightSource,
        setter: Setter,
        hotkey: PublicKey,
    ) -> Result<Self, Error> {
        let netuid = config.netuid;
        let metagraph = sources.chain.metagraph(netuid).await.map_err(|source| Error::Chain { what: "reading the metagraph", source })?;
        let neuron = metagraph.neurons.iter().find(|n| n.hotkey == hotkey).ok_or_else(|| Error::Chain {
            what: "checking the hotkey",
            source: crate::chain::Error::NotRegistered { netuid, hotkey: hotkey.to_ss58() },
        })?;
        let params =
            sources.chain.subnet_params(netuid).await.map_err(|source| Error::Chain { what: "reading the subnet parameters", source })?;
        let head = sources.chain.best_block().await.map_err(|source| Error::Chain { what: "reading the best block", source })?;
        let schedule = Schedule::start(config.interval, head, neuron.last_update, params.weights_rate_limit);
        tracing::warn!(
            netuid,
            uid = neuron.uid,
            hotkey = %hotkey,
            head,
            last_update = neuron.last_update,
            next = schedule.next(),
            interval = config.interval,
            mode = source.mode(),
            dry_run = config.dry_run,
            "validator started"
        );
        let last_confirmed = (neuron.last_update > 0).then_some(neuron.last_update);
        Ok(Self {
            uid: neuron.uid,
            alert_base: last_confirmed.unwrap_or(head).max(head),
            config,
            sources,
            source,
            setter,
            hotkey,
            schedule,
            last_confirmed,
            last_attempt: None,
            last_alert: None,
            uploads: TaskTracker::new(),
        })
    }

    /// Runs until `token` is cancelled (returns `Ok` at the next safe point) or the watchdog
    /// fires ([`Error::Stalled`]). `on_tempo` is told how each tempo ended.
    ///
    /// # Errors
    /// [`Error::Stalled`] only: every other failure is logged and retried.
    pub async fn run(mut self, mut on_tempo: impl FnMut(&TempoReport), token: CancellationToken) -> Result<(), Error> {
        let progress = Arc::new(Progress::new());
        let (heads_tx, mut heads) = watch::channel(0_u64);
        let follower_token = token.child_token();
        let follower = tokio::spawn(follow_heads(self.sources.clone(), progress.clone(), heads_tx, follower_token.clone()));
        let watchdog = watchdog::watch(&progress, self.config.watchdog_timeout);
        tokio::pin!(watchdog);
        let mut tempo: Option<Tempo> = None;
        let mut seen = 0_u64;
        let outcome = loop {
            tokio::select! {
                biased;
                () = token.cancelled() => break Ok(()),
                stall = &mut watchdog => break Err(Error::Stalled(stall)),
                changed = tokio::time::timeout(IDLE_CHECK, heads.changed()) => {
                    if matches!(changed, Ok(Err(_))) {
                        break Ok(());
                    }
                }
            }
            let head = *heads.borrow_and_update();
            if head == 0 || head < seen {
                continue;
            }
            seen = head;
            self.alert(head);
            // The token is not raced against the step (it checks it between its parts); the
            // watchdog is, because it fires only when the process is stuck and ends it anyway.
            tokio::select! {
                biased;
                stall = &mut watchdog => break Err(Error::Stalled(stall)),
                () = self.step(&mut tempo, head, &progress, &mut on_tempo, &token) => {}
            }
        };
        follower_token.cancel();
        let _ = follower.await;
        self.uploads.close();
        if outcome.is_ok() {
            // Uploads that started finish (they are short and have deadlines of their own).
            self.uploads.wait().await;
        }
        outcome
    }

    fn alert(&mut self, head: u64) {
        // Counted from the last confirmed set, or from the start when that is later (a
        // validator that was down is not alerted before it had two intervals to set).
        let base = self.last_confirmed.unwrap_or(0).max(self.alert_base);
        let age = head.saturating_sub(base);
        let limit = ALERT_INTERVALS * self.schedule.interval();
        if age <= limit || self.last_alert.is_some_and(|at| head < at + self.schedule.interval()) {
            return;
        }
        self.last_alert = Some(head);
        tracing::error!(
            head,
            last_confirmed = self.last_confirmed,
            last_attempt = self.last_attempt,
            age_blocks = age,
            "ALERT: no weights confirmed for {age} blocks (more than {ALERT_INTERVALS} intervals of {})",
            self.schedule.interval()
        );
    }

    /// One pass over the state at `head`: start a tempo when due, retry the current one.
    async fn step(
        &mut self,
        current: &mut Option<Tempo>,
        head: u64,
        progress: &Progress,
        on_tempo: &mut impl FnMut(&TempoReport),
        token: &CancellationToken,
    ) {
        if let Some(tempo) = current.as_ref()
            && !self.schedule.window_open(tempo.head, head)
        {
            let tempo = current.take().expect("checked");
            tracing::warn!(boundary = tempo.boundary, head, attempts = tempo.attempts, "tempo window closed without confirmed weights");
            on_tempo(&self.report(&tempo, "abandoned", None, None));
            self.schedule.advance(tempo.head);
        }
        if current.is_none() && self.schedule.due(head) {
            let boundary = self.schedule.boundary_of(head);
            tracing::info!(boundary, head, mode = self.source.mode(), "tempo due");
            *current = Some(Tempo {
                boundary,
                head,
                started: Instant::now(),
                computed: None,
                attempts: 0,
                next_block: head,
                not_before: Instant::now(),
                last_error: None,
                last_route: None,
            });
        }
        let Some(tempo) = current.as_mut() else { return };
        if head < tempo.next_block || Instant::now() < tempo.not_before || token.is_cancelled() {
            return;
        }
        match self.attempt(tempo, head, progress, token).await {
            Step::Pending => {}
            Step::Done { result, confirmed, dry_run } => {
                let tempo = current.take().expect("in progress");
                let report = self.report(&tempo, result, confirmed, dry_run);
                on_tempo(&report);
                // From the tempo's start, not from now: a set that confirmed past the next
                // boundary leaves that boundary due, so its tempo is not lost.
                self.schedule.advance(tempo.head);
            }
        }
    }

    fn retry_later(&self, tempo: &mut Tempo, head: u64, error: String) {
        tempo.next_block = head + 1;
        tempo.not_before = Instant::now() + self.config.retry_delay;
        tempo.last_error = Some(error);
    }

    async fn attempt(&mut self, tempo: &mut Tempo, head: u64, progress: &Progress, token: &CancellationToken) -> Step {
        let mode = self.source.mode();
        if tempo.computed.is_none() {
            let computing = progress.phase("computing weights");
            let started = Instant::now();
            match self.source.compute(&self.sources, head).await {
                Ok(computed) => {
                    tracing::info!(
                        boundary = tempo.boundary,
                        mode,
                        uids = computed.vector.len(),
                        seconds = started.elapsed().as_secs_f64(),
                        "weights ready"
                    );
                    if !self.config.dry_run
                        && let (Some(pass), WeightSource::Local(local)) = (&computed.pass, &self.source)
                    {
                        let store = local.store.clone();
                        let pass = pass.clone();
                        self.uploads.spawn(async move { upload_summary(store, pass).await });
                    }
                    tempo.computed = Some(computed);
                }
                Err(error) => {
                    let line = crate::error::one_line(&error);
                    tracing::warn!(boundary = tempo.boundary, head, mode, error = %line, "weights not computed; retrying at the next block");
                    self.retry_later(tempo, head, line);
                    return Step::Pending;
                }
            }
            drop(computing);
        }
        if token.is_cancelled() {
            return Step::Pending;
        }
        let computed = tempo.computed.clone().expect("computed above");
        let chain = &self.sources.chain;
        if self.config.dry_run {
            return match self.setter.dry_run(chain, &computed).await {
                Ok(report) => Step::Done { result: "dry_run", confirmed: None, dry_run: Some(Box::new(report)) },
                Err(error) => {
                    tracing::warn!(boundary = tempo.boundary, error = %error, "dry run failed; retrying at the next block");
                    self.retry_later(tempo, head, error);
                    Step::Pending
                }
            };
        }
        // As bittensor does, and without spending an attempt: no set inside the rate limit;
        // and once this tempo has sent a set, a LastUpdate at or past the boundary is its
        // confirmation (an earlier attempt that landed late).
        match self.rate_check(tempo.boundary, tempo.attempts > 0).await {
            Ok(Gate::Set(last_update)) => {
                tracing::info!(boundary = tempo.boundary, last_update, "weights of this tempo already on chain");
                self.last_confirmed = Some(last_update);
                return Step::Done { result: "confirmed", confirmed: Some(last_update), dry_run: None };
            }
            Ok(Gate::TooSoon { last_update, until }) => {
                tracing::info!(boundary = tempo.boundary, head, last_update, until, "inside the subnet's weights rate limit; waiting");
                tempo.next_block = until;
                tempo.last_error = Some(format!("inside the weights rate limit until block {until} (LastUpdate {last_update})"));
                return Step::Pending;
            }
            Ok(Gate::Open) => {}
            Err(error) => {
                let line = crate::error::one_line(&error);
                tracing::warn!(boundary = tempo.boundary, error = %line, "cannot read LastUpdate; retrying at the next block");
                self.retry_later(tempo, head, line);
                return Step::Pending;
            }
        }
        let setting = progress.phase("setting weights");
        let started = Instant::now();
        tempo.attempts += 1;
        self.last_attempt = Some(head);
        // Not raced against the token: a set that started finishes.
        let attempt = self.setter.set(chain, &computed).await;
        drop(setting);
        tempo.last_route = Some(attempt.route);
        let seconds = started.elapsed().as_secs_f64();
        match attempt.result {
            Ok(reported) => {
                // The chain's word, not the signer's: LastUpdate now.
                let confirmed = match self.rate_check(tempo.boundary, true).await {
                    Ok(Gate::Set(last_update) | Gate::TooSoon { last_update, .. }) => Some(last_update),
                    Ok(Gate::Open) | Err(_) => reported,
                };
                self.last_confirmed = confirmed.or(Some(head));
                tracing::info!(
                    block = tempo.boundary,
                    head,
                    uids = computed.vector.len(),
                    mode,
                    route = attempt.route.name(),
                    fell_back = attempt.fell_back,
                    confirmed,
                    attempt = tempo.attempts,
                    seconds,
                    result = "confirmed",
                    "weights set"
                );
                Step::Done { result: "confirmed", confirmed, dry_run: None }
            }
            Err(reason) => {
                tracing::warn!(
                    block = tempo.boundary,
                    head,
                    uids = computed.vector.len(),
                    mode,
                    route = attempt.route.name(),
                    attempt = tempo.attempts,
                    seconds,
                    result = "failed",
                    error = %reason,
                    "weights set failed; retrying in this tempo"
                );
                self.retry_later(tempo, head, reason);
                Step::Pending
            }
        }
    }

    /// The hotkey's `LastUpdate` against the tempo's boundary (once the tempo has sent a set)
    /// and the subnet's rate limit.
    async fn rate_check(&self, boundary: u64, sent: bool) -> Result<Gate, crate::chain::Error> {
        let chain = &self.sources.chain;
        let metagraph = chain.metagraph(self.config.netuid).await?;
        let params = chain.subnet_params(self.config.netuid).await?;
        let Some(neuron) = metagraph.neurons.iter().find(|n| n.hotkey == self.hotkey) else {
            return Err(crate::chain::Error::NotRegistered { netuid: self.config.netuid, hotkey: self.hotkey.to_ss58() });
        };
        if neuron.uid != self.uid {
            tracing::warn!(old = self.uid, new = neuron.uid, "the hotkey's uid changed");
        }
        let last_update = neuron.last_update;
        if sent && last_update >= boundary {
            return Ok(Gate::Set(last_update));
        }
        if metagraph.block.saturating_sub(last_update) <= params.weights_rate_limit {
            return Ok(Gate::TooSoon { last_update, until: last_update + params.weights_rate_limit + 1 });
        }
        Ok(Gate::Open)
    }

    fn report(
        &self,
        tempo: &Tempo,
        result: &'static str,
        confirmed: Option<u64>,
        dry_run: Option<Box<crate::weights_set::SetReport>>,
    ) -> TempoReport {
        let computed = tempo.computed.as_ref();
        TempoReport {
            boundary: tempo.boundary,
            head: tempo.head,
            mode: self.source.mode(),
            result,
            route: tempo.last_route,
            fell_back: tempo.last_route == Some(Route::Local) && self.setter.signer.is_some(),
            scored_block: computed.map(|c| c.block),
            uids: computed.map(|c| c.vector.iter().map(|(u, _)| *u).collect()).unwrap_or_default(),
            weights: computed.map(|c| c.vector.iter().map(|(_, w)| *w).collect()).unwrap_or_default(),
            dry_run,
            note: computed.and_then(|c| c.note.clone()),
            attempts: tempo.attempts,
            confirmed_block: confirmed,
            last_confirmed_block: self.last_confirmed,
            last_attempt_block: self.last_attempt,
            error: if result == "confirmed" { None } else { tempo.last_error.clone() },
            seconds: tempo.started.elapsed().as_secs_f64(),
        }
    }
}

/// How a tempo attempt ended.
enum Step {
    /// Not done: try again at a later head.
    Pending,
    /// The tempo ended.
    Done { result: &'static str, confirmed: Option<u64>, dry_run: Option<Box<crate::weights_set::SetReport>> },
}

/// The rate-limit check before an attempt.
enum Gate {
    /// The tempo sent a set and `LastUpdate` is at or past its boundary: its weights are on chain.
    Set(u64),
    /// Inside the rate limit until the given block.
    TooSoon { last_update: u64, until: u64 },
    /// A set may be sent.
    Open,
}

/// Publishes every new best head (and counts it as progress) until cancelled.
async fn follow_heads(sources: Arc<Sources>, progress: Arc<Progress>, heads: watch::Sender<u64>, token: CancellationToken) {
    let mut failures = 0_u32;
    loop {
        let next = tokio::select! {
            biased;
            () = token.cancelled() => return,
            next = sources.chain.wait_for_next_block() => next,
        };
        match next {
            Ok(head) => {
                failures = 0;
                progress.block(head);
                heads.send_if_modified(|current| {
                    let newer = head > *current;
                    if newer {
                        *current = head;
                    }
                    newer
                });
            }
            Err(error) => {
                failures += 1;
                // The first failure of a run at warn, the rest at debug: a stall is the
                // watchdog's to report.
                let line = crate::error::one_line(&error);
                if failures == 1 {
                    tracing::warn!(error = %line, "no new block; retrying");
                } else {
                    tracing::debug!(error = %line, failures, "no new block; retrying");
                }
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(FOLLOW_RETRY) => {}
                }
            }
        }
    }
}

/// Saves a pass's summary, retrying a few times; a failure is a warning, never a lost tempo.
async fn upload_summary(store: crate::store::Store, pass: Arc<crate::weight_pass::Pass>) {
    for attempt in 1..=UPLOAD_ATTEMPTS {
        match crate::weight_pass::save(&store, &pass, crate::weight_pass::unix_now()).await {
            Ok(_) => return,
            Err(error) => {
                let line = crate::error::one_line(&error);
                tracing::warn!(block = pass.block(), attempt, attempts = UPLOAD_ATTEMPTS, error = %line, "summary not saved");
                if attempt < UPLOAD_ATTEMPTS {
                    tokio::time::sleep(UPLOAD_RETRY).await;
                }
            }
        }
    }
}
