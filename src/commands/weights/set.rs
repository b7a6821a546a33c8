//! `af weights -r --set`: set the recomputed weight vector on chain with the wallet's hotkey,
//! after checking the snapshot still matches the chain, and confirm it by `LastUpdate`.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;

use crate::chain::client::ChainClient;
use crate::chain::submit::{BITTENSOR_VERSION_KEY, WeightsCall, WeightsRequest};
use crate::chain::{self, wallet};
use crate::output::plain_table;
use crate::settings::SetWeightsSettings;
use crate::store::replay::MetagraphSnapshot;

/// Subnet used when the snapshot does not name one (Affine's).
const DEFAULT_NETUID: u16 = 120;

/// What `--set` did (or, with `--dry-run`, would do); the `set_weights` object of `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct SetReport {
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
    /// Seconds from connecting to confirmation.
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
    pub(super) fn text(&self) -> String {
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

/// Refuses to set weights when any weighted uid belongs to another hotkey on chain than in
/// the snapshot (the snapshot is stale: a miner deregistered and the uid was reused).
fn check_snapshot_matches(snapshot: &MetagraphSnapshot, on_chain: &chain::client::Metagraph, uids: &[u16]) -> anyhow::Result<()> {
    for &uid in uids {
        let expected = snapshot.hotkeys.get(usize::from(uid)).map_or("", String::as_str);
        let actual = on_chain.neurons.get(usize::from(uid)).map(|neuron| neuron.hotkey.to_ss58());
        match actual {
            Some(actual) if actual == expected => {}
            Some(actual) => anyhow::bail!(
                "refusing to set weights: uid {uid} is hotkey {actual} on chain (block {}) but {expected} in the snapshot of block {}; recompute against a fresh metagraph",
                on_chain.block,
                snapshot.block
            ),
            None => anyhow::bail!(
                "refusing to set weights: uid {uid} does not exist on netuid {} (the chain has {} uids at block {})",
                on_chain.netuid,
                on_chain.neurons.len(),
                on_chain.block
            ),
        }
    }
    Ok(())
}

/// Sets `vector` (uid, float weight) on chain. The report is filled as far as it got, also
/// when an error is returned.
pub(super) async fn set_weights(
    settings: &SetWeightsSettings,
    snapshot: &MetagraphSnapshot,
    vector: &[(u32, f64)],
    report: &mut SetReport,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let netuid = snapshot.netuid.unwrap_or(DEFAULT_NETUID);
    report.netuid = netuid;
    report.dry_run = settings.dry_run;
    let location = &settings.wallet.location;
    let hotkey = wallet::hotkey(location, &settings.wallet.password)
        .with_context(|| format!("failed to load hotkey {:?} of wallet {:?}", location.hotkey, location.name))?;
    report.hotkey = hotkey.public_key().to_ss58();
    let uids = vector
        .iter()
        .map(|(uid, _)| u16::try_from(*uid).map_err(|_| anyhow::anyhow!("uid {uid} in the weight vector does not fit a chain uid")))
        .collect::<anyhow::Result<Vec<u16>>>()?;
    let weights: Vec<f64> = vector.iter().map(|(_, weight)| *weight).collect();
    // What will be sent, for the report even when a check below stops it.
    (report.uids, report.weights) = chain::weights::normalize(&uids, &weights).context("the weight vector cannot be sent")?;

    let client = ChainClient::connect(settings.chain.clone()).await.context("failed to reach subtensor")?;
    let on_chain = client.metagraph(netuid).await.with_context(|| format!("failed to read the metagraph of netuid {netuid}"))?;
    if !on_chain.neurons.iter().any(|neuron| neuron.hotkey == hotkey.public_key()) {
        return Err(chain::Error::NotRegistered { netuid, hotkey: report.hotkey.clone() }).context("cannot set weights");
    }
    // Only the uids actually sent matter (zero weights are dropped).
    check_snapshot_matches(snapshot, &on_chain, &report.uids)?;
    let params = client.subnet_params(netuid).await.with_context(|| format!("failed to read the parameters of netuid {netuid}"))?;
    // bittensor's own version key, raised to the subnet's when the owner requires a newer one.
    let version_key = BITTENSOR_VERSION_KEY.max(params.weights_version_key);
    report.version_key = version_key;
    let request = WeightsRequest { netuid, hotkey: &hotkey, uids: &uids, weights: &weights, version_key, beacon: &settings.beacon };

    if settings.dry_run {
        let prepared = client.prepare_weights(request).await.context("failed to build the weights call")?;
        report.record(&prepared.call, prepared.uids, prepared.weights);
        report.elapsed_secs = start.elapsed().as_secs_f64();
        return Ok(());
    }
    let result = client.set_weights_with_confirmation(request, settings.policy).await;
    report.elapsed_secs = start.elapsed().as_secs_f64();
    let confirmed = match result {
        Ok(confirmed) => confirmed,
        Err(error) => {
            if let chain::Error::WeightsNotConfirmed { attempts, .. } = &error {
                report.attempts = Some(*attempts);
            }
            return Err(error).with_context(|| format!("failed to set weights on netuid {netuid}"));
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
}
