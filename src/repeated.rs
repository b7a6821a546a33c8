//! Warnings that may repeat without bound (a missing object per index key, an unsafe key):
//! logged a few times, then counted, so input someone else controls cannot flood stderr.

/// A warning that may repeat many times (a missing object per index key, an unsafe key): the
/// first [`RepeatedWarning::SHOWN`] are logged by the caller, the rest only counted and
/// summed up in one line by [`RepeatedWarning::finish`], so a hostile index of a million keys
/// cannot flood stderr.
#[derive(Debug)]
pub struct RepeatedWarning {
    what: &'static str,
    seen: usize,
}

impl RepeatedWarning {
    /// Occurrences logged one by one.
    pub const SHOWN: usize = 5;

    /// A counter for warnings about `what` (plural, e.g. `"listed shards that do not exist"`).
    #[must_use]
    pub const fn new(what: &'static str) -> Self {
        Self { what, seen: 0 }
    }

    /// Counts one occurrence; `true` when the caller should log it.
    pub fn hit(&mut self) -> bool {
        self.seen += 1;
        self.seen <= Self::SHOWN
    }

    /// Occurrences counted so far.
    #[must_use]
    pub const fn count(&self) -> usize {
        self.seen
    }

    /// Logs how many occurrences were not shown, if any.
    pub fn finish(&self) {
        if self.seen > Self::SHOWN {
            tracing::warn!(total = self.seen, "{} more {} not shown", self.seen - Self::SHOWN, self.what);
        }
    }
}
