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

use subxt::config::substrate::{SubstrateConfig, SubstrateExtrinsicParamsBuilder};
use subxt::dynamic::{self, Value};
use subxt::tx::Signer;
use subxt::utils::{AccountId32, MultiSignature};

use super::client::{ChainClient, extrinsic_error};
use super::signing::Keypair;
use super::timelock::{self, BLOCK_TIME_SECS, BeaconPublicKey, RevealSchedule};
use super::{Error, weights};

/// bittensor 9.12.2's `version_as_int`, the version key the original sends.
pub const BITTENSOR_VERSION_KEY: u64 = 9_012_002;

/// subxt's view of an `af` key pair.
pub(super) struct HotkeySigner<'a>(pub(super) &'a Keypair);

impl Signer<SubstrateConfig> for HotkeySigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.public_key().0)
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(signer_payload))
    }
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
    /// Normalises `weights` over `uids` (bittensor's formula) and submits them for `hotkey` on
    /// `netuid`: plainly, or timelocked to drand quicknet when commit-reveal is on.
    ///
    /// # Errors
    /// Invalid or all-zero weights, transport failures, or a node that refuses the extrinsic.
    pub async fn submit_weights(
        &self,
        netuid: u16,
        hotkey: &Keypair,
        uids: &[u16],
        weights: &[f64],
        version_key: u64,
    ) -> Result<WeightsSubmission, Error> {
        let (uids, values) = weights::normalize(uids, weights)?;
        if uids.is_empty() {
            return Err(Error::InvalidWeights("every weight is zero; nothing to set".to_owned()));
        }
        let params = self.subnet_params(netuid).await?;
        let (call, payload) = if params.commit_reveal_enabled {
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
            let ciphertext = timelock::encrypt(&BeaconPublicKey::quicknet(), reveal_round, &plaintext);
            let tx = dynamic::transaction(
                "SubtensorModule",
                "commit_timelocked_mechanism_weights",
                vec![
                    Value::u128(u128::from(netuid)),
                    Value::u128(0),
                    Value::from_bytes(ciphertext),
                    Value::u128(u128::from(reveal_round)),
                    Value::u128(u128::from(version)),
                ],
            );
            (WeightsCall::Timelocked { reveal_round }, tx)
        } else {
            let tx = dynamic::transaction(
                "SubtensorModule",
                "set_mechanism_weights",
                vec![
                    Value::u128(u128::from(netuid)),
                    Value::u128(0),
                    u16_values(&uids),
                    u16_values(&values),
                    Value::u128(u128::from(version_key)),
                ],
            );
            (WeightsCall::Plain, tx)
        };
        let account = AccountId32(hotkey.public_key().0);
        let nonce = self
            .call("submitting weights", |connection| {
                let payload = payload.clone();
                async move {
                    const WHAT: &str = "submitting weights";
                    let endpoint = connection.endpoint.clone();
                    let rpc_error = |error: subxt::Error| Error::Rpc { what: WHAT, endpoint: endpoint.clone(), source: Box::new(error) };
                    let nonce = connection.rpc.system_account_next_index(&account).await.map_err(|error| rpc_error(error.into()))?;
                    let at = connection.client.at_current_block().await.map_err(|error| rpc_error(error.into()))?;
                    let params = SubstrateExtrinsicParamsBuilder::<SubstrateConfig>::new().nonce(nonce).mortal(32).build();
                    let signed = at
                        .transactions()
                        .create_signed(&payload, &HotkeySigner(hotkey), params)
                        .await
                        .map_err(|error| extrinsic_error(WHAT, &connection.endpoint, error))?;
                    // Fire and forget, as the original (`author_submitExtrinsic`).
                    connection.rpc.author_submit_extrinsic(signed.encoded()).await.map_err(|error| rpc_error(error.into()))?;
                    Ok(nonce)
                }
            })
            .await?;
        tracing::info!(netuid, uids = uids.len(), nonce, "weights submitted");
        Ok(WeightsSubmission { uids, weights: values, call, nonce })
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
    /// attempt submits, takes the best block as the reference, waits
    /// `confirmation_blocks` new blocks and succeeds when the hotkey's `LastUpdate` is at least
    /// the reference. Returns the confirmed submission and its reference block.
    ///
    /// # Errors
    /// Invalid weights or an unregistered hotkey (not retried), or no confirmation after every
    /// attempt (transport failures and refused submissions are retried).
    pub async fn set_weights_with_confirmation(
        &self,
        netuid: u16,
        hotkey: &Keypair,
        uids: &[u16],
        weights: &[f64],
        version_key: u64,
        policy: ConfirmPolicy,
    ) -> Result<(WeightsSubmission, u64), Error> {
        let mut last_error = None;
        for attempt in 1..=policy.attempts {
            if attempt > 1 {
                tokio::time::sleep(policy.retry_delay).await;
            }
            match self.confirm_once(netuid, hotkey, uids, weights, version_key, policy.confirmation_blocks).await {
                Ok(Some(confirmed)) => return Ok(confirmed),
                Ok(None) => tracing::warn!(attempt, "weights not confirmed yet"),
                // Only transport and node refusals are worth another attempt.
                Err(error) if !error.is_transient() => return Err(error),
                Err(error) => {
                    tracing::warn!(attempt, error = %crate::error::one_line(&error), "weight-setting attempt failed");
                    last_error = Some(error);
                }
            }
        }
        Err(Error::WeightsNotConfirmed {
            attempts: policy.attempts,
            last_error: last_error.as_ref().map(|error| crate::error::one_line(error)),
        })
    }

    async fn confirm_once(
        &self,
        netuid: u16,
        hotkey: &Keypair,
        uids: &[u16],
        weights: &[f64],
        version_key: u64,
        confirmation_blocks: u32,
    ) -> Result<Option<(WeightsSubmission, u64)>, Error> {
        let submission = self.submit_weights(netuid, hotkey, uids, weights, version_key).await?;
        let reference = self.best_block().await?;
        for _ in 0..confirmation_blocks {
            self.wait_for_next_block().await?;
        }
        let metagraph = self.metagraph(netuid).await?;
        let me = hotkey.public_key();
        let neuron =
            metagraph.neurons.iter().find(|n| n.hotkey == me).ok_or_else(|| Error::NotRegistered { netuid, hotkey: me.to_ss58() })?;
        Ok((neuron.last_update >= reference).then_some((submission, reference)))
    }
}
