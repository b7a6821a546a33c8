//! Bayesian confidence intervals on a miner's mean score in one environment.
//!
//! The posterior of a Bernoulli-like score sum `s` over `n` samples under a `Beta(a, b)` prior is
//! `Beta(a + s, b + n - s)`; the interval is its central quantile range. The quantile comes from
//! `statrs` (AS 64 / AS 109 with Newton steps), checked to 1e-12 against the golden intervals
//! the reference computed with `scipy.stats.beta.ppf`.

use statrs::function::beta::inv_beta_reg;

/// Central `confidence` interval of the posterior mean for `successes` out of `trials`.
///
/// Returns `(0.0, 0.0)` when there are no trials, as the reference does. `successes` is
/// clamped into `[0, trials]`.
#[must_use]
pub fn beta_interval(successes: f64, trials: u32, prior: (f64, f64), confidence: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 0.0);
    }
    let trials = f64::from(trials);
    let successes = successes.clamp(0.0, trials);
    let alpha = prior.0 + successes;
    let beta = prior.1 + (trials - successes);
    let tail = (1.0 - confidence) / 2.0;
    let lower = quantile(alpha, beta, tail);
    let upper = quantile(alpha, beta, 1.0 - tail);
    let lower = if lower.is_nan() { 0.0 } else { lower.max(0.0) };
    let upper = if upper.is_nan() { 1.0 } else { upper.min(1.0) };
    (lower, upper)
}

fn quantile(alpha: f64, beta: f64, probability: f64) -> f64 {
    if !(alpha > 0.0 && beta > 0.0 && (0.0..=1.0).contains(&probability)) {
        return f64::NAN;
    }
    inv_beta_reg(alpha, beta, probability)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JEFFREYS: (f64, f64) = (0.5, 0.5);

    #[test]
    fn beta_interval_matches_scipy_values() {
        // scipy.stats.beta.ppf([0.05, 0.95], 0.5 + s, 0.5 + n - s)
        let (lower, upper) = beta_interval(358.9628, 408, JEFFREYS, 0.9);
        assert!((lower - 0.851_361_574_460_583_2).abs() < 1e-12, "{lower}");
        assert!((upper - 0.904_294_877_708_690_3).abs() < 1e-12, "{upper}");
    }

    #[test]
    fn beta_interval_of_no_trials_is_zero() {
        assert_eq!(beta_interval(3.0, 0, JEFFREYS, 0.9), (0.0, 0.0));
    }

    #[test]
    fn beta_interval_clamps_successes_and_stays_in_unit_range() {
        let (lower, upper) = beta_interval(50.0, 10, JEFFREYS, 0.9);
        assert!(lower > 0.7 && upper <= 1.0);
        let (lower, upper) = beta_interval(-5.0, 10, JEFFREYS, 0.9);
        assert!(lower >= 0.0 && upper < 0.3);
    }
}
