//! The reference executor's handling of program text around the sandbox: fence stripping and
//! the `solve()` auto-runner (spec §5), applied to every program run.

use std::sync::LazyLock;

use regex::Regex;

use super::pytext;
use super::sandbox::{self, Output, Sandbox};

static PYTHON_BLOCK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)```python\s*\n(.*?)```").expect("valid pattern"));
static ANY_BLOCK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)```(?:\w*)\s*\n(.*?)```").expect("valid pattern"));
static LOOSE_FENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)```(?:python)?\s*([\s\S]*?)```").expect("valid pattern"));
static HAS_MAIN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"if\s+__name__\s*==\s*['"]__main__['"]"#).expect("valid pattern"));

/// The program inside a reply: the last ```` ```python ```` block, else the last fenced
/// block, else the first loose fence, else the whole text; stripped.
#[must_use]
pub fn strip_fences(text: &str) -> String {
    let last = |re: &Regex| re.captures_iter(text).last().map(|c| c.get(1).map_or("", |m| m.as_str()).to_owned());
    if let Some(block) = last(&PYTHON_BLOCK).or_else(|| last(&ANY_BLOCK)) {
        return pytext::strip(&block).to_owned();
    }
    let inner = LOOSE_FENCE.captures(text).and_then(|c| c.get(1)).map_or(text, |m| m.as_str());
    pytext::strip(inner).to_owned()
}

const SOLVE_RUNNER: &str = "\n\nif __name__ == \"__main__\":\n    res = solve()\n    if res is not None:\n        import sys\n        if isinstance(res, (list, tuple)):\n            print(*res)\n        else:\n            print(res)\n";

/// Runs `raw_code` (fences stripped) with `stdin`; when it printed nothing, defines `solve`
/// and has no `__main__` guard, runs it again with a guard that calls `solve()`.
///
/// # Errors
/// Only when the sandbox cannot run (see [`sandbox::Error`]).
pub async fn execute(sandbox: &Sandbox, raw_code: &str, stdin: &str) -> Result<Output, sandbox::Error> {
    let code = strip_fences(raw_code);
    let output = sandbox.run_python(&code, stdin).await?;
    let silent = pytext::strip(&output.stdout).is_empty() && pytext::strip(&output.stderr).is_empty();
    if silent && code.contains("def solve") && !HAS_MAIN.is_match(&code) {
        return sandbox.run_python(&format!("{code}{SOLVE_RUNNER}"), stdin).await;
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_fences_prefers_last_python_block() {
        let reply = "intro\n```python\nprint(1)\n```\nmore\n```python\nprint(2)\n```\n";
        assert_eq!(strip_fences(reply), "print(2)");
        assert_eq!(strip_fences("```\nx = 1\n```"), "x = 1");
        assert_eq!(strip_fences("```py print(3)```"), "py print(3)");
        assert_eq!(strip_fences("  print(4)\n"), "print(4)");
    }
}
