//! Everything `af` prints for people or programs on stdout goes through here: tables, JSON
//! documents, and progress bars on stderr.

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
        let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        text.push('\n');
        self.raw(&text)
    }

    /// Prints text as it is.
    ///
    /// # Errors
    /// stdout cannot be written (a closed pipe is not an error).
    pub fn raw(&self, text: &str) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

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

/// Renders rows as a plain aligned table (like Python's `tabulate(..., "plain")`): numbers are
/// right-aligned, text left-aligned, columns separated by two spaces.
#[must_use]
pub fn plain_table(header: &[String], rows: &[Vec<String>]) -> String {
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
}
