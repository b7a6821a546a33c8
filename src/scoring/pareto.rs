//! Pareto dominance over subsets of environments, and how a subset's reward is shared.
//!
//! The reference re-runs every pairwise per-environment challenge for every subset. The verdict
//! of a challenge does not depend on the subset, so here each pair is challenged once per
//! environment, giving two bitmasks per ordered pair: the environments the challenger wins and
//! the ones it loses. `o` dominates `c` on subset `S` exactly when `S` avoids every environment
//! `o` loses and meets one it wins; the set of such `S` is precomputed as a 256-bit set, so a
//! miner's "dominated on" set is the OR over all opponents. Results are identical to the
//! reference's; the cost is `O(P^2 x envs)` instead of `O(P^2 x envs x subsets)`.

use std::cmp::Ordering;

use crate::scoring::aggregate::ENV_COUNT;
use crate::scoring::policy::ScoringPolicy;

/// A set of subset masks (each mask is a `u8` of environment bits).
type SubsetSet = [u64; 4];

/// What one miner brings to a challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct Contender {
    /// Deduplicated sample counts per environment.
    pub counts: [u32; ENV_COUNT],
    /// Score sums per environment.
    pub sums: [f64; ENV_COUNT],
    /// Confidence intervals per environment.
    pub intervals: [(f64, f64); ENV_COUNT],
    /// Block of first commitment; `None` sorts after every block (the reference's infinity).
    pub first_block: Option<i64>,
}

/// Outcome of a single-environment challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first miner wins.
    First,
    /// The second miner wins.
    Second,
    /// Neither clearly wins.
    Tie,
}

/// Compares first-commit blocks with `None` as +infinity.
fn block_order(a: Option<i64>, b: Option<i64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The anti-copy challenge in one environment: a later committer must have its lower bound
/// above the earlier one's upper bound; on the same block either may win that way.
#[must_use]
pub fn challenge(a: &Contender, b: &Contender, env: usize, min_samples: u32) -> Verdict {
    let (samples_a, samples_b) = (a.counts[env], b.counts[env]);
    if samples_a < min_samples && samples_b < min_samples {
        return Verdict::Tie;
    }
    if samples_a < min_samples {
        return Verdict::Second;
    }
    if samples_b < min_samples {
        return Verdict::First;
    }
    let (lower_a, upper_a) = a.intervals[env];
    let (lower_b, upper_b) = b.intervals[env];
    match block_order(a.first_block, b.first_block) {
        Ordering::Less => {
            if lower_b > upper_a {
                Verdict::Second
            } else {
                Verdict::First
            }
        }
        Ordering::Greater => {
            if lower_a > upper_b {
                Verdict::First
            } else {
                Verdict::Second
            }
        }
        Ordering::Equal => {
            if lower_a > upper_b {
                Verdict::First
            } else if lower_b > upper_a {
                Verdict::Second
            } else {
                Verdict::Tie
            }
        }
    }
}

/// For every mask `m`, the set of masks that are subsets of `m`.
fn subsets_of_table() -> Vec<SubsetSet> {
    (0_usize..256)
        .map(|mask| {
            let mut set = [0_u64; 4];
            for subset in 0_usize..256 {
                if subset & !mask == 0 {
                    set[subset / 64] |= 1 << (subset % 64);
                }
            }
            set
        })
        .collect()
}

fn contains(set: &SubsetSet, mask: u8) -> bool {
    set[usize::from(mask) / 64] & (1 << (mask % 64)) != 0
}

/// For each contender, the subsets on which some other contender dominates it.
#[must_use]
pub fn dominated_subsets(contenders: &[Contender], policy: &ScoringPolicy, min_samples: &[u32; ENV_COUNT]) -> Vec<SubsetSet> {
    let subsets_of = subsets_of_table();
    let full: u8 = u8::MAX >> (8 - ENV_COUNT);
    let mut dominated = vec![[0_u64; 4]; contenders.len()];
    let enforced = if policy.quirks.challenge_ignores_min_samples { [0; ENV_COUNT] } else { *min_samples };
    for first in 0..contenders.len() {
        for second in first + 1..contenders.len() {
            let (mut first_wins, mut second_wins) = (0_u8, 0_u8);
            for (env, &min_samples) in enforced.iter().enumerate() {
                match challenge(&contenders[first], &contenders[second], env, min_samples) {
                    Verdict::First => first_wins |= 1 << env,
                    Verdict::Second => second_wins |= 1 << env,
                    Verdict::Tie => {}
                }
            }
            // `winner` dominates `loser` on S iff S avoids what `winner` loses and meets a win.
            for (winner_wins, winner_loses, loser) in [(first_wins, second_wins, second), (second_wins, first_wins, first)] {
                if winner_wins == 0 {
                    continue;
                }
                let allowed = full & !winner_loses;
                let without_wins = allowed & !winner_wins;
                let (all, none_won) = (&subsets_of[usize::from(allowed)], &subsets_of[usize::from(without_wins)]);
                for word in 0..4 {
                    dominated[loser][word] |= all[word] & !none_won[word];
                }
            }
        }
    }
    dominated
}

/// Members of the Pareto frontier of `subset`: contenders nobody dominates there (everyone if
/// that leaves nobody, as the reference falls back).
#[must_use]
pub fn frontier(dominated: &[SubsetSet], subset: u8) -> Vec<usize> {
    let members: Vec<usize> = (0..dominated.len()).filter(|&c| !contains(&dominated[c], subset)).collect();
    if members.is_empty() { (0..dominated.len()).collect() } else { members }
}

/// Geometric mean of the clamped mean scores over `subset`; 0 when any is 0.
#[must_use]
pub fn comprehensive_score(contender: &Contender, subset: u8) -> f64 {
    let mut product = 1.0;
    let mut env_count = 0_u32;
    for env in (0..ENV_COUNT).filter(|env| subset & (1 << env) != 0) {
        let samples = contender.counts[env];
        let mean = if samples > 0 { (contender.sums[env] / f64::from(samples)).clamp(0.0, 1.0) } else { 0.0 };
        if mean <= 0.0 {
            return 0.0;
        }
        product *= mean;
        env_count += 1;
    }
    if env_count == 0 {
        return 0.0;
    }
    product.powf(1.0 / f64::from(env_count))
}

/// How the frontier of `subset` shares its reward: `(contender, share)` in the reference's
/// order (by comprehensive score, descending, ties by frontier order); shares sum to 1.
#[must_use]
pub fn frontier_shares(contenders: &[Contender], members: &[usize], subset: u8, policy: &ScoringPolicy) -> Vec<(usize, f64)> {
    match members {
        [] => return Vec::new(),
        [only] => return vec![(*only, 1.0)],
        _ => {}
    }
    let equal_split = || {
        #[expect(clippy::cast_precision_loss, reason = "frontier sizes are tiny")]
        let share = 1.0 / members.len() as f64;
        members.iter().map(|&m| (m, share)).collect::<Vec<_>>()
    };
    let mut scored: Vec<(usize, f64)> = members.iter().map(|&m| (m, comprehensive_score(&contenders[m], subset))).collect();
    if scored.iter().map(|(_, score)| score).sum::<f64>() <= 0.0 {
        return equal_split();
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut rank_multiplier = 1.0;
    for (_, score) in &mut scored {
        *score = score.powf(policy.score_power) * rank_multiplier;
        rank_multiplier *= policy.rank_decay_rate;
    }
    let total: f64 = scored.iter().map(|(_, decayed)| decayed).sum();
    if total <= 0.0 {
        return equal_split();
    }
    scored.into_iter().map(|(m, decayed)| (m, decayed / total)).collect()
}

/// All subsets of `env_count` environments with `size` members, in `itertools.combinations`
/// order, as bitmasks.
#[must_use]
pub fn combinations(env_count: usize, size: usize) -> Vec<u8> {
    fn extend(start: usize, env_count: usize, left: usize, mask: u8, out: &mut Vec<u8>) {
        if left == 0 {
            out.push(mask);
            return;
        }
        for env in start..env_count {
            extend(env + 1, env_count, left - 1, mask | (1 << env), out);
        }
    }
    let mut out = Vec::new();
    extend(0, env_count, size, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contender(interval: (f64, f64), first_block: Option<i64>) -> Contender {
        Contender { counts: [500; ENV_COUNT], sums: [250.0; ENV_COUNT], intervals: [interval; ENV_COUNT], first_block }
    }

    #[test]
    fn challenge_later_committer_must_clear_upper_bound() {
        let early = contender((0.40, 0.50), Some(10));
        let later_better = contender((0.51, 0.60), Some(20));
        let later_overlapping = contender((0.45, 0.60), Some(20));
        assert_eq!(challenge(&early, &later_better, 0, 0), Verdict::Second);
        assert_eq!(challenge(&early, &later_overlapping, 0, 0), Verdict::First);
        assert_eq!(challenge(&later_overlapping, &early, 0, 0), Verdict::Second);
        assert_eq!(challenge(&contender((0.4, 0.5), Some(10)), &contender((0.45, 0.6), Some(10)), 0, 0), Verdict::Tie);
        assert_eq!(challenge(&contender((0.4, 0.5), None), &contender((0.45, 0.6), Some(10)), 0, 0), Verdict::Second);
    }

    #[test]
    fn challenge_min_samples_makes_short_miner_lose_when_enforced() {
        let mut short = contender((0.9, 0.95), Some(1));
        short.counts[0] = 10;
        let long = contender((0.1, 0.2), Some(5));
        assert_eq!(challenge(&short, &long, 0, 400), Verdict::Second);
        assert_eq!(challenge(&short, &long, 0, 0), Verdict::First);
    }

    #[test]
    fn combinations_follow_itertools_order() {
        assert_eq!(combinations(4, 2), vec![0b0011, 0b0101, 0b1001, 0b0110, 0b1010, 0b1100]);
        assert_eq!(combinations(8, 3).len(), 56);
        assert_eq!((3..=8).map(|s| combinations(8, s).len()).sum::<usize>(), 219);
    }

    #[test]
    fn dominated_subsets_match_direct_definition() {
        // Miner 1 wins env 0, loses env 1 (later committer clearing bounds only in env 0).
        let mut a = contender((0.40, 0.50), Some(10));
        let mut b = contender((0.40, 0.50), Some(20));
        b.intervals[0] = (0.6, 0.7);
        a.intervals[1] = (0.8, 0.9);
        let dominated = dominated_subsets(&[a, b], &ScoringPolicy::reference(), &[0; ENV_COUNT]);
        // a beats b everywhere except env 0, where b clears a's bound.
        assert!(contains(&dominated[0], 0b0000_0001), "b dominates a on {{env0}}");
        assert!(!contains(&dominated[0], 0b0000_0011), "a wins env1, so b cannot dominate there");
        assert!(contains(&dominated[1], 0b0000_0010));
        assert!(!contains(&dominated[1], 0b0000_0011), "b wins env0");
        assert!(!contains(&dominated[1], 0), "nobody dominates on the empty subset");
    }

    #[test]
    fn frontier_shares_decay_by_rank_and_sum_to_one() {
        let policy = ScoringPolicy::reference();
        let mut strong = contender((0.0, 0.0), Some(1));
        strong.sums = [400.0; ENV_COUNT];
        let weak = contender((0.0, 0.0), Some(2));
        let shares = frontier_shares(&[weak, strong], &[0, 1], 0b11, &policy);
        assert_eq!(shares[0].0, 1);
        let expected_strong = 0.64 / (0.64 + 0.25 * 0.5);
        assert!((shares[0].1 - expected_strong).abs() < 1e-12);
        assert!((shares.iter().map(|s| s.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
