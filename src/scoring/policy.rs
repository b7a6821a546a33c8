//! Scoring parameters and the reference validator's quirks, in one place.
//!
//! Validators only keep consensus if they all compute the same weights from the same data, so
//! [`ScoringPolicy::reference`] reproduces the Python validator of November 2025 (commit
//! 515276e) exactly, including the behaviours listed in [`ReferenceQuirks`] that look like bugs.
//! Each quirk can be switched off for offline what-if replays; the default never changes them.

/// Behaviours of the reference scorer that are reproduced on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceQuirks {
    /// The reference computes a per-environment minimum sample count for each pairwise
    /// challenge but never passes it on, so a miner with fewer samples is never made to lose
    /// automatically. `true` reproduces that (the count is ignored).
    pub challenge_ignores_min_samples: bool,
    /// The reference merges the first-commitment blocks read from the chain *after* the
    /// per-miner statistics are built, so they only show in the `FirstBlk` column and never
    /// take part in the anti-copy rule. `true` reproduces that.
    pub commit_blocks_only_for_display: bool,
    /// Weights under the floor are moved to uid 0's hotkey, but the vector set on chain lists
    /// only eligible miners, so when uid 0 is not eligible that moved weight is left out of the
    /// vector (the chain then renormalises). `true` reproduces that.
    pub floor_weight_dropped_when_base_ineligible: bool,
}

impl ReferenceQuirks {
    /// The reference behaviour: every quirk on.
    pub const REFERENCE: Self =
        Self { challenge_ignores_min_samples: true, commit_blocks_only_for_display: true, floor_weight_dropped_when_base_ineligible: true };
}

/// Every number the scorer uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringPolicy {
    /// Blocks of history scored.
    pub tail: u64,
    /// Datasets with fewer task ids than this count each deduplicated sample twice.
    pub small_dataset_threshold: u64,
    /// Deduplicated samples needed in every environment to be eligible.
    pub min_samples_per_env: u32,
    /// Two-sided confidence level of the Beta intervals.
    pub confidence_level: f64,
    /// Beta prior `(alpha, beta)`; Jeffreys by default.
    pub beta_prior: (f64, f64),
    /// Exponent applied to the geometric mean before sharing a subset's reward.
    pub score_power: f64,
    /// Reward multiplier per rank on a frontier.
    pub rank_decay_rate: f64,
    /// Number of top layers of the environment lattice that are scored.
    pub top_layers: usize,
    /// Total weight of layer `s` is `layer_scale * 2^s`.
    pub layer_scale: f64,
    /// Weights below this are moved to uid 0.
    pub weight_floor: f64,
    /// Model names (after the `owner/` part) must start with this, except uid 0's.
    pub model_name_prefix: &'static str,
    /// The quirks reproduced from the reference.
    pub quirks: ReferenceQuirks,
}

impl ScoringPolicy {
    /// The consensus rule of the network as the reference validator implements it.
    #[must_use]
    pub fn reference() -> Self {
        Self {
            tail: 40_000,
            small_dataset_threshold: 400,
            min_samples_per_env: 400,
            confidence_level: 0.9,
            beta_prior: (0.5, 0.5),
            score_power: 2.0,
            rank_decay_rate: 0.5,
            top_layers: 6,
            layer_scale: 1.0,
            weight_floor: 0.01,
            model_name_prefix: "affine",
            quirks: ReferenceQuirks::REFERENCE,
        }
    }

    /// The smallest scored layer for `env_count` environments (layers are 1-based).
    #[must_use]
    pub fn min_layer(&self, env_count: usize) -> usize {
        env_count.saturating_sub(self.top_layers - 1).max(1)
    }
}

impl Default for ScoringPolicy {
    fn default() -> Self {
        Self::reference()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_reference_scores_layers_three_to_eight_for_eight_envs() {
        let policy = ScoringPolicy::reference();
        assert_eq!(policy.min_layer(8), 3);
        assert_eq!(policy.min_layer(4), 1);
        assert_eq!(policy.min_layer(6), 1);
        assert_eq!(policy.min_layer(7), 2);
    }
}
