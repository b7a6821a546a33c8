//! Exit statuses and error rendering, without knowing any module's error types.
//!
//! Each module judges its own errors: it implements [`Classify`] for them, giving the [`Kind`]
//! (usage or configuration, runtime failure, interrupted) and a hint where the fix is known.
//! The command edge lists those types once (`commands::CLASSIFIED`, one [`Probe`] each) and
//! hands the list to [`classify`] and [`render`], which walk the cause chain. This file imports
//! nothing from the crate, so every module can use [`one_line`] without an import cycle.

use std::fmt::Write as _;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success (0).
    Success,
    /// A runtime failure (1).
    Failure,
    /// A usage or configuration problem (2).
    Usage,
    /// A one-shot command stopped by a signal (130).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    #[must_use]
    pub const fn code(self) -> i32 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Interrupted => 130,
        }
    }
}

/// What kind of failure an error is, as the module that raised it judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// What the user gave is wrong: a flag, a setting, a missing or malformed input (exit 2).
    Usage,
    /// Something failed while running: a server, the network, the disk (exit 1).
    Runtime,
    /// A signal stopped the work (exit 130).
    Interrupted,
}

impl Kind {
    /// The kind of a user-input test: [`Kind::Usage`] when `is_user_input`, else [`Kind::Runtime`].
    #[must_use]
    pub const fn usage_if(is_user_input: bool) -> Self {
        if is_user_input { Self::Usage } else { Self::Runtime }
    }
}

impl From<Kind> for ExitStatus {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Usage => Self::Usage,
            Kind::Runtime => Self::Failure,
            Kind::Interrupted => Self::Interrupted,
        }
    }
}

/// An error type that knows what kind of failure it is; implemented by each module for its own
/// errors.
pub trait Classify {
    /// The kind of this failure.
    fn kind(&self) -> Kind;

    /// One line telling the user how to fix it, when that is known.
    fn hint(&self) -> Option<&'static str> {
        None
    }
}

/// Recognises one error type in a cause chain: [`probe::<E>`](probe) for each `E: Classify`.
pub type Probe = for<'a> fn(&'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Classify>;

/// The [`Probe`] of `E`: `cause` as a [`Classify`] when it is an `E`.
#[must_use]
pub fn probe<'a, E: Classify + std::error::Error + 'static>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Classify> {
    cause.downcast_ref::<E>().map(|error| error as &dyn Classify)
}

/// The first cause in `error`'s chain that one of `probes` recognises.
fn judged<'a>(cause: &'a (dyn std::error::Error + 'static), probes: &[Probe]) -> Option<&'a dyn Classify> {
    probes.iter().find_map(|probe| probe(cause))
}

/// Classifies an error by the first cause whose type `probes` recognises; anything else is a
/// runtime failure.
#[must_use]
pub fn classify(error: &anyhow::Error, probes: &[Probe]) -> ExitStatus {
    error.chain().find_map(|cause| judged(cause, probes)).map_or(ExitStatus::Failure, |judge| judge.kind().into())
}

/// The hint of the first cause that has one.
fn hint(error: &anyhow::Error, probes: &[Probe]) -> Option<&'static str> {
    error.chain().find_map(|cause| judged(cause, probes).and_then(Classify::hint))
}

/// An error and its causes on one line, `: `-joined, for log fields and error texts (some
/// clients' own messages hide the cause).
#[must_use]
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    without_repeats(&text)
}

/// Drops a run of `: `-separated segments that directly repeats the run before it. Some
/// clients wrap one error twice and print both (subxt's legacy RPC client:
/// `RPC error: client error: RPC error: client error: Connection refused`).
fn without_repeats(text: &str) -> String {
    let mut segments: Vec<&str> = text.split(": ").collect();
    let mut changed = true;
    while changed {
        changed = false;
        'search: for width in 1..=segments.len() / 2 {
            for start in 0..=segments.len() - 2 * width {
                if segments[start..start + width] == segments[start + width..start + 2 * width] {
                    segments.drain(start + width..start + 2 * width);
                    changed = true;
                    break 'search;
                }
            }
        }
    }
    segments.join(": ")
}

/// `error: ...`, then one `caused by: ...` line per cause, then the hint of the first cause
/// `probes` recognises that has one.
#[must_use]
pub fn render(error: &anyhow::Error, probes: &[Probe]) -> String {
    let mut text = format!("error: {}", without_repeats(&error.to_string()));
    for cause in error.chain().skip(1) {
        let _ = write!(text, "\n  caused by: {}", without_repeats(&cause.to_string()));
    }
    if let Some(hint) = hint(error, probes) {
        let _ = write!(text, "\n\nhint: {hint}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("bad input")]
    struct BadInput;

    impl Classify for BadInput {
        fn kind(&self) -> Kind {
            Kind::Usage
        }

        fn hint(&self) -> Option<&'static str> {
            Some("fix the input")
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("stopped")]
    struct Stopped;

    impl Classify for Stopped {
        fn kind(&self) -> Kind {
            Kind::Interrupted
        }
    }

    const PROBES: &[Probe] = &[probe::<BadInput>, probe::<Stopped>];

    #[test]
    fn repeated_wrapping_is_printed_once() {
        assert_eq!(
            without_repeats("RPC error: client error: RPC error: client error: Connection refused (os error 111)"),
            "RPC error: client error: Connection refused (os error 111)"
        );
        assert_eq!(without_repeats("a: a: a: b"), "a: b");
        assert_eq!(without_repeats("timeout: 30 s: retrying"), "timeout: 30 s: retrying");
        assert_eq!(without_repeats(""), "");
        let wrapped = anyhow::anyhow!("x: y: x: y: z").context("failed to connect");
        assert_eq!(render(&wrapped, PROBES), "error: failed to connect\n  caused by: x: y: z");
    }

    #[test]
    fn the_first_recognised_cause_decides_the_status_and_the_hint() {
        let usage = anyhow::Error::new(BadInput).context("resolving");
        assert_eq!(classify(&usage, PROBES), ExitStatus::Usage);
        assert_eq!(render(&usage, PROBES), "error: resolving\n  caused by: bad input\n\nhint: fix the input");
        assert_eq!(classify(&anyhow::Error::new(Stopped).context("waiting"), PROBES), ExitStatus::Interrupted);
        assert_eq!(classify(&anyhow::anyhow!("boom"), PROBES), ExitStatus::Failure);
        assert_eq!(classify(&usage, &[]), ExitStatus::Failure, "a type nobody lists is a runtime failure");
        assert_eq!(ExitStatus::from(Kind::Runtime), ExitStatus::Failure);
        assert_eq!(ExitStatus::Interrupted.code(), 130);
    }
}
