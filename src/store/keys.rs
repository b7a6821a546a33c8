//! The object-key layout of the result store (pure).

/// Blocks per result window.
pub const WINDOW_BLOCKS: u64 = 20;

/// Prefix of result shard keys.
pub const RESULTS_PREFIX: &str = "affine/results/";
/// The sorted JSON array of every shard key.
pub const INDEX_KEY: &str = "affine/index.json";
/// The newest weights summary.
pub const LATEST_SUMMARY_KEY: &str = "affine/weights/latest.json";

/// Key of the weights summary saved at `block` (not padded).
#[must_use]
pub fn summary_key(block: u64) -> String {
    format!("affine/weights/summary-{block}.json")
}

/// The window of an index key, read from its base name like the reference does.
#[must_use]
pub fn window_of_key(key: &str) -> Option<u64> {
    window_of_shard_name(key.rsplit('/').next().unwrap_or(key))
}

/// The window a block belongs to: `block // 20 * 20`.
///
/// ```
/// use affine::store::keys::{shard_key, window_of};
/// assert_eq!(window_of(7_002_219), 7_002_200);
/// assert_eq!(shard_key(window_of(7_002_219), "5F..."), "affine/results/007002200-5F....json");
/// ```
#[must_use]
pub const fn window_of(block: u64) -> u64 {
    block / WINDOW_BLOCKS * WINDOW_BLOCKS
}

/// The windows scored at `block` with `tail` blocks of history, as the inclusive range
/// `[window(block - tail), window(block)]`.
#[must_use]
pub const fn scored_windows(block: u64, tail: u64) -> (u64, u64) {
    (window_of(block.saturating_sub(tail)), window_of(block))
}

/// Key of the shard written by `validator_hotkey` for `window`.
#[must_use]
pub fn shard_key(window: u64, validator_hotkey: &str) -> String {
    format!("{RESULTS_PREFIX}{window:09}-{validator_hotkey}.json")
}

/// The window encoded in a shard's file name (`WWWWWWWWW-HOTKEY.json`), if it has one.
///
/// Like the reference, only the part before the first `-` is read and it must be all digits.
#[must_use]
pub fn window_of_shard_name(name: &str) -> Option<u64> {
    let (digits, _) = name.split_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_window_math_and_names() {
        assert_eq!(window_of(7_002_201), 7_002_200);
        assert_eq!(scored_windows(7_002_201, 40_000), (6_962_200, 7_002_200));
        assert_eq!(scored_windows(10, 40_000), (0, 0));
        assert_eq!(shard_key(6_962_160, "5Val"), "affine/results/006962160-5Val.json");
        assert_eq!(window_of_shard_name("006962160-5Val.json"), Some(6_962_160));
        assert_eq!(window_of_shard_name("abc-5Val.json"), None);
        assert_eq!(window_of_shard_name("index.json"), None);
        assert_eq!(window_of_key("affine/results/000000040-5Val.json"), Some(40));
        assert_eq!(summary_key(7), "affine/weights/summary-7.json");
    }
}
