//! The sampling state file, in the reference's format so a validator moving between
//! implementations continues its cycle: `~/.cache/affine/sampling_state.json` holding
//! `{"env_task_counters": {env: next_task_id}}`. Written atomically (a temporary file, fsync,
//! rename); a malformed file is moved aside with a warning and the counters start fresh.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::environments::EnvSpec;

/// The largest state file read (the real one is a few hundred bytes).
const MAX_BYTES: u64 = 1 << 20;

/// Next task id per environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplingState {
    /// `env -> next id`.
    pub env_task_counters: BTreeMap<String, u64>,
}

/// A state file problem.
#[derive(Debug, thiserror::Error)]
#[error("failed to write the sampling state {path}: {source}")]
pub struct Error {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

impl SamplingState {
    /// Reads `path`: missing is empty; malformed (or not a regular file, or too large) is moved
    /// aside to `<path>.bad-<unix seconds>` and returned as empty with the warning to log.
    #[must_use]
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(error) => {
                return (
                    Self::default(),
                    Some(format!("cannot read the sampling state {}: {error}; counters start fresh", path.display())),
                );
            }
        };
        let parsed = if !meta.is_file() {
            Err("not a regular file".to_owned())
        } else if meta.len() > MAX_BYTES {
            Err(format!("{} bytes is too large", meta.len()))
        } else {
            std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).map_err(|e| e.to_string()))
        };
        match parsed {
            Ok(state) => (state, None),
            Err(reason) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let aside = PathBuf::from(format!("{}.bad-{now}", path.display()));
                let moved = std::fs::rename(path, &aside)
                    .map_or_else(|e| format!("could not move it aside: {e}"), |()| format!("moved to {}", aside.display()));
                (
                    Self::default(),
                    Some(format!("the sampling state {} is malformed ({reason}); {moved}; counters start fresh", path.display())),
                )
            }
        }
    }

    /// The next id of `spec`, with the reference's normalisation and the lower bound it lacked:
    /// a missing or out-of-range counter starts at the range's start.
    #[must_use]
    pub fn next_id(&self, spec: &EnvSpec) -> u64 {
        self.env_task_counters.get(spec.id).copied().filter(|id| spec.contains_task(*id)).unwrap_or(spec.task_start)
    }

    /// Writes the state atomically.
    ///
    /// # Errors
    /// The folder or file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        use std::io::Write as _;
        let error = |source| Error { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        // The reference writes `json.dump` output: ", " and ": " separators.
        let mut text = String::from("{\"env_task_counters\": {");
        for (index, (env, id)) in self.env_task_counters.iter().enumerate() {
            if index > 0 {
                text.push_str(", ");
            }
            text.push_str(&crate::chain::pyjson::dumps_sorted(&serde_json::Value::from(env.as_str())));
            let _ = write!(text, ": {id}");
        }
        text.push_str("}}");
        let temporary = path.with_extension(format!("json.tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&temporary).map_err(error)?;
        file.write_all(text.as_bytes()).map_err(error)?;
        file.sync_all().map_err(error)?;
        drop(file);
        std::fs::rename(&temporary, path).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_round_trips_in_the_reference_format_and_normalises_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache/affine/sampling_state.json");
        let mut state = SamplingState::default();
        state.env_task_counters.insert("affine:sat".into(), 17);
        state.env_task_counters.insert("agentgym:alfworld".into(), 12);
        state.save(&path).expect("save");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), r#"{"env_task_counters": {"affine:sat": 17, "agentgym:alfworld": 12}}"#);
        let (loaded, warning) = SamplingState::load(&path);
        assert_eq!((loaded.clone(), warning), (state, None));
        let sat = crate::environments::env_spec("affine:sat").expect("sat");
        let alfworld = crate::environments::env_spec("agentgym:alfworld").expect("alfworld");
        let abd = crate::environments::env_spec("affine:abd").expect("abd");
        assert_eq!((loaded.next_id(sat), loaded.next_id(alfworld), loaded.next_id(abd)), (17, 2000, 0), "below-range ids restart");
    }

    #[test]
    fn a_malformed_state_file_is_moved_aside_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sampling_state.json");
        std::fs::write(&path, "{\"env_task_counters\": {\"affine:sat\": ").expect("write");
        let (state, warning) = SamplingState::load(&path);
        assert_eq!(state, SamplingState::default());
        assert!(warning.is_some_and(|w| w.contains("malformed") && w.contains(".bad-")));
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "kept aside");
    }
}
