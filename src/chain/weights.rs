//! bittensor's float -> u16 weight normalisation (`convert_and_normalize_weights_and_uids`,
//! bittensor 9.12.2), bit for bit: validators that disagree on a single u16 set different
//! weights.
//!
//! Steps: narrow every weight to `f32` (bittensor builds a `float32` array) and widen it back;
//! refuse negative weights and length mismatches; all-zero weights mean "nothing to set"; divide
//! by the maximum in `f64`; scale by 65535 and round half to even (Python's `round`); drop the
//! pairs that round to 0. No sorting, no deduplication.

use super::Error;

/// `u16::MAX` as bittensor's `U16_MAX`.
const U16_MAX: f64 = 65535.0;

/// The uids and u16 weights to put on chain for `weights` over `uids`.
///
/// Returns empty vectors when every weight is zero (bittensor sets nothing then).
///
/// # Errors
/// [`Error::InvalidWeights`] for empty input, different lengths, a negative or NaN weight, or
/// a weight too large for `f32` (where Python fails too).
pub fn normalize(uids: &[u16], weights: &[f64]) -> Result<(Vec<u16>, Vec<u16>), Error> {
    if uids.len() != weights.len() {
        return Err(Error::InvalidWeights(format!("{} uids but {} weights", uids.len(), weights.len())));
    }
    if weights.is_empty() {
        return Err(Error::InvalidWeights("no weights".to_owned()));
    }
    // Deliberate narrowing: bittensor builds a float32 array from the caller's floats.
    #[expect(clippy::cast_possible_truncation, reason = "f32 narrowing is part of the wire-exact formula")]
    let narrowed: Vec<f64> = weights.iter().map(|&w| f64::from(w as f32)).collect();
    if let Some(bad) = narrowed.iter().find(|w| w.is_nan() || **w < 0.0) {
        return Err(Error::InvalidWeights(format!("weight {bad} cannot exist on chain")));
    }
    if let Some(index) = narrowed.iter().position(|w| w.is_infinite()) {
        return Err(Error::InvalidWeights(format!("weight {} does not fit in f32", weights[index])));
    }
    if narrowed.iter().sum::<f64>() == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let max = narrowed.iter().copied().fold(0.0_f64, f64::max);
    let mut kept_uids = Vec::with_capacity(uids.len());
    let mut kept_weights = Vec::with_capacity(uids.len());
    for (&uid, &weight) in uids.iter().zip(&narrowed) {
        let scaled = (weight / max * U16_MAX).round_ties_even();
        // 0 <= weight / max <= 1, so scaled is an integer in 0..=65535.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "scaled is an integer in 0..=65535")]
        let value = scaled as u16;
        if value != 0 {
            kept_uids.push(uid);
            kept_weights.push(value);
        }
    }
    Ok((kept_uids, kept_weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_max_upscales_rounds_half_even_and_drops_zeros() {
        // 0.5 * 65535 = 32767.5 -> 32768 (even); 0.25 * 65535 = 16383.75 -> 16384;
        // 1e-6 / 1 * 65535 = 0.0655 -> 0, dropped with its uid.
        let (uids, weights) = normalize(&[3, 1, 7, 9], &[0.5, 1.0, 0.25, 1e-6]).expect("valid");
        assert_eq!(uids, vec![3, 1, 7]);
        assert_eq!(weights, vec![32768, 65535, 16384]);
    }

    #[test]
    fn normalize_narrows_to_f32_first() {
        // 0.3 * 65535 = 19660.5 in decimal. The f64 0.3 lies just below 0.3 (19660.4999... ->
        // 19660); bittensor rounds the f32 0.3, which lies just above (19660.5000007 -> 19661).
        let (_, weights) = normalize(&[0, 1], &[0.3, 1.0]).expect("valid");
        assert_eq!(weights, vec![19661, 65535]);
        // A weight below f32's smallest subnormal becomes 0 and is dropped.
        let (uids, _) = normalize(&[0, 1], &[1e-50, 1.0]).expect("valid");
        assert_eq!(uids, vec![1]);
    }

    #[test]
    fn normalize_zero_sum_is_empty_and_bad_input_is_an_error() {
        assert_eq!(normalize(&[0, 1], &[0.0, 0.0]).expect("valid"), (vec![], vec![]));
        assert_eq!(normalize(&[0], &[1e-50]).expect("valid"), (vec![], vec![]));
        assert!(normalize(&[0], &[-1.0]).is_err());
        assert!(normalize(&[0], &[f64::NAN]).is_err());
        assert!(normalize(&[0], &[1e39]).is_err());
        assert!(normalize(&[0, 1], &[1.0]).is_err());
        assert!(normalize(&[], &[]).is_err());
    }
}
