//! How a devnet miner answers: its policy, parsed from the `--miners` list, and the answers
//! each policy gives to the environments' prompts.
//!
//! | policy | answers |
//! | --- | --- |
//! | `oracle` | right: solves SAT by search, answers ABD/DED from the environments' task data |
//! | `random` | well-formed guesses (a random assignment, input or program), deterministic per prompt |
//! | `copy:UID` | as miner UID does (its own weights and a later commitment, so it never wins) |
//! | `flaky:P` | HTTP 503 for a fraction P of requests, else as the oracle |
//! | `slow:SECONDS` | as the oracle, after a delay |
//! | `fixed:P` | right for a fraction P of tasks, deterministic per task, else wrong |
//! | `status:CODE` | HTTP CODE for every request |

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// One miner's policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// Always right.
    Oracle,
    /// Deterministic guesses.
    Random,
    /// Answers as the miner with this uid does.
    Copy(u16),
    /// HTTP 503 for this fraction of requests, else right.
    Flaky(f64),
    /// Right after this delay.
    Slow(Duration),
    /// Right for this fraction of tasks (deterministic per task), else wrong.
    Fixed(f64),
    /// This HTTP status for every request.
    Status(u16),
}

/// A policy that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown miner policy {text:?}: {reason} (policies: oracle, random, copy:UID, flaky:P, slow:SECONDS, fixed:P, status:CODE)")]
pub struct PolicyError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

fn fraction(text: &str, value: &str) -> Result<f64, PolicyError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| PolicyError { text: text.to_owned(), reason: format!("{value:?} is not a fraction between 0 and 1") })
}

impl std::str::FromStr for Policy {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let error = |reason: &str| PolicyError { text: text.to_owned(), reason: reason.to_owned() };
        let (name, value) = text.split_once(':').map_or((text, None), |(n, v)| (n, Some(v)));
        match (name.to_ascii_lowercase().as_str(), value) {
            ("oracle", None) => Ok(Self::Oracle),
            ("random", None) => Ok(Self::Random),
            ("copy", Some(uid)) => uid.parse().map(Self::Copy).map_err(|_| error("copy needs a uid, e.g. copy:1")),
            ("flaky", Some(p)) => fraction(text, p).map(Self::Flaky),
            ("fixed", Some(p)) => fraction(text, p).map(Self::Fixed),
            ("slow", Some(seconds)) => seconds
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && (0.0..=86_400.0).contains(s))
                .map(|s| Self::Slow(Duration::from_secs_f64(s)))
                .ok_or_else(|| error("slow needs seconds between 0 and 86400, e.g. slow:2")),
            ("status", Some(code)) => code
                .parse::<u16>()
                .ok()
                .filter(|c| (100..600).contains(c))
                .map(Self::Status)
                .ok_or_else(|| error("status needs an HTTP code")),
            ("oracle" | "random", Some(_)) => Err(error("takes no value")),
            ("copy" | "flaky" | "fixed" | "slow" | "status", None) => Err(error("needs a value after ':'")),
            _ => Err(error("no such policy")),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oracle => f.write_str("oracle"),
            Self::Random => f.write_str("random"),
            Self::Copy(uid) => write!(f, "copy:{uid}"),
            Self::Flaky(p) => write!(f, "flaky:{p}"),
            Self::Slow(delay) => write!(f, "slow:{}", delay.as_secs_f64()),
            Self::Fixed(p) => write!(f, "fixed:{p}"),
            Self::Status(code) => write!(f, "status:{code}"),
        }
    }
}

impl Policy {
    /// The policy as a name part: `copy:1` -> `copy-1`.
    #[must_use]
    pub fn slug(&self) -> String {
        self.to_string().replace(':', "-")
    }
}

/// What a miner does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer with this text (after `delay`).
    Text {
        /// The reply content.
        content: String,
        /// How long to wait first.
        delay: Duration,
    },
    /// Answer with this HTTP status.
    Status(u16),
}

/// A stable number in `[0, 1)` for `parts`.
fn unit(parts: &[&[u8]]) -> f64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    #[expect(clippy::cast_precision_loss, reason = "53 bits of a hash as a fraction")]
    let value = (u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) >> 11) as f64 / (1_u64 << 53) as f64;
    value
}

/// The reply of `policy` (copies already resolved) to `prompt`; `draw` is a fresh number in
/// `[0, 1)` for per-request chance (flaky).
#[must_use]
pub fn reply(policy: &Policy, prompt: &str, rows: &[Value], draw: f64) -> Reply {
    let text = |content: String| Reply::Text { content, delay: Duration::ZERO };
    match policy {
        Policy::Flaky(p) if draw < *p => Reply::Status(503),
        Policy::Oracle | Policy::Copy(_) | Policy::Flaky(_) => text(oracle_answer(prompt, rows)),
        Policy::Random => text(random_answer(prompt)),
        Policy::Slow(delay) => Reply::Text { content: oracle_answer(prompt, rows), delay: *delay },
        Policy::Fixed(p) if unit(&[prompt.as_bytes()]) < *p => text(oracle_answer(prompt, rows)),
        Policy::Fixed(_) => text(wrong_answer()),
        Policy::Status(code) => Reply::Status(*code),
    }
}

/// A well-formed reply that is wrong for every task.
#[must_use]
pub fn wrong_answer() -> String {
    "x1=True\n<INPUT>\nnot the input\n</INPUT>\n```python\nprint('wrong')\n```".to_owned()
}

fn is_sat(prompt: &str) -> bool {
    prompt.starts_with("Find a satisfying assignment")
}

fn is_abd(prompt: &str) -> bool {
    prompt.contains("Expected Output:")
}

/// The right answer: SAT by search, ABD's input and DED's program from the task data.
#[must_use]
pub fn oracle_answer(prompt: &str, rows: &[Value]) -> String {
    if is_sat(prompt) {
        return solve_sat(prompt).unwrap_or_else(|| "UNSAT".to_owned());
    }
    if is_abd(prompt) {
        let row =
            rows.iter().find(|row| row["program"].as_str().is_some_and(|program| prompt.contains(&format!("```python\n{program}\n```"))));
        let inputs = row.and_then(|row| row["inputs"].as_str()).unwrap_or("");
        return format!("<think>It reads the input.</think>\nThe input is:\n<INPUT>\n{inputs}\n</INPUT>");
    }
    let row = rows.iter().find(|row| row["prompt"].as_str().is_some_and(|text| prompt.starts_with(text)));
    let program = row.and_then(|row| row["program"].as_str()).unwrap_or("");
    format!("Here is the program.\n```python\n{program}```\n")
}

/// A guess, the same for the same prompt.
fn random_answer(prompt: &str) -> String {
    let mut rng = fastrand::Rng::with_seed(u64::from_be_bytes(Sha256::digest(prompt.as_bytes())[..8].try_into().expect("8 bytes")));
    if is_sat(prompt) {
        let variables = sat_clauses(prompt).map_or(15, |(_, count)| count);
        let parts: Vec<String> = (1..=variables).map(|v| format!("x{v}={}", if rng.bool() { "True" } else { "False" })).collect();
        return parts.join(", ");
    }
    if is_abd(prompt) {
        return format!("<INPUT>\n{} {}\n</INPUT>", rng.i32(-50..50), rng.i32(-50..50));
    }
    format!("```python\nprint({})\n```\n", rng.i32(-1000..1000))
}

/// The clauses of a SAT prompt's formula line (`(x1 ∨ ¬x2) ∧ ...`) and the largest variable.
fn sat_clauses(prompt: &str) -> Option<(Vec<Vec<i32>>, i32)> {
    let formula = prompt.lines().nth(1)?;
    let mut largest = 0;
    let mut clauses = Vec::new();
    for clause in formula.split(" ∧ ") {
        let mut literals = Vec::new();
        for literal in clause.trim_matches(|c| c == '(' || c == ')').split(" ∨ ") {
            let negative = literal.starts_with('¬');
            let variable: i32 = literal.trim_start_matches('¬').trim_start_matches('x').parse().ok()?;
            largest = largest.max(variable);
            literals.push(if negative { -variable } else { variable });
        }
        clauses.push(literals);
    }
    Some((clauses, largest))
}

/// A satisfying assignment by exhaustive search (the environment uses at most 15 variables).
fn solve_sat(prompt: &str) -> Option<String> {
    let (clauses, variables) = sat_clauses(prompt)?;
    if !(1..=20).contains(&variables) {
        return None;
    }
    for mask in 0u32..(1 << variables) {
        let value = |v: i32| mask & (1 << (v - 1)) != 0;
        if clauses.iter().all(|clause| clause.iter().any(|&l| value(l.abs()) == (l > 0))) {
            let parts: Vec<String> = (1..=variables).map(|v| format!("x{v}={}", if value(v) { "True" } else { "False" })).collect();
            return Some(parts.join(", "));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print_back() {
        for text in ["oracle", "random", "copy:1", "flaky:0.3", "slow:2", "fixed:0.5", "status:429"] {
            let policy: Policy = text.parse().expect(text);
            assert_eq!(policy.to_string(), text);
        }
        assert_eq!("slow:0.5".parse::<Policy>(), Ok(Policy::Slow(Duration::from_millis(500))));
        for bad in ["oracel", "copy", "copy:x", "flaky:1.5", "fixed:-1", "slow:-1", "status:42", "oracle:1", ""] {
            let error = bad.parse::<Policy>().expect_err(bad);
            assert!(error.to_string().contains("unknown miner policy"), "{error}");
        }
        assert_eq!(Policy::Copy(3).slug(), "copy-3");
    }

    #[test]
    fn fixed_is_deterministic_per_task_and_flaky_follows_the_draw() {
        let prompt = "Find a satisfying assignment for the following 2-SAT formula:\n(x1 ∨ x2) ∧ (¬x1 ∨ x2)\n";
        let first = reply(&Policy::Fixed(0.5), prompt, &[], 0.0);
        assert!((0..5).all(|_| reply(&Policy::Fixed(0.5), prompt, &[], 0.9) == first));
        assert_eq!(reply(&Policy::Flaky(0.3), prompt, &[], 0.1), Reply::Status(503));
        assert!(matches!(reply(&Policy::Flaky(0.3), prompt, &[], 0.5), Reply::Text { .. }));
        let Reply::Text { content, .. } = reply(&Policy::Oracle, prompt, &[], 0.0) else { panic!("text") };
        assert!(content.contains("x2=True"), "{content}");
        assert_eq!(reply(&Policy::Random, prompt, &[], 0.0), reply(&Policy::Random, prompt, &[], 0.7));
    }
}
