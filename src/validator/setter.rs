//! How the validator sets a vector: through the signer (`POST /set_weights`, the reference's
//! body and 600 s deadline), falling back to the local wallet's hotkey **only** when the
//! signer is unreachable (no answer at all), as the reference does. A signer that answered
//! with an error is reported, and the tempo retried, never bypassed.

use std::time::Duration;

use super::source::Computed;
use crate::chain::client::ChainClient;
use crate::chain::signing::Keypair;
use crate::chain::submit::ConfirmPolicy;
use crate::chain::timelock::BeaconPublicKey;
use crate::signer::client::SignerClient;
use crate::signer::wire::SetWeightsRequest;
use crate::weights_set::{LocalSet, SetReport};

/// Deadline of a local set as a whole (the signer route has the client's 600 s).
const LOCAL_SET_TIMEOUT: Duration = crate::signer::client::SET_WEIGHTS_TIMEOUT;

/// Which way a set went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Through the signer.
    Signer,
    /// With the local wallet's hotkey (no signer configured, or it was unreachable).
    Local,
}

impl Route {
    /// `signer` or `local`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Signer => "signer",
            Self::Local => "local",
        }
    }
}

/// What one set attempt did.
#[derive(Debug)]
pub struct Attempt {
    /// The route that answered last.
    pub route: Route,
    /// Whether the signer was unreachable and the local wallet took over.
    pub fell_back: bool,
    /// `Ok` once confirmed (the block the set reported, when known), else the reason.
    pub result: Result<Option<u64>, String>,
}

/// The signer and the local hotkey, and how a local set is made.
#[derive(Debug)]
pub struct Setter {
    /// The signer, when one is configured.
    pub signer: Option<SignerClient>,
    /// The local wallet's hotkey, when it has one.
    pub local: Option<Keypair>,
    /// The subnet.
    pub netuid: u16,
    /// Attempts, pause and confirmation blocks of a local set.
    pub policy: ConfirmPolicy,
    /// The drand beacon for timelocked weights.
    pub beacon: BeaconPublicKey,
}

impl Setter {
    /// Sets `computed` once: the signer, or the local hotkey when the signer is unreachable.
    pub async fn set(&self, chain: &ChainClient, computed: &Computed) -> Attempt {
        let Some(signer) = &self.signer else {
            return Attempt { route: Route::Local, fell_back: false, result: self.set_local(chain, computed).await };
        };
        let request = SetWeightsRequest {
            netuid: self.netuid,
            weights: computed.vector.iter().map(|(_, weight)| *weight).collect(),
            uids: computed.vector.iter().filter_map(|(uid, _)| u16::try_from(*uid).ok()).collect(),
            wait_for_inclusion: false,
        };
        if request.uids.len() != request.weights.len() {
            return Attempt { route: Route::Signer, fell_back: false, result: Err("a uid does not fit a chain uid".to_owned()) };
        }
        tracing::info!(url = signer.base_url(), uids = request.uids.len(), "calling the signer's /set_weights");
        match signer.set_weights(&request).await {
            Ok(set) => Attempt { route: Route::Signer, fell_back: false, result: Ok(set.block) },
            Err(error) if error.is_unreachable() && self.local.is_some() => {
                tracing::warn!(error = %crate::error::one_line(&error), "signer unreachable; setting with the local wallet's hotkey");
                Attempt { route: Route::Local, fell_back: true, result: self.set_local(chain, computed).await }
            }
            Err(error) => {
                let reason = crate::error::one_line(&error);
                let reason = if error.is_unreachable() { format!("{reason} (and no local wallet to fall back to)") } else { reason };
                Attempt { route: Route::Signer, fell_back: false, result: Err(reason) }
            }
        }
    }

    fn local_set<'a>(&'a self, hotkey: &'a Keypair, computed: &'a Computed, dry_run: bool) -> LocalSet<'a> {
        LocalSet {
            netuid: self.netuid,
            hotkey,
            vector: &computed.vector,
            expected_hotkeys: Some(&computed.hotkeys),
            policy: self.policy,
            beacon: &self.beacon,
            dry_run,
        }
    }

    async fn set_local(&self, chain: &ChainClient, computed: &Computed) -> Result<Option<u64>, String> {
        let Some(hotkey) = &self.local else { return Err("no signer and no local wallet".to_owned()) };
        let set = self.local_set(hotkey, computed, false);
        let mut report = SetReport::default();
        match tokio::time::timeout(LOCAL_SET_TIMEOUT, crate::weights_set::set_weights(chain, set, Some(computed.block), &mut report)).await
        {
            Ok(Ok(())) => Ok(report.block),
            Ok(Err(error)) => Err(crate::error::one_line(&error)),
            Err(_) => Err(format!("the local set did not finish within {} s", LOCAL_SET_TIMEOUT.as_secs())),
        }
    }

    /// What a dry run prints: the call the local hotkey would send, or without a local
    /// hotkey just the normalised vector.
    pub async fn dry_run(&self, chain: &ChainClient, computed: &Computed) -> Result<SetReport, String> {
        let mut report = SetReport { dry_run: true, netuid: self.netuid, ..SetReport::default() };
        let Some(hotkey) = &self.local else {
            let uids: Vec<u16> = computed.vector.iter().filter_map(|(uid, _)| u16::try_from(*uid).ok()).collect();
            let weights: Vec<f64> = computed.vector.iter().map(|(_, w)| *w).collect();
            (report.uids, report.weights) = crate::chain::weights::normalize(&uids, &weights).map_err(|e| e.to_string())?;
            return Ok(report);
        };
        let set = self.local_set(hotkey, computed, true);
        crate::weights_set::set_weights(chain, set, Some(computed.block), &mut report).await.map_err(|e| crate::error::one_line(&e))?;
        Ok(report)
    }
}
