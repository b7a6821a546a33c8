//! The SAT task: a planted 10-SAT instance over 15 variables, its prompt and its scorer.
//!
//! Generation follows the reference draw order exactly (spec §3.2): one `choice([True, False])`
//! per variable, then for each of the 63 clauses a `sample` of 10 variables, a `choice` of the
//! variable that carries the planted literal, and one `choice` per other variable. The prompt is
//! three lines; the scorer accepts the answer iff every clause has a literal that the reply's
//! `x<i>=True|False|1|0` assignments make true (later assignments win, unassigned variables
//! satisfy nothing).

use std::sync::LazyLock;

use regex::Regex;

use super::mt::PyRandom;

/// Variables per instance.
pub const VARIABLES: usize = 15;
/// Literals per clause.
pub const CLAUSE_WIDTH: usize = 10;
/// Clauses per instance: `int(4.26 * 15)`.
pub const CLAUSES: usize = 63;

/// One generated SAT challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SatInstance {
    /// The planted assignment; index 0 is `x1`.
    pub solution: Vec<bool>,
    /// Clauses of signed literals (`+v` is `xv`, `-v` is `¬xv`), in generation order.
    pub clauses: Vec<Vec<i32>>,
    /// The exact prompt sent to the model.
    pub prompt: String,
}

/// Generates the instance of `seed` (the task id) with `CPython`'s `random.Random(seed)`.
#[must_use]
pub fn generate(seed: i128) -> SatInstance {
    let mut rng = PyRandom::new(seed);
    let booleans = [true, false];
    let solution: Vec<bool> = (0..VARIABLES).map(|_| *rng.choice(&booleans).expect("two choices")).collect();
    let variables: Vec<i32> = (1..=i32::try_from(VARIABLES).expect("15 fits")).collect();
    let mut clauses = Vec::with_capacity(CLAUSES);
    for _ in 0..CLAUSES {
        let chosen = rng.sample(&variables, CLAUSE_WIDTH).expect("10 of 15 variables");
        let planted = *rng.choice(&chosen).expect("a non-empty clause");
        let clause = chosen
            .iter()
            .map(|&v| {
                let positive = if v == planted { solution[index_of(v)] } else { *rng.choice(&booleans).expect("two choices") };
                if positive { v } else { -v }
            })
            .collect();
        clauses.push(clause);
    }
    let prompt = render_prompt(&clauses);
    SatInstance { solution, clauses, prompt }
}

fn index_of(variable: i32) -> usize {
    usize::try_from(variable - 1).expect("variables start at 1")
}

fn render_prompt(clauses: &[Vec<i32>]) -> String {
    let formula = clauses
        .iter()
        .map(|clause| {
            let literals: Vec<String> = clause.iter().map(|&l| format!("{}x{}", if l < 0 { "¬" } else { "" }, l.unsigned_abs())).collect();
            format!("({})", literals.join(" ∨ "))
        })
        .collect::<Vec<_>>()
        .join(" ∧ ");
    format!(
        "Find a satisfying assignment for the following {CLAUSE_WIDTH}-SAT formula over variables x1..x{VARIABLES}:\n{formula}\n\
         Provide your answer as comma-separated assignments like `x1=True, x2=False, ...`, or respond `UNSAT` if it has no solution."
    )
}

static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"x(\d+)=(True|False|1|0)").expect("valid pattern"));

/// Scores a reply: 1.0 iff the assignments it contains satisfy every clause, else 0.0.
///
/// Variable numbers are parsed as decimal (leading zeros allowed, like Python's `int`); digits
/// outside ASCII, which Python's `\d` would also accept, never name a variable of this task.
#[must_use]
pub fn score(response: &str, clauses: &[Vec<i32>]) -> f64 {
    let mut assigned: std::collections::HashMap<u64, bool> = std::collections::HashMap::new();
    for captures in ASSIGNMENT.captures_iter(response) {
        let Ok(variable) = captures[1].parse::<u64>() else { continue };
        assigned.insert(variable, matches!(&captures[2], "True" | "1"));
    }
    let satisfied = clauses.iter().all(|clause| {
        clause.iter().any(|&literal| assigned.get(&u64::from(literal.unsigned_abs())).is_some_and(|&value| value == (literal > 0)))
    });
    if satisfied { 1.0 } else { 0.0 }
}

/// A reply that states `assignment` in the format the prompt asks for.
#[must_use]
pub fn format_assignment(assignment: &[bool]) -> String {
    let parts: Vec<String> =
        assignment.iter().enumerate().map(|(i, value)| format!("x{}={}", i + 1, if *value { "True" } else { "False" })).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use std::io::BufRead as _;

    use sha2::{Digest as _, Sha256};

    use super::*;

    #[test]
    fn sat_generate_matches_all_500_reference_instances() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/sat/reference-instances.jsonl.gz");
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut checked = 0;
        for line in std::io::BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
            let line = line.expect("read golden line");
            let golden: serde_json::Value = serde_json::from_str(&line).expect("golden json");
            let task_id = golden["task_id"].as_i64().expect("task_id");
            let instance = generate(i128::from(task_id));
            let solution: Vec<bool> = serde_json::from_value(golden["solution"].clone()).expect("solution");
            let clauses: Vec<Vec<i32>> = serde_json::from_value(golden["clauses"].clone()).expect("clauses");
            assert_eq!(instance.solution, solution, "solution of task {task_id}");
            assert_eq!(instance.clauses, clauses, "clauses of task {task_id}");
            let digest = format!("{:x}", Sha256::digest(instance.prompt.as_bytes()));
            assert_eq!(digest, golden["prompt_sha256"].as_str().expect("hash"), "prompt of task {task_id}");
            assert_eq!(Some(instance.prompt.len() as u64), golden["prompt_utf8_bytes"].as_u64());
            assert!((score(&format_assignment(&instance.solution), &instance.clauses) - 1.0).abs() < f64::EPSILON);
            checked += 1;
        }
        assert_eq!(checked, 500);
    }

    #[test]
    fn sat_score_rejects_missing_and_accepts_later_overrides() {
        let clauses = vec![vec![1, -2], vec![2]];
        assert!((score("x1=True, x2=True", &clauses) - 1.0).abs() < f64::EPSILON);
        assert!(score("x1=True", &clauses).abs() < f64::EPSILON, "x2 unassigned fails clause 2");
        assert!(score("x2=1 x2=0", &clauses).abs() < f64::EPSILON, "later assignment wins");
        assert!(score("x1 = True, x2 = True", &clauses).abs() < f64::EPSILON, "spaces are not accepted");
        assert!((score("x01=1 x2=1", &clauses) - 1.0).abs() < f64::EPSILON);
        assert!(score("UNSAT", &clauses).abs() < f64::EPSILON);
    }
}
