//! Setting a weight vector with a hotkey this process holds: the checks against the live
//! metagraph, bittensor's version key raised to the subnet's, the call (plain or timelocked),
//! submission and confirmation by `LastUpdate`.
//!
//! One path for every local set: `af weights -r --set`, `af signer`'s `/set_weights` and
//! `af validate`'s fallback when the signer is unreachable.

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use crate::chain::client::{ChainClient, Metagraph};
use crate::chain::signing::Keypair;
use crate::chain::submit::{BITTENSOR_VERSION_KEY, ConfirmPolicy, WeightsCall, WeightsRequest};
use crate::chain::timelock::BeaconPublicKey;
use crate::chain::{self};
use crate::output::plain_table;

/// Why weights were not set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The vector does not fit the chain as it is now (unknown uid, a uid that changed hands,
    /// more uids than the subnet has, nothing left after normalisation); never retried.
    #[error("refusing to set weights: {0}")]
    Refused(String),
    /// A chain call failed, or the weights were not confirmed.
    #[error("failed while {what}")]
    Chain {
        /// What was being done.
        what: &'static str,
        /// The chain error.
        #[source]
        source: chain::Error,
    },
}

impl Error {
    /// Whether the vector or the key is at fault rather than the chain or the network.
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Refused(_) => true,
            Self::Chain { source, .. } => matches!(source, chain::Error::NotRegistered { .. } | chain::Error::InvalidWeights(_)),
        }
    }

    /// Whether the user can fix it (exit code 2).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        match self {
            Self::Refused(_) => false,
            Self::Chain { source, .. } => source.is_user_input(),
        }
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Chain { source, .. } => crate::error::Classify::hint(source),
            Self::Refused(_) => None,
        }
    }
}

fn chain_error(what: &'static str) -> impl FnOnce(chain::Error) -> Error {
    move |source| Error::Chain { what, source }
}

/// What one set did (or, for a dry run, would do); the `set_weights` object of
/// `af weights -r --set --json` and the detail of `af validate`'s per-set line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetReport {
    /// Weights confirmed on chain (false for dry runs and failures).
    pub success: bool,
    /// Nothing was signed or sent.
    pub dry_run: bool,
    /// The subnet.
    pub netuid: u16,
    /// The signing hotkey (SS58).
    pub hotkey: String,
    /// `plain` or `timelocked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// The extrinsic's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<&'static str>,
    /// Uids sent.
    pub uids: Vec<u16>,
    /// Their u16 weights.
    pub weights: Vec<u16>,
    /// The version key sent.
    pub version_key: u64,
    /// The drand round revealing timelocked weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reveal_round: Option<u64>,
    /// The reference block `LastUpdate` reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// Attempts made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Seconds from the first chain read to confirmation.
    pub elapsed_secs: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SetReport {
    fn record(&mut self, call: &WeightsCall, uids: Vec<u16>, weights: Vec<u16>) {
        self.mode = Some(call.mode());
        self.call = Some(call.name());
        self.reveal_round = match call {
            WeightsCall::Plain => None,
            WeightsCall::Timelocked { reveal_round } => Some(*reveal_round),
        };
        self.uids = uids;
        self.weights = weights;
    }

    /// The text form: a field/value table and the u16 vector.
    #[must_use]
    pub fn text(&self) -> String {
        let status = match (self.dry_run, self.success) {
            (true, _) => "dry run: nothing signed or sent",
            (false, true) => "weights set and confirmed",
            (false, false) => "weights NOT set",
        };
        let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
        let rows: Vec<Vec<String>> = [
            ("status", status.to_owned()),
            ("netuid", self.netuid.to_string()),
            ("hotkey", self.hotkey.clone()),
            ("mode", optional(self.mode.map(str::to_owned))),
            ("call", optional(self.call.map(str::to_owned))),
            ("version key", self.version_key.to_string()),
            ("reveal round", optional(self.reveal_round.map(|r| r.to_string()))),
            ("confirmed at block", optional(self.block.map(|b| b.to_string()))),
            ("attempts", optional(self.attempts.map(|a| a.to_string()))),
            ("seconds", format!("{:.1}", self.elapsed_secs)),
        ]
        .into_iter()
        .map(|(field, value)| vec![field.to_owned(), value])
        .collect();
        let mut text = format!("\nSetting weights on chain:\n{}", plain_table(&["Field".to_owned(), "Value".to_owned()], &rows));
        let vector: Vec<String> = self.uids.iter().zip(&self.weights).map(|(uid, weight)| format!("{uid}:{weight}")).collect();
        let _ = writeln!(text, "u16 weights: {}", vector.join(" "));
        if let Some(error) = &self.error {
            let _ = writeln!(text, "error: {error}");
        }
        text
    }
}

/// One set: what, by whom, how.
#[derive(Debug, Clone, Copy)]
pub struct LocalSet<'a> {
    /// The subnet.
    pub netuid: u16,
    /// The signing hotkey.
    pub hotkey: &'a Keypair,
    /// `(uid, float weight)` pairs.
    pub vector: &'a [(u32, f64)],
    /// The hotkeys the vector was computed for, by uid: a weighted uid that belongs to another
    /// hotkey on chain now refuses the set (the miner deregistered and the uid was reused).
    /// `None` when the caller has no snapshot (the signer).
    pub expected_hotkeys: Option<&'a [String]>,
    /// Attempts, pause and confirmation blocks.
    pub policy: ConfirmPolicy,
    /// The drand beacon key timelocked weights are encrypted to.
    pub beacon: &'a BeaconPublicKey,
    /// Build the call, sign and send nothing.
    pub dry_run: bool,
}

/// Refuses a vector that does not fit the metagraph: a uid the subnet does not have, or one
/// that belongs to another hotkey than the snapshot's.
fn check_vector(on_chain: &Metagraph, uids: &[u16], expected: Option<&[String]>, snapshot_block: Option<u64>) -> Result<(), Error> {
    if uids.len() > on_chain.neurons.len() {
        return Err(Error::Refused(format!("{} uids weighted but netuid {} has {}", uids.len(), on_chain.netuid, on_chain.neurons.len())));
    }
    for &uid in uids {
        let Some(neuron) = on_chain.neurons.get(usize::from(uid)) else {
            return Err(Error::Refused(format!(
                "uid {uid} does not exist on netuid {} (the chain has {} uids at block {})",
                on_chain.netuid,
                on_chain.neurons.len(),
                on_chain.block
            )));
        };
        let Some(expected) = expected else { continue };
        let expected = expected.get(usize::from(uid)).map_or("", String::as_str);
        let actual = neuron.hotkey.to_ss58();
        if actual != expected {
            return Err(Error::Refused(format!(
                "uid {uid} is hotkey {actual} on chain (block {}) but {expected} in the snapshot of block {}; recompute against a fresh metagraph",
                on_chain.block,
                snapshot_block.map_or_else(|| "?".to_owned(), |b| b.to_string())
            )));
        }
    }
    Ok(())
}

/// Sets `set.vector` on chain and confirms it. The report is filled as far as it got, also
/// when an error is returned.
///
/// # Errors
/// [`Error::Refused`] for a vector that does not fit the chain; [`Error::Chain`] for an
/// unregistered hotkey, chain failures, or no confirmation after every attempt.
pub async fn set_weights(
    client: &ChainClient,
    set: LocalSet<'_>,
    snapshot_block: Option<u64>,
    report: &mut SetReport,
) -> Result<(), Error> {
    let start = Instant::now();
    let netuid = set.netuid;
    report.netuid = netuid;
    report.dry_run = set.dry_run;
    report.hotkey = set.hotkey.public_key().to_ss58();
    let uids = set
        .vector
        .iter()
        .map(|(uid, _)| u16::try_from(*uid).map_err(|_| Error::Refused(format!("uid {uid} does not fit a chain uid"))))
        .collect::<Result<Vec<u16>, Error>>()?;
    let weights: Vec<f64> = set.vector.iter().map(|(_, weight)| *weight).collect();
    // What will be sent, for the report even when a check below stops it.
    (report.uids, report.weights) = chain::weights::normalize(&uids, &weights).map_err(chain_error("normalising the weights"))?;
    if report.uids.is_empty() {
        return Err(Error::Refused("every weight is zero; nothing to set".to_owned()));
    }
    let on_chain = client.metagraph(netuid).await.map_err(chain_error("reading the metagraph"))?;
    if !on_chain.neurons.iter().any(|neuron| neuron.hotkey == set.hotkey.public_key()) {
        return Err(Error::Chain {
            what: "checking the hotkey",
            source: chain::Error::NotRegistered { netuid, hotkey: report.hotkey.clone() },
        });
    }
    // Only the uids actually sent matter (zero weights are dropped).
    check_vector(&on_chain, &report.uids, set.expected_hotkeys, snapshot_block)?;
    let params = client.subnet_params(netuid).await.map_err(chain_error("reading the subnet parameters"))?;
    // bittensor's own version key, raised to the subnet's when the owner requires a newer one.
    let version_key = BITTENSOR_VERSION_KEY.max(params.weights_version_key);
    report.version_key = version_key;
    let request = WeightsRequest { netuid, hotkey: set.hotkey, uids: &uids, weights: &weights, version_key, beacon: set.beacon };

    if set.dry_run {
        let prepared = client.prepare_weights(request).await.map_err(chain_error("building the weights call"))?;
        report.record(&prepared.call, prepared.uids, prepared.weights);
        report.elapsed_secs = start.elapsed().as_secs_f64();
        return Ok(());
    }
    let result = client.set_weights_with_confirmation(request, set.policy).await;
    report.elapsed_secs = start.elapsed().as_secs_f64();
    let confirmed = match result {
        Ok(confirmed) => confirmed,
        Err(error) => {
            if let chain::Error::WeightsNotConfirmed { attempts, .. } = &error {
                report.attempts = Some(*attempts);
            }
            return Err(Error::Chain { what: "setting the weights", source: error });
        }
    };
    let submission = confirmed.submission;
    report.record(&submission.call, submission.uids, submission.weights);
    report.block = Some(confirmed.reference_block);
    report.attempts = Some(confirmed.attempts);
    report.success = true;
    tracing::info!(
        netuid,
        block = confirmed.reference_block,
        attempts = confirmed.attempts,
        seconds = report.elapsed_secs,
        "weights confirmed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::client::Neuron;
    use crate::chain::signing::PublicKey;

    #[test]
    fn set_report_text_is_a_table_with_the_u16_vector() {
        let mut report = SetReport { netuid: 120, hotkey: "5Hot".into(), version_key: 9_012_002, ..SetReport::default() };
        report.record(&WeightsCall::Timelocked { reveal_round: 77 }, vec![0, 3], vec![65535, 100]);
        report.block = Some(12);
        report.attempts = Some(2);
        report.success = true;
        let text = report.text();
        assert!(text.contains("weights set and confirmed"), "{text}");
        assert!(text.contains("commit_timelocked_mechanism_weights") && text.contains("timelocked"), "{text}");
        assert!(text.lines().any(|line| line.starts_with("reveal round") && line.trim_end().ends_with("77")), "{text}");
        assert!(text.ends_with("u16 weights: 0:65535 3:100\n"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(
            (json["mode"].as_str(), json["reveal_round"].as_u64(), json["attempts"].as_u64()),
            (Some("timelocked"), Some(77), Some(2))
        );
        assert!(json.get("error").is_none());
    }

    #[test]
    fn vectors_that_do_not_fit_the_metagraph_are_refused() {
        let neuron = |uid: u16, byte: u8| Neuron { uid, hotkey: PublicKey([byte; 32]), last_update: 0, validator_permit: false };
        let metagraph = Metagraph { netuid: 120, block: 50, neurons: vec![neuron(0, 1), neuron(1, 2)] };
        assert!(check_vector(&metagraph, &[0, 1], None, None).is_ok());
        let unknown = check_vector(&metagraph, &[2], None, None).expect_err("uid 2");
        assert!(unknown.to_string().contains("uid 2 does not exist"), "{unknown}");
        let expected = vec![PublicKey([1; 32]).to_ss58(), PublicKey([9; 32]).to_ss58()];
        let moved = check_vector(&metagraph, &[1], Some(&expected), Some(40)).expect_err("uid 1 changed hands");
        assert!(moved.to_string().contains("snapshot of block 40") && moved.is_refusal(), "{moved}");
        let long = check_vector(&metagraph, &[0, 1, 0], None, None).expect_err("too long");
        assert!(long.to_string().contains("3 uids weighted"), "{long}");
    }
}
