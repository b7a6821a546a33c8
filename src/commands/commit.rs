//! `af commit`: publish `{model, revision, chute_id}` as a drand-timelocked commitment, as the
//! original: `blocks_until_reveal=1`, waiting for finalization, and on
//! `Commitments::SpaceLimitExceeded` waiting one block and trying again.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::chain::client::ChainClient;
use crate::chain::commit::commitment_text;
use crate::chain::pyjson::dumps_sorted;
use crate::chain::{self, wallet};
use crate::cli::CommitArgs;
use crate::error::ExitStatus;
use crate::output::Printer;
use crate::settings::CommitSettings;

/// Blocks until the commitment is revealed, as the original passes.
const BLOCKS_UNTIL_REVEAL: u64 = 1;

fn json_text(value: &str) -> String {
    dumps_sorted(&serde_json::Value::from(value))
}

/// Runs `af commit`. Prints `{"success": true, "repo", "revision", "chute_id"}` or
/// `{"success": false, "error"}` (Python's `json.dumps` layout, as the original).
///
/// # Errors
/// Bad flags or an unusable wallet (exit 2); chain failures are reported in the JSON line and
/// exit 1.
///
/// # Cancellation
/// A signal while waiting to retry stops with [`ExitStatus::Interrupted`]; a submission in
/// flight is awaited, never torn.
pub async fn run(args: &CommitArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = CommitSettings::resolve(args)?;
    let location = &settings.wallet.location;
    let hotkey = wallet::hotkey(location, &settings.wallet.password)
        .with_context(|| format!("failed to load hotkey {:?} of wallet {:?}", location.hotkey, location.name))?;
    let text = commitment_text(&settings.repo, &settings.revision, &settings.chute_id);
    let outcome = commit(&settings, &hotkey, &text, printer, &token).await;
    match outcome {
        Ok(Outcome::DryRun) => Ok(ExitStatus::Success),
        Ok(Outcome::Committed) => {
            let line = format!(
                "{{\"success\": true, \"repo\": {}, \"revision\": {}, \"chute_id\": {}}}\n",
                json_text(&settings.repo),
                json_text(&settings.revision),
                json_text(&settings.chute_id)
            );
            printer.raw(&line).context("failed to write to stdout")?;
            Ok(ExitStatus::Success)
        }
        Ok(Outcome::Interrupted) => Ok(ExitStatus::Interrupted),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "commit failed");
            printer
                .raw(&format!("{{\"success\": false, \"error\": {}}}\n", json_text(&format!("{error:#}"))))
                .context("failed to write to stdout")?;
            Ok(ExitStatus::Failure)
        }
    }
}

/// How `commit` ended.
enum Outcome {
    /// Finalized on chain.
    Committed,
    /// `--dry-run`: the extrinsic was printed.
    DryRun,
    /// A signal arrived before it was sent.
    Interrupted,
}

async fn commit(
    settings: &CommitSettings,
    hotkey: &chain::signing::Keypair,
    text: &str,
    printer: Printer,
    token: &CancellationToken,
) -> anyhow::Result<Outcome> {
    let Ok(connected) = crate::shutdown::interruptible(token, ChainClient::connect(settings.chain.clone())).await else {
        return Ok(Outcome::Interrupted);
    };
    let client = connected.context("failed to reach subtensor")?;
    if settings.dry_run {
        let signed = client
            .sign_commitment(settings.netuid, hotkey, text, &settings.beacon, BLOCKS_UNTIL_REVEAL)
            .await
            .context("failed to build the extrinsic")?;
        let document = serde_json::json!({
            "dry_run": true,
            "netuid": settings.netuid,
            "hotkey": hotkey.public_key().to_ss58(),
            "commitment": text,
            "reveal_round": signed.reveal_round,
            "extrinsic": format!("0x{}", hex::encode(&signed.extrinsic)),
        });
        printer.json(&document).context("failed to write to stdout")?;
        return Ok(Outcome::DryRun);
    }
    loop {
        if token.is_cancelled() {
            return Ok(Outcome::Interrupted);
        }
        match client.commit(settings.netuid, hotkey, text, &settings.beacon, BLOCKS_UNTIL_REVEAL).await {
            Ok(reveal_round) => {
                tracing::info!(reveal_round, "commitment finalized");
                return Ok(Outcome::Committed);
            }
            Err(chain::Error::Dispatch { error, .. }) if error == "SpaceLimitExceeded" => {
                tracing::warn!("commitment space used up for this epoch; retrying after the next block");
                tokio::select! {
                    biased;
                    () = token.cancelled() => return Ok(Outcome::Interrupted),
                    block = client.wait_for_next_block() => { block.context("failed to wait for the next block")?; }
                }
            }
            Err(error) => return Err(anyhow::Error::new(error).context(format!("failed to commit on netuid {}", settings.netuid))),
        }
    }
}
