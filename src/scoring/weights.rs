//! From points to the weight vector set on chain, as the reference's `calculate_weights`.

use std::collections::BTreeMap;

use crate::scoring::policy::ScoringPolicy;

/// The uid that receives burned weight and weight below the floor.
pub const BASE_UID: u32 = 0;

/// Weights of one scoring pass.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightAssignment {
    /// The vector to set on chain: `(uid, weight)` in ascending uid order.
    pub vector: Vec<(u32, f64)>,
    /// Every uid's weight as the summary shows it (includes weight moved to uid 0 even when
    /// the vector leaves it out).
    pub by_uid: BTreeMap<u32, f64>,
}

impl WeightAssignment {
    /// Everything to uid 0, as the reference does when nobody is eligible or all is burned.
    #[must_use]
    pub fn all_to_base() -> Self {
        Self { vector: vec![(BASE_UID, 1.0)], by_uid: BTreeMap::new() }
    }
}

/// Normalises the points of `eligible` (ascending uids), moves weights under the floor to
/// uid 0 and applies `burn` (clamped to `[0, 1]`).
#[must_use]
pub fn assign_weights(eligible: &[u32], points: &BTreeMap<u32, f64>, burn: f64, policy: &ScoringPolicy) -> WeightAssignment {
    let burn = burn.clamp(0.0, 1.0);
    if burn >= 1.0 || eligible.is_empty() {
        return WeightAssignment::all_to_base();
    }
    let points_of = |uid: &u32| points.get(uid).copied().unwrap_or(0.0);
    let total: f64 = eligible.iter().map(points_of).sum();
    let mut by_uid: BTreeMap<u32, f64> = if total <= 0.0 {
        // Python's max() keeps the first maximum; eligible is in uid order here.
        let mut best = eligible[0];
        for uid in eligible {
            if points_of(uid) > points_of(&best) {
                best = *uid;
            }
        }
        eligible.iter().map(|&uid| (uid, if uid == best { 1.0 } else { 0.0 })).collect()
    } else {
        eligible.iter().map(|&uid| (uid, points_of(&uid) / total)).collect()
    };

    let mut moved = 0.0;
    for (uid, weight) in &mut by_uid {
        if *uid != BASE_UID && *weight < policy.weight_floor {
            moved += *weight;
            *weight = 0.0;
        }
    }
    if moved > 0.0 {
        *by_uid.entry(BASE_UID).or_insert(0.0) += moved;
    }

    let mut vector_uids: Vec<u32> = eligible.to_vec();
    if burn > 0.0 {
        for weight in by_uid.values_mut() {
            *weight *= 1.0 - burn;
        }
        if let Some(base) = by_uid.get_mut(&BASE_UID) {
            *base += burn;
        } else {
            by_uid.insert(BASE_UID, burn);
            vector_uids.push(BASE_UID);
        }
    }
    if !policy.quirks.floor_weight_dropped_when_base_ineligible && by_uid.contains_key(&BASE_UID) {
        vector_uids.push(BASE_UID);
    }
    vector_uids.sort_unstable();
    vector_uids.dedup();
    let vector = vector_uids.iter().map(|uid| (*uid, by_uid.get(uid).copied().unwrap_or(0.0))).collect();
    WeightAssignment { vector, by_uid }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(pairs: &[(u32, f64)]) -> BTreeMap<u32, f64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn assign_weights_normalises_and_moves_dust_to_base() {
        let policy = ScoringPolicy::reference();
        let result = assign_weights(&[0, 1, 2], &points(&[(0, 1.0), (1, 98.5), (2, 0.5)]), 0.0, &policy);
        let expected = [(0, 0.015), (1, 0.985), (2, 0.0)];
        for ((uid, weight), (want_uid, want)) in result.vector.iter().zip(expected) {
            assert_eq!(*uid, want_uid);
            assert!((weight - want).abs() < 1e-12, "{uid}: {weight}");
        }
    }

    #[test]
    fn assign_weights_reference_drops_dust_when_base_is_not_eligible() {
        let policy = ScoringPolicy::reference();
        let result = assign_weights(&[1, 2], &points(&[(1, 99.5), (2, 0.5)]), 0.0, &policy);
        assert_eq!(result.vector.len(), 2);
        assert!((result.by_uid[&0] - 0.005).abs() < 1e-12);

        let mut fixed = ScoringPolicy::reference();
        fixed.quirks.floor_weight_dropped_when_base_ineligible = false;
        let result = assign_weights(&[1, 2], &points(&[(1, 99.5), (2, 0.5)]), 0.0, &fixed);
        assert_eq!(result.vector[0].0, 0);
        assert!((result.vector.iter().map(|v| v.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn assign_weights_burn_goes_to_base_and_all_burn_is_uid_zero() {
        let policy = ScoringPolicy::reference();
        let result = assign_weights(&[3, 4], &points(&[(3, 1.0), (4, 3.0)]), 0.5, &policy);
        assert_eq!(result.vector, vec![(0, 0.5), (3, 0.125), (4, 0.375)]);
        assert_eq!(assign_weights(&[3], &points(&[(3, 1.0)]), 1.5, &policy), WeightAssignment::all_to_base());
        assert_eq!(assign_weights(&[], &points(&[]), 0.0, &policy), WeightAssignment::all_to_base());
    }

    #[test]
    fn assign_weights_zero_points_go_to_first_best() {
        let policy = ScoringPolicy::reference();
        let result = assign_weights(&[2, 5], &points(&[]), 0.0, &policy);
        assert_eq!(result.vector, vec![(2, 1.0), (5, 0.0)]);
    }
}
