//! Signing and upload: the spool drained in batches (`AFFINE_SINK_BATCH_SIZE` results, or
//! when the oldest has waited `AFFINE_SINK_MAX_WAIT`), each batch signed with the validator
//! hotkey (through the signer service, or the local hotkey when that fails, as the reference
//! does), bound to the current block's window shard, written through the store's
//! compare-and-swap writer, and only then removed from the spool. A failure at any stage
//! keeps the batch in the spool and retries with backoff; the spool only grows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::spool::{Row, Spool};
use super::status::{RunnerStatus, UploadStage, unix_now};
use crate::chain::signing::{Keypair, result_sign_data};
use crate::chain::wallet::{KeyfileKey, PasswordSource, WalletLocation, read_keyfile};
use crate::model::ResultRecord;
use crate::signer::client::SignerClient;
use crate::store::Store;
use crate::store::keys::{shard_key, window_of};

/// Longest pause between failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the uploader looks at the spool.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// How results are signed.
pub struct Signing {
    remote: Option<SignerClient>,
    wallet: Option<(WalletLocation, PasswordSource)>,
    local: tokio::sync::OnceCell<Arc<Keypair>>,
    /// Whether the last batch fell back to the local hotkey (warned once per outage).
    falling_back: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing")
            .field("remote", &self.remote.as_ref().map(SignerClient::base_url))
            .field("wallet", &self.wallet.as_ref().map(|(w, _)| w.hotkey_path()))
            .finish_non_exhaustive()
    }
}

/// Why a batch could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A record has no sign text (no miner, a non-finite timestamp).
    #[error("a result cannot be signed: {0}")]
    Record(String),
    /// Neither the signer nor the local hotkey signed.
    #[error("no signer: {remote}; and the local hotkey: {local}")]
    NoSigner {
        /// Why the signer service did not sign.
        remote: String,
        /// Why the local hotkey did not.
        local: String,
    },
}

impl Signing {
    /// Signs through `remote` when given, falling back to the hotkey of `wallet`.
    #[must_use]
    pub fn new(remote: Option<SignerClient>, wallet: Option<(WalletLocation, PasswordSource)>) -> Self {
        Self { remote, wallet, local: tokio::sync::OnceCell::new(), falling_back: std::sync::atomic::AtomicBool::new(false) }
    }

    /// A signer that only signs with `keypair` (tests, benches).
    #[must_use]
    pub fn local(keypair: Keypair) -> Self {
        let local = tokio::sync::OnceCell::new_with(Some(Arc::new(keypair)));
        Self { remote: None, wallet: None, local, falling_back: std::sync::atomic::AtomicBool::new(false) }
    }

    async fn local_key(&self) -> Result<Arc<Keypair>, String> {
        self.local
            .get_or_try_init(|| async {
                let Some((location, password)) = &self.wallet else { return Err("no wallet is configured".to_owned()) };
                let path = location.hotkey_path();
                let password = password.clone();
                let key = tokio::task::spawn_blocking(move || read_keyfile(&path, &password))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                match key {
                    KeyfileKey::Secret(keypair) => Ok(Arc::new(*keypair)),
                    KeyfileKey::Public(_) => Err(format!("{} holds no secret key", location.hotkey_path().display())),
                }
            })
            .await
            .cloned()
    }

    /// Signs `records` in place (their `hotkey` and `signature`); returns the signing hotkey.
    ///
    /// # Errors
    /// [`SignError`] when neither the signer service nor the local hotkey could sign.
    pub async fn sign(&self, records: &mut [ResultRecord]) -> Result<String, SignError> {
        let texts: Vec<String> =
            records.iter().map(result_sign_data).collect::<Result<_, _>>().map_err(|e| SignError::Record(e.to_string()))?;
        let remote_error = match &self.remote {
            Some(client) => match client.sign(&texts).await {
                Ok(signed) => {
                    if self.falling_back.swap(false, Ordering::Relaxed) {
                        tracing::info!(signer = client.base_url(), "the signer signs again");
                    }
                    for (record, signature) in records.iter_mut().zip(signed.signatures) {
                        record.hotkey.clone_from(&signed.hotkey);
                        record.signature = signature;
                    }
                    return Ok(signed.hotkey);
                }
                Err(error) => error.to_string(),
            },
            None => "no signer service is configured".to_owned(),
        };
        let keypair = self.local_key().await.map_err(|local| SignError::NoSigner { remote: remote_error.clone(), local })?;
        if self.remote.is_some() {
            if self.falling_back.swap(true, Ordering::Relaxed) {
                tracing::debug!(error = %remote_error, "signer failed; signing the batch with the local hotkey");
            } else {
                tracing::warn!(error = %remote_error, "signer failed; signing with the local hotkey until it answers again");
            }
        }
        let hotkey = keypair.public_key().to_ss58();
        for (record, text) in records.iter_mut().zip(&texts) {
            record.signature = keypair.sign_text(text).map_err(|e| SignError::Record(e.to_string()))?;
            record.hotkey.clone_from(&hotkey);
        }
        Ok(hotkey)
    }
}

/// What the uploader works with.
pub struct Uploader {
    /// The spool.
    pub spool: Spool,
    /// The result store.
    pub store: Store,
    /// Where the current block comes from (the discovery sources' chain client).
    pub sources: Arc<crate::miners::Sources>,
    /// How results are signed.
    pub signing: Arc<Signing>,
    /// Results per batch (`AFFINE_SINK_BATCH_SIZE`).
    pub batch_size: usize,
    /// Upload a smaller batch once its oldest result is this old (`AFFINE_SINK_MAX_WAIT`).
    pub max_wait: Duration,
    /// Counters.
    pub status: Arc<RunnerStatus>,
}

/// What one upload did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// Results confirmed by the store and removed from the spool.
    pub results: usize,
}

impl Uploader {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Spool) -> Result<T, super::spool::Error> + Send + 'static,
    ) -> Result<T, String> {
        let spool = self.spool.clone();
        match tokio::task::spawn_blocking(move || work(spool)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(join) => Err(join.to_string()),
        }
    }

    fn fail(&self, stage: UploadStage, error: &str) -> Result<Uploaded, (UploadStage, String)> {
        self.status.upload.failures(stage).fetch_add(1, Ordering::Relaxed);
        Err((stage, error.to_owned()))
    }

    /// Writes the prepared rows, then signs and writes one batch of pending rows.
    ///
    /// # Errors
    /// The stage that failed and why; the rows stay in the spool.
    pub async fn upload_once(&self) -> Result<Uploaded, (UploadStage, String)> {
        self.status.upload.attempts.fetch_add(1, Ordering::Relaxed);
        let limit = self.batch_size;
        let rows = match self.blocking(move |spool| spool.oldest(limit)).await {
            Ok(rows) => rows,
            Err(error) => return self.fail(UploadStage::Spool, &error),
        };
        let mut prepared: Vec<(u64, String, Vec<u8>)> = Vec::new();
        let mut pending: Vec<(u64, ResultRecord)> = Vec::new();
        for row in rows {
            match row {
                Row::Prepared { id, key, record } => prepared.push((id, key, record)),
                Row::Pending { id, record, .. } => match serde_json::from_slice::<ResultRecord>(&record) {
                    Ok(parsed) => pending.push((id, parsed)),
                    Err(error) => {
                        // Written by this program, so this is damage: keep it, say so once per try.
                        tracing::error!(id, %error, "a spooled result does not parse; it stays in the spool");
                    }
                },
            }
        }
        if !pending.is_empty() {
            let block = match self.sources.chain.best_block().await {
                Ok(block) => block,
                Err(error) => return self.fail(UploadStage::Chain, &error.to_string()),
            };
            let mut records: Vec<ResultRecord> = pending.iter().map(|(_, r)| r.clone()).collect();
            let hotkey = match self.signing.sign(&mut records).await {
                Ok(hotkey) => hotkey,
                Err(error) => return self.fail(UploadStage::Sign, &error.to_string()),
            };
            let key = shard_key(window_of(block), &hotkey);
            let bound: Vec<(u64, String, Vec<u8>)> = pending
                .iter()
                .zip(&records)
                .filter_map(|((id, _), record)| serde_json::to_vec(record).ok().map(|json| (*id, key.clone(), json)))
                .collect();
            let to_prepare = bound.clone();
            if let Err(error) = self.blocking(move |spool| spool.prepare(&to_prepare)).await {
                return self.fail(UploadStage::Spool, &error);
            }
            prepared.extend(bound);
        }
        let mut by_key: BTreeMap<String, (Vec<u64>, Vec<Value>)> = BTreeMap::new();
        for (id, key, json) in prepared {
            match serde_json::from_slice::<Value>(&json) {
                Ok(value) => {
                    let entry = by_key.entry(key).or_default();
                    entry.0.push(id);
                    entry.1.push(value);
                }
                Err(error) => tracing::error!(id, %error, "a prepared result does not parse; it stays in the spool"),
            }
        }
        let mut uploaded = Uploaded::default();
        for (key, (ids, values)) in by_key {
            let report = match crate::store::writer::write_values(&self.store, &key, &values).await {
                Ok(report) => report,
                Err(error) => return self.fail(UploadStage::Store, &crate::error::one_line(&error)),
            };
            let count = ids.len();
            if let Err(error) = self.blocking(move |spool| spool.remove(&ids)).await {
                return self.fail(UploadStage::Spool, &error);
            }
            uploaded.results += count;
            self.status.upload.batches.fetch_add(1, Ordering::Relaxed);
            self.status.upload.results.fetch_add(count as u64, Ordering::Relaxed);
            self.status.upload.written.bump();
            let left = self.spool.stats();
            tracing::info!(
                key,
                results = count,
                new = report.appended,
                already_stored = report.duplicates,
                spool_rows = left.rows,
                "uploaded {count} results to {key} ({} new); spool {} rows",
                report.appended,
                left.rows
            );
        }
        Ok(uploaded)
    }

    /// Whether a batch is due: enough rows, or the oldest waited long enough (or anything is
    /// left when `flush`).
    async fn due(&self, flush: bool) -> bool {
        let rows = self.spool.stats().rows;
        if rows == 0 {
            return false;
        }
        if flush || rows >= self.batch_size as u64 {
            return true;
        }
        match self.blocking(|spool| spool.oldest_spooled_at()).await {
            Ok(Some(at)) => unix_now() - at >= self.max_wait.as_secs_f64(),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Uploads until `token` is cancelled: batch after batch while batches are due, a look at
    /// the spool every half second otherwise, backing off after failures.
    pub async fn run(&self, token: CancellationToken) {
        let mut backoff = Duration::ZERO;
        let mut wait = CHECK_EVERY;
        loop {
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            self.status.upload.alive.bump();
            wait = CHECK_EVERY.max(backoff);
            if !self.due(false).await {
                continue;
            }
            match self.upload_once().await {
                Ok(uploaded) => {
                    backoff = Duration::ZERO;
                    // Keep going while the backlog lasts.
                    wait = if uploaded.results > 0 { Duration::ZERO } else { CHECK_EVERY };
                }
                Err((stage, error)) => {
                    backoff = next_backoff(backoff);
                    wait = backoff;
                    let rows = self.spool.stats();
                    tracing::warn!(
                        stage = stage.label(),
                        %error,
                        spool_rows = rows.rows,
                        spool_bytes = rows.bytes,
                        retry_in_s = backoff.as_secs_f64(),
                        "upload failed at {}; the results stay in the spool",
                        stage.label()
                    );
                }
            }
        }
    }

    /// Uploads what the spool holds until it is empty, a failure, or `deadline`.
    pub async fn flush(&self, deadline: tokio::time::Instant) {
        while self.due(true).await {
            match tokio::time::timeout_at(deadline, self.upload_once()).await {
                Ok(Ok(uploaded)) if uploaded.results > 0 => {}
                Ok(Ok(_)) => return,
                Ok(Err((stage, error))) => {
                    tracing::warn!(stage = stage.label(), %error, rows = self.spool.stats().rows, "final upload failed; the spool keeps the results for the next start");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        rows = self.spool.stats().rows,
                        "no time left for the final upload; the spool keeps the results for the next start"
                    );
                    return;
                }
            }
        }
    }
}

/// Exponential backoff from 1 s to [`MAX_BACKOFF`] with ±25 % jitter.
fn next_backoff(previous: Duration) -> Duration {
    let base = if previous.is_zero() { Duration::from_secs(1) } else { (previous * 2).min(MAX_BACKOFF) };
    base.mul_f64(0.75 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_minute() {
        let mut delay = Duration::ZERO;
        for _ in 0..20 {
            delay = next_backoff(delay);
            assert!(delay <= MAX_BACKOFF.mul_f64(1.25));
        }
        assert!(delay >= MAX_BACKOFF.mul_f64(0.75));
    }
}
