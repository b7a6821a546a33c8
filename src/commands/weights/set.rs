//! `af weights -r --set`: load the wallet's hotkey, connect, and set the recomputed vector
//! through the shared local-set path ([`crate::weights_set`]).

use anyhow::Context as _;

use crate::chain::client::ChainClient;
use crate::chain::wallet;
use crate::settings::SetWeightsSettings;
use crate::store::replay::MetagraphSnapshot;
use crate::weights_set::{LocalSet, SetReport};

/// Subnet used when the snapshot does not name one (Affine's).
const DEFAULT_NETUID: u16 = 120;

/// Sets `vector` (uid, float weight) on chain. The report is filled as far as it got, also
/// when an error is returned.
pub(super) async fn set_weights(
    settings: &SetWeightsSettings,
    snapshot: &MetagraphSnapshot,
    vector: &[(u32, f64)],
    report: &mut SetReport,
) -> anyhow::Result<()> {
    let netuid = snapshot.netuid.unwrap_or(DEFAULT_NETUID);
    report.netuid = netuid;
    report.dry_run = settings.dry_run;
    let location = &settings.wallet.location;
    let hotkey = wallet::hotkey(location, &settings.wallet.password)
        .with_context(|| format!("failed to load hotkey {:?} of wallet {:?}", location.hotkey, location.name))?;
    report.hotkey = hotkey.public_key().to_ss58();
    let client = ChainClient::connect(settings.chain.clone()).await.context("failed to reach subtensor")?;
    let set = LocalSet {
        netuid,
        hotkey: &hotkey,
        vector,
        expected_hotkeys: Some(&snapshot.hotkeys),
        policy: settings.policy,
        beacon: &settings.beacon,
        dry_run: settings.dry_run,
    };
    match crate::weights_set::set_weights(&client, set, Some(snapshot.block), report).await {
        // A refusal says what to do already; "failed to set weights" would bury it.
        Err(error @ crate::weights_set::Error::Refused(_)) => Err(error.into()),
        result => result.with_context(|| format!("failed to set weights on netuid {netuid}")),
    }
}
