//! Everything `af` prints for people or programs on stdout goes through here: tables, JSON
//! documents, and progress bars on stderr.
//!
//! Output is safe to print: strings from the network (model names, hotkeys, error details)
//! may hold terminal escape sequences, so control characters are escaped in text output and
//! tables ([`escape_controls`]) and in JSON (which escapes C0 itself; DEL and C1 are escaped
//! here), and credentials in URLs are redacted ([`crate::secret::redact`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Writes command results to stdout.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// Whether progress bars may be drawn.
    progress: bool,
}

impl Printer {
    /// A printer; progress bars are shown only on a terminal and when `RUST_LOG` is unset, so
    /// they never interleave with logs or end up in files.
    #[must_use]
    pub fn new(rust_log_set: bool) -> Self {
        Self { progress: !rust_log_set && std::io::stderr().is_terminal() }
    }

    /// Prints `value` as pretty JSON followed by a newline.
    ///
    /// # Errors
    /// stdout cannot be written (a closed pipe is not an error).
    pub fn json<T: Serialize>(&self, value: &T) -> std::io::Result<()> {
        let mut text = json_safe(&serde_json::to_string_pretty(value).map_err(std::io::Error::other)?).into_owned();
        text.push('\n');
        write_stdout(&crate::secret::redact(&text))
    }

    /// Prints text, with control characters other than newline and tab escaped and URL
    /// credentials redacted.
    ///
    /// # Errors
    /// stdout cannot be written (a closed pipe is not an error).
    pub fn raw(&self, text: &str) -> std::io::Result<()> {
        write_stdout(&crate::secret::redact(&escape_controls_in_lines(text)))
    }
}

fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

impl Printer {
    /// A progress bar over `total` bytes, hidden when progress is not shown.
    #[must_use]
    pub fn byte_progress(&self, total: u64, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_owned());
        bar
    }
}

impl Printer {
    /// A progress bar over `total` items, hidden when progress is not shown.
    #[must_use]
    pub fn count_progress(&self, total: u64, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_owned());
        bar
    }

    /// A progress bar over `total` objects whose message shows the bytes transferred (update
    /// it with [`transfer_message`]), hidden when progress is not shown.
    #[must_use]
    pub fn object_progress(&self, total: u64, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} objects, {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(message.to_owned());
        bar
    }
}

/// The message of an object progress bar: bytes so far.
#[must_use]
pub fn transfer_message(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// `text` with every control character escaped (`\u{1b}`), newlines and tabs included: for
/// one-line fields such as table cells.
#[must_use]
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_where(text, char::is_control)
}

/// `text` with control characters escaped except newline and tab: for multi-line output
/// (rendered errors, text reports).
#[must_use]
pub fn escape_controls_in_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c.is_control() && c != '\n' && c != '\t')
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text with DEL and the C1 controls (which `serde_json` leaves raw, and some terminals
/// obey) written as `\u00XX` escapes; they can only occur inside strings, so the document
/// means the same.
fn json_safe(json: &str) -> Cow<'_, str> {
    let raw = |c: char| c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c);
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Renders rows as a plain aligned table (like Python's `tabulate(..., "plain")`): numbers are
/// right-aligned, text left-aligned, columns separated by two spaces.
#[must_use]
pub fn plain_table(header: &[String], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|cell| escape_controls(cell).into_owned()).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(|cell| escape_controls(cell).into_owned()).collect()).collect();
    let (header, rows) = (header.as_slice(), rows.as_slice());
    let columns = header.len();
    let numeric: Vec<bool> = (0..columns)
        .map(|c| !rows.is_empty() && rows.iter().all(|row| row.get(c).is_some_and(|cell| cell.parse::<f64>().is_ok())))
        .collect();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|row| row.get(c)).chain(std::iter::once(&header[c])).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = (0..columns)
            .map(|c| {
                let cell = row.get(c).map_or("", String::as_str);
                let pad = widths[c].saturating_sub(cell.chars().count());
                if numeric[c] { format!("{}{cell}", " ".repeat(pad)) } else { format!("{cell}{}", " ".repeat(pad)) }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_table_aligns_numbers_right_and_text_left() {
        let header = vec!["UID".to_owned(), "Model".to_owned()];
        let rows = vec![vec!["7".to_owned(), "a/affine".to_owned()], vec!["12".to_owned(), "b".to_owned()]];
        assert_eq!(plain_table(&header, &rows), "UID  Model\n  7  a/affine\n 12  b\n");
    }

    #[test]
    fn control_characters_are_escaped_in_cells_text_and_json() {
        let header = vec!["Model".to_owned()];
        let rows = vec![vec!["evil\u{1b}[2J\nx".to_owned()]];
        assert_eq!(plain_table(&header, &rows), "Model\nevil\\u{1b}[2J\\u{a}x\n");
        assert_eq!(escape_controls_in_lines("a\n\tb\u{7}\u{9b}c"), "a\n\tb\\u{7}\\u{9b}c");
        assert_eq!(json_safe("{\"m\": \"a\u{9b}b\u{7f}\"}"), "{\"m\": \"a\\u009bb\\u007f\"}");
        let parsed: serde_json::Value = serde_json::from_str(&json_safe("\"\u{9b}\"")).expect("still JSON");
        assert_eq!(parsed, serde_json::json!("\u{9b}"));
    }
}
