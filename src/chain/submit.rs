//! Setting weights: normalised u16 weights submitted as `set_mechanism_weights` (mechanism 0),
//! or as a drand-timelocked `commit_timelocked_mechanism_weights` when the subnet has
//! commit-reveal on, then confirmed the way the original does: after a few blocks the hotkey's
//! `LastUpdate` must have reached the block the submission was made at.
//!
//! Submissions are fire-and-forget (`author_submitExtrinsic`, as bittensor with
//! `wait_for_inclusion=False`) with the nonce taken from the node's pool
//! (`system_accountNextIndex`), so a retry while an earlier submission is still pooled does not
//! reuse its nonce; transactions are mortal for 32 blocks, as bittensor's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use subxt::dynamic::{self, Value};
use subxt::tx::DynamicPayload;

use super::client::ChainClient;
use super::extrinsic::{self, NonceSource, rpc_error};
use super::signing::Keypair;
use super::timelock::{self, BLOCK_TIME_SECS, BeaconPublicKey, RevealSchedule};
use super::{Error, weights};

/// bittensor 9.12.2's `version_as_int`, the version key the original sends.
pub const BITTENSOR_VERSION_KEY: u64 = 9_012_002;

/// What to set: float weights over uids, for a hotkey on a subnet.
#[derive(Debug, Clone, Copy)]
pub struct WeightsRequest<'a> {
    /// The subnet.
    pub netuid: u16,
    /// The signing (validator) hotkey.
    pub hotkey: &'a Keypair,
    /// The uids weighted.
    pub uids: &'a [u16],
    /// Their float weights (normalised to u16 as bittensor does).
    pub weights: &'a [f64],
    /// The version key sent.
    pub version_key: u64,
    /// The drand beacon key timelocked weights are encrypted to (quicknet on finney).
    pub beacon: &'a BeaconPublicKey,
}

/// Which extrinsic carried the weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsCall {
    /// `SubtensorModule.set_mechanism_weights` (commit-reveal off).
    Plain,
    /// `SubtensorModule.commit_timelocked_mechanism_weights`, revealed at this drand round.
    Timelocked {
        /// The drand round that reveals the weights.
        reveal_round: u64,
    },
}

impl WeightsCall {
    /// The extrinsic's name in `SubtensorModule`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Plain => "set_mechanism_weights",
            Self::Timelocked { .. } => "commit_timelocked_mechanism_weights",
        }
    }

    /// `plain` or `timelocked`.
    #[must_use]
    pub const fn mode(&self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Timelocked { .. } => "timelocked",
        }
    }
}

/// A weight-setting call built and ready to sign.
#[derive(Debug, Clone)]
pub struct PreparedWeights {
    /// The uids sent (zero weights dropped).
    pub uids: Vec<u16>,
    /// Their u16 weights.
    pub weights: Vec<u16>,
    /// The path taken.
    pub call: WeightsCall,
    payload: DynamicPayload<Vec<Value>>,
}

/// Weights confirmed on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedWeights {
    /// The submission `LastUpdate` confirmed.
    pub submission: WeightsSubmission,
    /// The best block right after it was submitted; `LastUpdate` reached it.
    pub reference_block: u64,
    /// Attempts it took (1 when the first one was confirmed).
    pub attempts: u32,
}

/// One submitted weight-setting extrinsic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSubmission {
    /// The uids sent (zero weights dropped).
    pub uids: Vec<u16>,
    /// Their u16 weights.
    pub weights: Vec<u16>,
    /// The path taken.
    pub call: WeightsCall,
    /// The nonce used.
    pub nonce: u64,
}

/// The original's retry settings (`SIGNER_RETRIES`, `SIGNER_RETRY_DELAY`,
/// `CONFIRMATION_BLOCKS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmPolicy {
    /// Attempts in all (default 10).
    pub attempts: u32,
    /// Pause between attempts (default 2 s).
    pub retry_delay: Duration,
    /// Blocks to wait before checking `LastUpdate` (default 3).
    pub confirmation_blocks: u32,
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        Self { attempts: 10, retry_delay: Duration::from_secs(2), confirmation_blocks: 3 }
    }
}

fn u16_values(values: &[u16]) -> Value {
    Value::unnamed_composite(values.iter().map(|&v| Value::u128(u128::from(v))))
}

fn now_unix_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

impl ChainClient {
    /// Normalises the request's weights (bittensor's formula) and builds the call the subnet
    /// takes: `set_mechanism_weights`, or, with commit-reveal on, the payload timelocked to the
    /// request's beacon in a `commit_timelocked_mechanism_weights`. Nothing is signed.
    ///
    /// # Errors
    /// Invalid or all-zero weights, or transport failures.
    pub async fn prepare_weights(&self, request: WeightsRequest<'_>) -> Result<PreparedWeights, Error> {
        let WeightsRequest { netuid, hotkey, version_key, beacon, .. } = request;
        let (uids, values) = weights::normalize(request.uids, request.weights)?;
        if uids.is_empty() {
            return Err(Error::InvalidWeights("every weight is zero; nothing to set".to_owned()));
        }
        let params = self.subnet_params(netuid).await?;
        let (call, fields) = if params.commit_reveal_enabled {
            let version: u16 = self.commit_reveal_version().await?;
            let best = self.best_block().await?;
            let schedule = RevealSchedule {
                current_block: best,
                netuid,
                tempo: u64::from(params.tempo),
                reveal_period_epochs: params.reveal_period_epochs,
            };
            let reveal_round = timelock::weights_reveal_round(schedule, now_unix_secs(), BLOCK_TIME_SECS);
            let plaintext = timelock::weights_payload(&hotkey.public_key().0, &uids, &values, version_key);
            let ciphertext = timelock::encrypt(beacon, reveal_round, &plaintext);
            // (netuid, mecid 0, commit, reveal_round, commit_reveal_version)
            let fields = vec![
                Value::u128(u128::from(netuid)),
                Value::u128(0),
                Value::from_bytes(ciphertext),
                Value::u128(u128::from(reveal_round)),
                Value::u128(u128::from(version)),
            ];
            (WeightsCall::Timelocked { reveal_round }, fields)
        } else {
            // (netuid, mecid 0, dests, weights, version_key)
            let fields = vec![
                Value::u128(u128::from(netuid)),
                Value::u128(0),
                u16_values(&uids),
                u16_values(&values),
                Value::u128(u128::from(version_key)),
            ];
            (WeightsCall::Plain, fields)
        };
        let payload = dynamic::transaction("SubtensorModule", call.name(), fields);
        Ok(PreparedWeights { uids, weights: values, call, payload })
    }

    /// Signs and submits a prepared call (fire and forget, as the original's
    /// `author_submitExtrinsic`) with the nonce from the node's pool.
    ///
    /// # Errors
    /// Transport failures, or a node that refuses the extrinsic into its pool.
    pub async fn submit_prepared(&self, hotkey: &Keypair, prepared: PreparedWeights) -> Result<WeightsSubmission, Error> {
        const WHAT: &str = "submitting weights";
        let payload = &prepared.payload;
        let nonce = self
            .call(WHAT, |connection| async move {
                let (signed, nonce) = extrinsic::sign(&connection, WHAT, payload, hotkey, NonceSource::NodePool).await?;
                connection.rpc.author_submit_extrinsic(signed.encoded()).await.map_err(|error| rpc_error(WHAT, &connection, error))?;
                Ok(nonce.unwrap_or_default())
            })
            .await?;
        tracing::info!(uids = prepared.uids.len(), nonce, call = prepared.call.name(), "weights submitted");
        Ok(WeightsSubmission { uids: prepared.uids, weights: prepared.weights, call: prepared.call, nonce })
    }

    /// Normalises and submits the request's weights: plainly, or timelocked when the subnet has
    /// commit-reveal on.
    ///
    /// # Errors
    /// Invalid or all-zero weights, transport failures, or a node that refuses the extrinsic.
    pub async fn submit_weights(&self, request: WeightsRequest<'_>) -> Result<WeightsSubmission, Error> {
        let prepared = self.prepare_weights(request).await?;
        self.submit_prepared(request.hotkey, prepared).await
    }

    async fn commit_reveal_version(&self) -> Result<u16, Error> {
        self.call("reading the commit-reveal version", |connection| async move {
            const WHAT: &str = "reading the commit-reveal version";
            let at = connection.client.at_current_block().await.map_err(|error| Error::Rpc {
                what: WHAT,
                endpoint: connection.endpoint.clone(),
                source: Box::new(error),
            })?;
            at.storage()
                .fetch(dynamic::storage::<(), u16>("SubtensorModule", "CommitRevealWeightsVersion"), ())
                .await
                .map_err(|error| Error::Rpc { what: WHAT, endpoint: connection.endpoint.clone(), source: Box::new(error) })?
                .decode()
                .map_err(|error| Error::Rpc { what: WHAT, endpoint: connection.endpoint.clone(), source: Box::new(error) })
        })
        .await
    }

    /// Sets weights and confirms them as the original `set_weights_with_confirmation`: each
    /// attempt (skipped, as bittensor does, while `WeightsSetRateLimit` blocks have not passed
    /// since the hotkey's `LastUpdate`) submits, takes the best block as the reference, waits
    /// `confirmation_blocks` new blocks and succeeds when the hotkey's `LastUpdate` is at least
    /// the reference.
    ///
    /// # Errors
    /// Invalid weights or an unregistered hotkey (not retried), or no confirmation after every
    /// attempt (transport failures, refused submissions and unconfirmed ones are retried); the
    /// error carries the last attempt's failure.
    pub async fn set_weights_with_confirmation(
        &self,
        request: WeightsRequest<'_>,
        policy: ConfirmPolicy,
    ) -> Result<ConfirmedWeights, Error> {
        let mut last_error = None;
        for attempt in 1..=policy.attempts {
            if attempt > 1 {
                tokio::time::sleep(policy.retry_delay).await;
            }
            match self.confirm_once(request, policy.confirmation_blocks).await {
                Ok(Ok((submission, reference_block))) => {
                    tracing::info!(attempt, reference_block, "weights confirmed");
                    return Ok(ConfirmedWeights { submission, reference_block, attempts: attempt });
                }
                Ok(Err(pending)) => {
                    tracing::warn!(attempt, attempts = policy.attempts, %pending, "weights not confirmed yet");
                    last_error = Some(pending);
                }
                // Only transport and node refusals are worth another attempt.
                Err(error) if !error.is_transient() => return Err(error),
                Err(error) => {
                    let line = crate::error::one_line(&error);
                    tracing::warn!(attempt, attempts = policy.attempts, error = %line, "weight-setting attempt failed");
                    last_error = Some(line);
                }
            }
        }
        Err(Error::WeightsNotConfirmed { attempts: policy.attempts, last_error })
    }

    /// One attempt: the confirmed submission and its reference block, or why `LastUpdate` did
    /// not confirm it.
    async fn confirm_once(
        &self,
        request: WeightsRequest<'_>,
        confirmation_blocks: u32,
    ) -> Result<Result<(WeightsSubmission, u64), String>, Error> {
        // As bittensor's `set_weights`: no attempt while the subnet's rate limit since this
        // hotkey's last update has not passed (the chain would refuse it as too fast).
        let before = self.metagraph(request.netuid).await?;
        let me = request.hotkey.public_key();
        let neuron = before
            .neurons
            .iter()
            .find(|n| n.hotkey == me)
            .ok_or_else(|| Error::NotRegistered { netuid: request.netuid, hotkey: me.to_ss58() })?;
        let rate_limit = self.subnet_params(request.netuid).await?.weights_rate_limit;
        let since = before.block.saturating_sub(neuron.last_update);
        if since <= rate_limit {
            return Ok(Err(format!(
                "too soon: {since} blocks since uid {}'s last weights update at block {}, the subnet allows one every {rate_limit} blocks",
                neuron.uid, neuron.last_update
            )));
        }
        let submission = self.submit_weights(request).await?;
        let reference = self.best_block().await?;
        for _ in 0..confirmation_blocks {
            self.wait_for_next_block().await?;
        }
        let metagraph = self.metagraph(request.netuid).await?;
        let neuron = metagraph
            .neurons
            .iter()
            .find(|n| n.hotkey == me)
            .ok_or_else(|| Error::NotRegistered { netuid: request.netuid, hotkey: me.to_ss58() })?;
        if neuron.last_update >= reference {
            Ok(Ok((submission, reference)))
        } else {
            Ok(Err(format!(
                "LastUpdate of uid {} is {}, below the reference block {reference} after {confirmation_blocks} blocks",
                neuron.uid, neuron.last_update
            )))
        }
    }
}
