//! DED (deduction): the model writes a program from a problem statement; it must pass every
//! test case (spec §3.5).
//!
//! Two reference quirks that only ever hurt correct answers are fixed here:
//! - `function_call` cases compared `print(result)` with the JSON text of the expected value,
//!   so a correct `True` never matched `true`; `af` also accepts Python's `str()` of the
//!   expected value (what `print` writes), keeping the reference comparison too;
//! - a task whose cases were all of unknown types scored 1.0 for any reply; `af` scores 0.0.
//!
//! `verification_info` given as a Python literal (not JSON) is parsed by the sandboxed
//! interpreter with `ast.literal_eval`, as the reference did in-process.

use serde_json::Value;

use super::program::{self, strip_fences};
use super::pytext;
use super::sandbox::{self, Sandbox};

const HINT: &str = "\n\n---\n⚠️ **Instructions** ⚠️\nWrite a complete **Python 3** program that\n• reads *all* input from **STDIN** (using `input()` / `sys.stdin`),\n• writes *only* the required answer(s) to **STDOUT** using `print`,\n• contains no additional prompts or debug text, and\n• is returned as a single ```python … ``` fenced block.\n";

/// The prompt of a dataset row: its `prompt`, right-stripped, plus the formatting hint.
#[must_use]
pub fn prompt(row: &Value) -> String {
    let statement = row.get("prompt").and_then(Value::as_str).unwrap_or("");
    format!("{}{HINT}", pytext::rstrip(statement))
}

/// The reference `_to_str`: strings as they are, lists joined by newlines (recursively),
/// anything else as `json.dumps` text.
#[must_use]
pub fn to_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(to_str).collect::<Vec<_>>().join("\n"),
        other => pytext::json_dumps(other),
    }
}

/// The reference `_normalize`: right-strip the text, split lines, right-strip each.
#[must_use]
pub fn normalize(text: &str) -> String {
    pytext::splitlines(pytext::rstrip(text)).into_iter().map(pytext::rstrip).collect::<Vec<_>>().join("\n")
}

const LITERAL_TO_JSON: &str = "import ast, json, sys\nprint(json.dumps(ast.literal_eval(sys.stdin.read())))\n";

async fn verification(row: &Value, sandbox: &Sandbox) -> Result<Option<Value>, sandbox::Error> {
    let raw = match row.get("verification_info") {
        Some(value) if truthy(value) => value,
        _ => match row.get("test_cases") {
            Some(value) => value,
            None => return Ok(None),
        },
    };
    let Value::String(text) = raw else { return Ok(Some(raw.clone())) };
    if let Ok(parsed) = serde_json::from_str(text) {
        return Ok(Some(parsed));
    }
    let run = sandbox.run_python(LITERAL_TO_JSON, text).await?;
    if !run.stderr.is_empty() {
        return Ok(None);
    }
    Ok(serde_json::from_str(&run.stdout).ok())
}

/// Python truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Scores a reply against the row's test cases: 1.0 iff every runnable case passes.
///
/// # Errors
/// Only when the sandbox cannot run.
pub async fn score(response: &str, row: &Value, sandbox: &Sandbox) -> Result<f64, sandbox::Error> {
    let program_text = strip_fences(response);
    let Some(info) = verification(row, sandbox).await? else { return Ok(0.0) };
    let Some(cases) = info.get("test_cases").and_then(Value::as_array).filter(|cases| !cases.is_empty()) else { return Ok(0.0) };
    let mut runnable = 0usize;
    for case in cases {
        let expected_raw = case.get("output").cloned().unwrap_or(Value::Null);
        let (code, stdin, expected) = match case.get("type").and_then(Value::as_str) {
            Some("stdin_stdout") => {
                let mut stdin = to_str(case.get("input").unwrap_or(&Value::Null));
                if !stdin.ends_with('\n') {
                    stdin.push('\n');
                }
                (program_text.clone(), stdin, vec![to_str(&expected_raw)])
            }
            Some("function_call") => {
                let function = case.get("fn_name").and_then(Value::as_str).unwrap_or("None");
                let arguments = case.get("input").cloned().unwrap_or_else(|| Value::Array(Vec::new()));
                let code = format!(
                    "{program_text}\nif __name__ == '__main__':\n    result = {function}(*{})\n    print(result)",
                    pytext::repr(&arguments)
                );
                let expected_value = match &expected_raw {
                    Value::Array(items) if !items.is_empty() => items[0].clone(),
                    other => other.clone(),
                };
                // The reference's JSON text, and what `print` really writes for that value.
                (code, String::new(), vec![to_str(&expected_value), pytext::str_of(&expected_value)])
            }
            _ => continue,
        };
        runnable += 1;
        let run = program::execute(sandbox, &code, &stdin).await?;
        let actual = normalize(&run.stdout);
        let passed = pytext::strip(&run.stderr).is_empty() && expected.iter().any(|text| normalize(text) == actual);
        if !passed {
            return Ok(0.0);
        }
    }
    Ok(if runnable == 0 { 0.0 } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn to_str_and_normalize_follow_the_reference() {
        assert_eq!(to_str(&json!(["1 2", [3, "x"], {"a": 1}])), "1 2\n3\nx\n{\"a\": 1}");
        assert_eq!(to_str(&json!(true)), "true");
        assert_eq!(normalize("a  \nb\n\n"), "a\nb");
    }

    #[tokio::test]
    async fn ded_all_cases_of_unknown_type_score_zero_not_one() {
        // No case is runnable, so the sandbox is never started.
        let sandbox = Sandbox::new("/nonexistent/af".into(), "/nonexistent/python3".into(), sandbox::Limits::default());
        let row = json!({"verification_info": {"test_cases": [{"type": "checker", "input": "1", "output": "1"}]}});
        assert!(score("```python\nprint(1)\n```", &row, &sandbox).await.expect("no sandbox needed").abs() < f64::EPSILON);
        let empty = json!({"verification_info": {"test_cases": []}});
        assert!(score("print(1)", &empty, &sandbox).await.expect("no sandbox needed").abs() < f64::EPSILON);
    }

    #[test]
    fn prompt_appends_the_hint() {
        use sha2::{Digest as _, Sha256};
        let text = prompt(&json!({"prompt": "Add two numbers.  \n"}));
        assert!(text.starts_with("Add two numbers.\n\n---\n⚠️ **Instructions** ⚠️\n"));
        assert!(text.ends_with("fenced block.\n"));
        // sha256 of the reference prompt for the same row.
        assert_eq!(format!("{:x}", Sha256::digest(text.as_bytes())), "76beeaab3fa84a34afed79923b463ea006ec66d7f68d7d1312ef9eed38f52e8b");
    }
}
