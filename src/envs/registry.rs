//! The environments of the network, their task-id ranges and score ranges.
//!
//! The order is the reference validator's (`get_enabled_envs`): it fixes the column order of the
//! summary table and the order in which environment subsets are enumerated when scoring.

/// One evaluation environment as the scorer and the sampler see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvSpec {
    /// Wire identifier, e.g. `affine:sat`.
    pub id: &'static str,
    /// First valid task id (inclusive).
    pub task_start: u64,
    /// End of the valid task ids (exclusive).
    pub task_end: u64,
    /// Raw score range; scores are normalised from it to `[0, 1]`.
    pub score_range: (f64, f64),
}

impl EnvSpec {
    /// Number of distinct task ids (the dataset size).
    #[must_use]
    pub const fn dataset_size(&self) -> u64 {
        self.task_end - self.task_start
    }

    /// Whether `task_id` lies in `[task_start, task_end)`.
    #[must_use]
    pub const fn contains_task(&self, task_id: u64) -> bool {
        task_id >= self.task_start && task_id < self.task_end
    }

    /// Maps a raw score from this environment's range onto `[0, 1]` (not clamped).
    #[must_use]
    pub fn normalise_score(&self, raw: f64) -> f64 {
        let (low, high) = self.score_range;
        #[expect(clippy::float_cmp, reason = "the reference divides unless the bounds are exactly equal")]
        if high == low {
            return 0.0;
        }
        (raw - low) / (high - low)
    }
}

const UNIT: (f64, f64) = (0.0, 1.0);

/// The eight environments scored by the network, in the reference's order.
pub const ENVIRONMENTS: [EnvSpec; 8] = [
    EnvSpec { id: "agentgym:webshop", task_start: 0, task_end: 500, score_range: UNIT },
    EnvSpec { id: "agentgym:alfworld", task_start: 2000, task_end: 2500, score_range: UNIT },
    EnvSpec { id: "agentgym:babyai", task_start: 0, task_end: 500, score_range: UNIT },
    EnvSpec { id: "agentgym:sciworld", task_start: 2000, task_end: 2500, score_range: (-100.0, 100.0) },
    EnvSpec { id: "agentgym:textcraft", task_start: 0, task_end: 582, score_range: UNIT },
    EnvSpec { id: "affine:sat", task_start: 0, task_end: 500, score_range: UNIT },
    EnvSpec { id: "affine:ded", task_start: 0, task_end: 240, score_range: UNIT },
    EnvSpec { id: "affine:abd", task_start: 0, task_end: 240, score_range: UNIT },
];

/// Position of `id` in [`ENVIRONMENTS`], if it is a known environment.
#[must_use]
pub fn env_index(id: &str) -> Option<usize> {
    ENVIRONMENTS.iter().position(|spec| spec.id == id)
}

/// The spec of `id`, if it is a known environment.
#[must_use]
pub fn env_spec(id: &str) -> Option<&'static EnvSpec> {
    ENVIRONMENTS.iter().find(|spec| spec.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ranges_match_the_wire_table() {
        let sizes: Vec<(&str, u64)> = ENVIRONMENTS.iter().map(|e| (e.id, e.dataset_size())).collect();
        assert_eq!(
            sizes,
            vec![
                ("agentgym:webshop", 500),
                ("agentgym:alfworld", 500),
                ("agentgym:babyai", 500),
                ("agentgym:sciworld", 500),
                ("agentgym:textcraft", 582),
                ("affine:sat", 500),
                ("affine:ded", 240),
                ("affine:abd", 240),
            ]
        );
        assert!(env_spec("agentgym:alfworld").is_some_and(|e| e.contains_task(2000) && !e.contains_task(2500)));
        assert_eq!(env_index("nope"), None);
    }

    #[test]
    fn sciworld_scores_normalise_from_plus_minus_hundred() {
        let sci = env_spec("agentgym:sciworld").expect("sciworld is registered");
        assert!((sci.normalise_score(-100.0) - 0.0).abs() < 1e-15);
        assert!((sci.normalise_score(0.0) - 0.5).abs() < 1e-15);
        assert!((sci.normalise_score(100.0) - 1.0).abs() < 1e-15);
    }
}
