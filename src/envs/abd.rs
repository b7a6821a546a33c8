//! ABD (abduction): given a program and its output, the model must find the stdin that
//! produces it (spec §3.4).
//!
//! The prompt text is the reference's, word for word, because the model must be asked the same
//! question by either server; scoring extracts the last `<INPUT>` block (after removing think
//! tags), applies the reference's input-count gate, runs the program on it in the sandbox and
//! compares outputs leniently (exact, stripped, or per-line right-stripped).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::program;
use super::pytext;
use super::sandbox::{self, Sandbox};

const PROMPT_HEAD: &str = "You are a programming expert. Given a Python program and its expected output, you need to determine the exact input that would produce this output.\n\nProgram:\n```python\n";
const PROMPT_MIDDLE: &str = "\n```\n\nExpected Output:\n```\n";
const PROMPT_TAIL: &str = "\n```\n\nTask: Analyze the program to understand what input format it expects from stdin, then provide the input data that would produce the expected output.\n\nYou can provide any explanations, analysis, or reasoning you want. However, you MUST include the input data within <INPUT> </INPUT> tags.\n\nFormat the input data like this:\n<INPUT>\n[input data here - each line on a separate line as the program expects]\n</INPUT>\n\nI will extract only the content between these tags.\n\nRequirements for the input data within the tags:\n1. Each line of input should be on a separate line\n2. Use the exact format the program expects  \n3. Provide the raw input values that should be fed to stdin\n4. Do not include any prefixes or extra formatting within the INPUT tags\n\nPlease analyze the program and provide the required input:";

/// One ABD challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbdChallenge {
    /// The prompt sent to the model.
    pub prompt: String,
    /// The dataset program.
    pub program: String,
    /// The output the model's input must reproduce.
    pub expected_output: String,
}

fn text_field<'a>(row: &'a Value, name: &str) -> &'a str {
    row.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Builds the challenge of a dataset row: the expected output is the program's fresh output
/// on the row's example input, or the row's `output` when that run fails or prints nothing.
///
/// # Errors
/// Only when the sandbox cannot run.
pub async fn generate(row: &Value, sandbox: &Sandbox) -> Result<AbdChallenge, sandbox::Error> {
    let program = text_field(row, "program").to_owned();
    let mut example_input = text_field(row, "inputs").to_owned();
    if !example_input.is_empty() && !example_input.ends_with('\n') {
        example_input.push('\n');
    }
    let run = program::execute(sandbox, &program, &example_input).await?;
    let expected_output =
        if !run.stderr.is_empty() || pytext::strip(&run.stdout).is_empty() { text_field(row, "output").to_owned() } else { run.stdout };
    let prompt = format!("{PROMPT_HEAD}{program}{PROMPT_MIDDLE}{expected_output}{PROMPT_TAIL}");
    Ok(AbdChallenge { prompt, program, expected_output })
}

static THINK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<think>.*?</think>").expect("valid pattern"));
static THINKING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<thinking>.*?</thinking>").expect("valid pattern"));
static INPUT_BLOCK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?is)<INPUT>(.*?)</INPUT>").expect("valid pattern"));

/// The content of the last `<INPUT>` block outside think tags, lines right-stripped and
/// trailing blank lines dropped; empty when there is none.
#[must_use]
pub fn extract_input(response: &str) -> String {
    let without_think = THINK.replace_all(response, "");
    let cleaned = THINKING.replace_all(&without_think, "");
    let Some(last) = INPUT_BLOCK.captures_iter(&cleaned).last() else { return String::new() };
    let inner = pytext::strip(last.get(1).map_or("", |m| m.as_str()));
    let mut lines: Vec<&str> = pytext::splitlines(inner).into_iter().map(pytext::rstrip).collect();
    while lines.last().is_some_and(|line| pytext::strip(line).is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// The reference's heuristic gate: at least one line per `input()` call, or more lines than
/// the announced count for `for _ in range(int(input()))` loops.
#[must_use]
pub fn input_plausible(program: &str, input: &str) -> bool {
    let calls = program.matches("input()").count();
    let lines = if input.is_empty() { Vec::new() } else { pytext::splitlines(input) };
    if program.contains("for _ in range(int(input()))")
        && let Some(first) = lines.first()
        && !first.is_empty()
        && first.chars().all(|c| c.is_ascii_digit())
    {
        return first.parse::<usize>().is_ok_and(|count| lines.len() > count);
    }
    lines.len() >= calls
}

/// Output equality as the reference judges it.
#[must_use]
pub fn outputs_match(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    let expected = pytext::strip(expected).replace("\r\n", "\n");
    let actual = pytext::strip(actual).replace("\r\n", "\n");
    if expected == actual {
        return true;
    }
    let lines = |text: &str| pytext::splitlines(text).into_iter().map(pytext::rstrip).map(str::to_owned).collect::<Vec<_>>();
    lines(&expected) == lines(&actual)
}

/// Scores a reply: 1.0 iff its input makes the program print the expected output without
/// writing to stderr.
///
/// # Errors
/// Only when the sandbox cannot run.
pub async fn score(response: &str, challenge: &AbdChallenge, sandbox: &Sandbox) -> Result<f64, sandbox::Error> {
    let input = extract_input(response);
    if input.is_empty() && !INPUT_BLOCK.is_match(response) {
        return Ok(0.0);
    }
    if !input_plausible(&challenge.program, &input) {
        return Ok(0.0);
    }
    // The reference adds the final newline only to a non-empty input.
    let stdin = if input.is_empty() { String::new() } else { format!("{input}\n") };
    let run = program::execute(sandbox, &challenge.program, &stdin).await?;
    if !run.stderr.is_empty() {
        return Ok(0.0);
    }
    Ok(if outputs_match(&challenge.expected_output, &run.stdout) { 1.0 } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abd_prompt_is_the_reference_text() {
        use sha2::{Digest as _, Sha256};
        // sha256 of the reference PROMPT_TEMPLATE.format(program="print(input())", output="7\n").
        let prompt = format!("{PROMPT_HEAD}print(input()){PROMPT_MIDDLE}7\n{PROMPT_TAIL}");
        assert_eq!(format!("{:x}", Sha256::digest(prompt.as_bytes())), "1bf8bd5508752716ca17cc46d52cbae06885458115f9d54063387a3bc593fce1");
    }

    #[test]
    fn extract_input_takes_last_block_outside_think() {
        let reply = "<think><INPUT>9</INPUT></think>first <INPUT>1</INPUT> then <input>\n2 3  \n4\n\n</input>";
        assert_eq!(extract_input(reply), "2 3\n4");
        assert_eq!(extract_input("no tags"), "");
    }

    #[test]
    fn input_plausible_follows_the_reference_gate() {
        let looped = "for _ in range(int(input())):\n    print(input())";
        assert!(input_plausible(looped, "2\na\nb"));
        assert!(!input_plausible(looped, "2\na"));
        assert!(!input_plausible("a=input()\nb=input()", "1"));
        assert!(input_plausible("a=input()", "1"));
    }

    #[test]
    fn outputs_match_is_lenient_on_whitespace_only() {
        assert!(outputs_match("1\n2\n", "1  \r\n2"));
        assert!(!outputs_match("1 2", "1  2"));
    }
}
