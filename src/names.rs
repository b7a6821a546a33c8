//! Names that come from the network are data, never paths, until checked here: commit shas,
//! entity tags and blob ids, repository file names and result-store keys (pure, no I/O).
//!
//! A Hub listing, a store index or a chute answer is written by someone else. Before such a
//! name becomes part of a local path or a URL it must pass one of these checks, so that a
//! download or a pull can never create, change or delete anything outside its destination.

/// Why a name was refused: what it was, the name (with control characters escaped), and the
/// rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing unsafe {what} {shown}: {rule}")]
pub struct Unsafe {
    /// What kind of name (`commit sha`, `etag`, `file name`, `store key`).
    pub what: &'static str,
    /// The name as received, quoted and escaped for printing.
    pub shown: String,
    /// The rule it broke.
    pub rule: &'static str,
}

fn refuse(what: &'static str, name: &str, rule: &'static str) -> Unsafe {
    let shown: String = name.chars().take(200).collect();
    Unsafe { what, shown: format!("{shown:?}"), rule }
}

fn is_lower_hex(name: &str) -> bool {
    name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A git commit sha: exactly 40 lowercase hex characters.
///
/// # Errors
/// Anything else.
pub fn commit_sha(name: &str) -> Result<&str, Unsafe> {
    if name.len() == 40 && is_lower_hex(name) { Ok(name) } else { Err(refuse("commit sha", name, "expected 40 lowercase hex characters")) }
}

/// An entity tag the Hub lists for a file: an LFS sha256 (64 hex) or a git blob id (40 hex),
/// lowercase.
///
/// # Errors
/// Anything else.
pub fn etag(name: &str) -> Result<&str, Unsafe> {
    if matches!(name.len(), 40 | 64) && is_lower_hex(name) {
        Ok(name)
    } else {
        Err(refuse("etag", name, "expected 40 or 64 lowercase hex characters"))
    }
}

/// One path segment that is safe on every filesystem `af` writes to: not empty, not `.` or
/// `..`, no `/`, `\`, NUL or control characters, at most 255 bytes.
fn safe_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.len() <= 255
        && !segment.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// A `/`-separated relative file name from a listing (a Hub repository's `rfilename`), checked
/// segment by segment; the `.cache/huggingface` bookkeeping folder is refused too, so a listed
/// file can never overwrite download state.
///
/// # Errors
/// An absolute name, an empty, `.` or `..` segment, a backslash, NUL or control character, or
/// a name inside `.cache/huggingface`.
pub fn relative_file_name(name: &str) -> Result<std::path::PathBuf, Unsafe> {
    if name.starts_with('/') || !name.split('/').all(safe_segment) {
        return Err(refuse("file name", name, "expected a relative path without empty, '.' or '..' segments or control characters"));
    }
    let path: std::path::PathBuf = name.split('/').collect();
    if path.starts_with(".cache/huggingface") {
        return Err(refuse("file name", name, "the .cache/huggingface folder holds download state"));
    }
    Ok(path)
}

/// A result-store object key: `/`-separated segments, each a safe file name, so the key can
/// be a path below a local store folder and its last segment a file name in a replay
/// directory.
///
/// # Errors
/// An empty key, an empty, `.` or `..` segment, or a backslash, NUL or control character.
pub fn store_key(key: &str) -> Result<&str, Unsafe> {
    if key.split('/').all(safe_segment) {
        Ok(key)
    } else {
        Err(refuse("store key", key, "expected '/'-separated segments without '.', '..', backslashes or control characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_are_checked_before_they_become_paths() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(commit_sha(sha), Ok(sha));
        for bad in ["", "../../etc", "0123456789ABCDEF0123456789ABCDEF01234567", &sha[..39], "main"] {
            assert!(commit_sha(bad).is_err(), "{bad:?}");
        }
        let lfs = "a".repeat(64);
        assert!(etag(&lfs).is_ok() && etag(sha).is_ok());
        for bad in ["../../../tmp/victim", "a/b", "", &"a".repeat(63), "\"abc\""] {
            assert!(etag(bad).is_err(), "{bad:?}");
        }
        assert_eq!(relative_file_name("sub/dir/model.safetensors"), Ok(std::path::PathBuf::from("sub/dir/model.safetensors")));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "./a", ".cache/huggingface/download/x.metadata", "a\u{1b}[2J"] {
            assert!(relative_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(store_key("affine/results/000000020-5F.json").is_ok());
        for bad in ["", "affine/../x", "/abs", "a//b", "a\\b", "a/\u{0}"] {
            assert!(store_key(bad).is_err(), "{bad:?}");
        }
        let shown = etag("\u{1b}[31m../x").expect_err("escape").to_string();
        assert!(shown.contains("\\u{1b}") && !shown.contains('\u{1b}'), "{shown}");
    }
}
