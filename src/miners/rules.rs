//! The reference's validity rules as pure functions: commitment parsing, the chute checks,
//! and the two duplicate filters (same weights, same model).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::inference::chutes::Chute;

/// Why a miner is not sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rejection {
    /// The hotkey is listed in `AFFINE_MINER_BLACKLIST`.
    Blacklisted,
    /// The hotkey has no revealed commitment.
    NoCommitment,
    /// The latest commitment is not `{model, revision, chute_id}` JSON.
    MalformedCommitment {
        /// What is wrong with it.
        reason: String,
    },
    /// The Hugging Face repository is gated.
    Gated,
    /// The repository's model info could not be read anonymously (private, missing, or the
    /// Hub failed with nothing cached).
    ModelUnavailable {
        /// The Hub's error.
        reason: String,
    },
    /// `GET /chutes/{chute_id}` failed.
    ChuteUnavailable {
        /// The API's error.
        reason: String,
    },
    /// The chute has no active, verified instance.
    ChuteCold,
    /// The chute serves another model than the committed one.
    ChuteNameMismatch {
        /// The chute's name.
        chute_name: String,
    },
    /// The part of the model name after the first `/` does not start with `affine` (uid 0 is
    /// exempt).
    NotAffine,
    /// The chute is pinned to another revision than the committed one.
    RevisionMismatch {
        /// The chute's revision.
        chute_revision: String,
    },
    /// An earlier miner (lower block) committed weights with the same safetensors sha256 set.
    DuplicateWeights {
        /// The uid that keeps these weights.
        kept_uid: u16,
    },
    /// An earlier miner (lower block) committed the same model name.
    DuplicateModel {
        /// The uid that keeps this model.
        kept_uid: u16,
    },
}

impl Rejection {
    /// A stable snake-case name, for counting by reason.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Blacklisted => "blacklisted",
            Self::NoCommitment => "no_commitment",
            Self::MalformedCommitment { .. } => "malformed_commitment",
            Self::Gated => "gated",
            Self::ModelUnavailable { .. } => "model_unavailable",
            Self::ChuteUnavailable { .. } => "chute_unavailable",
            Self::ChuteCold => "chute_cold",
            Self::ChuteNameMismatch { .. } => "chute_name_mismatch",
            Self::NotAffine => "not_affine",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::DuplicateWeights { .. } => "duplicate_weights",
            Self::DuplicateModel { .. } => "duplicate_model",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blacklisted => f.write_str("blacklisted hotkey"),
            Self::NoCommitment => f.write_str("no commitment"),
            Self::MalformedCommitment { reason } => write!(f, "malformed commitment: {reason}"),
            Self::Gated => f.write_str("gated model"),
            Self::ModelUnavailable { reason } => write!(f, "model info unavailable: {reason}"),
            Self::ChuteUnavailable { reason } => write!(f, "chute unavailable: {reason}"),
            Self::ChuteCold => f.write_str("chute is cold"),
            Self::ChuteNameMismatch { chute_name } => write!(f, "chute serves {chute_name}"),
            Self::NotAffine => f.write_str("model name does not start with affine"),
            Self::RevisionMismatch { chute_revision } => write!(f, "chute revision {chute_revision} differs"),
            Self::DuplicateWeights { kept_uid } => write!(f, "same weights as uid {kept_uid}"),
            Self::DuplicateModel { kept_uid } => write!(f, "same model as uid {kept_uid}"),
        }
    }
}

/// A miner's commitment: `{"model", "revision", "chute_id"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commitment {
    /// Hugging Face repository id.
    pub model: String,
    /// Hugging Face commit.
    pub revision: String,
    /// Chute serving it.
    pub chute_id: String,
}

/// Parses a revealed commitment's text. All three fields must be non-empty strings (the
/// reference tolerates a missing revision and then matches only unpinned chutes; every
/// commitment `af commit` and the original write has all three).
///
/// # Errors
/// The reason, for [`Rejection::MalformedCommitment`].
pub fn parse_commitment(text: &str) -> Result<Commitment, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let object = value.as_object().ok_or_else(|| "not a JSON object".to_owned())?;
    let field = |name: &str| match object.get(name) {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(_) => Err(format!("{name} is not a non-empty string")),
        None => Err(format!("no {name}")),
    };
    Ok(Commitment { model: field("model")?, revision: field("revision")?, chute_id: field("chute_id")? })
}

/// The reference's `affine` prefix rule: the part of `name` after the first `/`, lowercased,
/// starts with `affine`. A name without `/` fails (the reference raised and dropped it).
#[must_use]
pub fn is_affine_name(name: &str) -> bool {
    name.split_once('/').is_some_and(|(_, rest)| rest.to_lowercase().starts_with("affine"))
}

/// The chute checks, in the reference's order: hot, name equals the model, `affine` prefix
/// for uids other than 0, and a pinned revision equal to the committed one.
///
/// # Errors
/// The first failed check.
pub fn check_chute(uid: u16, commitment: &Commitment, chute: &Chute) -> Result<(), Rejection> {
    if !chute.hot {
        return Err(Rejection::ChuteCold);
    }
    if chute.name != commitment.model {
        return Err(Rejection::ChuteNameMismatch { chute_name: chute.name.clone() });
    }
    if uid != 0 && !is_affine_name(&chute.name) {
        return Err(Rejection::NotAffine);
    }
    match &chute.revision {
        Some(revision) if *revision != commitment.revision => Err(Rejection::RevisionMismatch { chute_revision: revision.clone() }),
        _ => Ok(()),
    }
}

/// A miner that passed the per-miner checks, as the duplicate filters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its uid.
    pub uid: u16,
    /// The block of its commitment (0 for uid 0).
    pub block: u64,
    /// Committed model name.
    pub model: String,
    /// Safetensors sha256 set (empty when unknown: never deduplicated).
    pub weights_shas: BTreeSet<String>,
}

/// Applies the reference's `_filter_by_earliest_sha` then `_filter_by_best_model` to
/// `candidates` (in ascending uid order) and returns the rejected uids with their reason.
///
/// - Miners whose non-empty sha set is exactly equal form a group; the lowest block keeps it
///   (ties: the lower uid), the others are [`Rejection::DuplicateWeights`].
/// - Among the rest, per model name the strictly lowest block wins (ties: the lower uid); the
///   others are [`Rejection::DuplicateModel`].
#[must_use]
pub fn duplicates(candidates: &[Candidate]) -> BTreeMap<u16, Rejection> {
    let mut rejected = BTreeMap::new();
    let mut by_shas: BTreeMap<&BTreeSet<String>, &Candidate> = BTreeMap::new();
    for candidate in candidates.iter().filter(|c| !c.weights_shas.is_empty()) {
        by_shas
            .entry(&candidate.weights_shas)
            .and_modify(|best| {
                if candidate.block < best.block {
                    *best = candidate;
                }
            })
            .or_insert(candidate);
    }
    for candidate in candidates.iter().filter(|c| !c.weights_shas.is_empty()) {
        let kept = by_shas[&candidate.weights_shas].uid;
        if kept != candidate.uid {
            rejected.insert(candidate.uid, Rejection::DuplicateWeights { kept_uid: kept });
        }
    }
    let mut by_model: BTreeMap<&str, &Candidate> = BTreeMap::new();
    for candidate in candidates.iter().filter(|c| !rejected.contains_key(&c.uid)) {
        by_model
            .entry(candidate.model.as_str())
            .and_modify(|best| {
                if candidate.block < best.block {
                    *best = candidate;
                }
            })
            .or_insert(candidate);
    }
    let same_model: Vec<(u16, u16)> = candidates
        .iter()
        .filter(|c| !rejected.contains_key(&c.uid))
        .map(|c| (c.uid, by_model[c.model.as_str()].uid))
        .filter(|(uid, kept)| uid != kept)
        .collect();
    for (uid, kept_uid) in same_model {
        rejected.insert(uid, Rejection::DuplicateModel { kept_uid });
    }
    rejected
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";

    fn commitment(model: &str) -> Commitment {
        Commitment { model: model.into(), revision: REV.into(), chute_id: "c".into() }
    }

    fn chute(name: &str, hot: bool, revision: Option<&str>) -> Chute {
        Chute::from_value(serde_json::json!({"chute_id": "c", "name": name, "slug": "s", "hot": hot, "revision": revision})).expect("chute")
    }

    #[test]
    fn commitments_need_three_non_empty_strings() {
        let text = format!(r#"{{"model": "o/affine-m", "revision": "{REV}", "chute_id": "c1"}}"#);
        assert_eq!(parse_commitment(&text), Ok(Commitment { model: "o/affine-m".into(), revision: REV.into(), chute_id: "c1".into() }));
        assert!(parse_commitment("o/affine-m@abc").expect_err("not json").starts_with("not JSON"));
        assert_eq!(parse_commitment("[1]"), Err("not a JSON object".into()));
        assert_eq!(parse_commitment(r#"{"model": "m", "revision": "r"}"#), Err("no chute_id".into()));
        assert_eq!(parse_commitment(r#"{"model": 3, "revision": "r", "chute_id": "c"}"#), Err("model is not a non-empty string".into()));
    }

    #[test]
    fn chute_checks_follow_the_reference_order() {
        let model = commitment("o/Affine-m");
        assert_eq!(check_chute(5, &model, &chute("o/Affine-m", true, Some(REV))), Ok(()));
        assert_eq!(check_chute(5, &model, &chute("o/Affine-m", true, None)), Ok(()), "an unpinned chute passes");
        assert_eq!(check_chute(5, &model, &chute("o/Affine-m", false, Some(REV))), Err(Rejection::ChuteCold));
        assert_eq!(
            check_chute(5, &model, &chute("o/affine-m", true, Some(REV))),
            Err(Rejection::ChuteNameMismatch { chute_name: "o/affine-m".into() }),
            "the name comparison is case-sensitive"
        );
        let other = Some("f".repeat(40));
        assert_eq!(
            check_chute(5, &model, &chute("o/Affine-m", true, other.as_deref())),
            Err(Rejection::RevisionMismatch { chute_revision: "f".repeat(40) })
        );
        let plain = commitment("o/model");
        assert_eq!(check_chute(5, &plain, &chute("o/model", true, Some(REV))), Err(Rejection::NotAffine));
        assert_eq!(check_chute(0, &plain, &chute("o/model", true, Some(REV))), Ok(()), "uid 0 is exempt");
        assert!(!is_affine_name("affine-no-owner") && is_affine_name("x/AFFINEx") && !is_affine_name("affine/model"));
    }

    fn candidate(uid: u16, block: u64, model: &str, shas: &[&str]) -> Candidate {
        Candidate { uid, block, model: model.into(), weights_shas: shas.iter().map(|s| (*s).to_owned()).collect() }
    }

    #[test]
    fn duplicates_keep_the_earliest_block_per_weight_set_then_per_model() {
        let candidates = vec![
            candidate(1, 50, "a/affine-1", &["x", "y"]),
            candidate(2, 40, "b/affine-2", &["y", "x"]),
            candidate(3, 30, "c/affine-3", &["x"]),
            candidate(4, 60, "d/affine-4", &[]),
            candidate(5, 60, "d/affine-4", &[]),
            candidate(6, 10, "a/affine-1", &["z"]),
            candidate(7, 40, "e/affine-7", &["y", "x"]),
        ];
        let rejected = duplicates(&candidates);
        assert_eq!(rejected.get(&1), Some(&Rejection::DuplicateWeights { kept_uid: 2 }), "equal sets: lower block wins");
        assert_eq!(rejected.get(&7), Some(&Rejection::DuplicateWeights { kept_uid: 2 }), "same block: lower uid wins");
        assert_eq!(rejected.get(&3), None, "an overlapping but different set is kept");
        assert_eq!(rejected.get(&5), Some(&Rejection::DuplicateModel { kept_uid: 4 }), "model tie: first uid wins");
        assert_eq!(rejected.get(&6), None, "uid 1 left through the sha filter, so uid 6 keeps the model");
        assert_eq!(rejected.len(), 3);
    }
}
