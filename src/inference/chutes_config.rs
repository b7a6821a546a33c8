//! Chutes credentials from `~/.chutes/config.ini` (written by `chutes register`; another path
//! with `CHUTES_CONFIG_PATH`), for hotkey-signed requests.
//!
//! The file is read as the chutes SDK reads it (Python `configparser`): `[auth]` holds
//! `user_id`, `username`, `hotkey_seed` (hex), `hotkey_name`, `hotkey_ss58address`; `[api]`
//! may hold `base_url`. Turning the seed into an sr25519 keypair is the chain code's job; here
//! it stays a [`Secret`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::chutes::{HotkeyAuth, SignMessage};
use super::chutes_error::Error;
use crate::secret::Secret;

/// What `config.ini` says about the Chutes account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChutesCredentials {
    /// Chutes user id (`X-Chutes-UserID`).
    pub user_id: String,
    /// Chutes username (the seed of chute ids).
    pub username: String,
    /// The hotkey's SS58 address (`X-Chutes-Hotkey`).
    pub hotkey_ss58: String,
    /// The hotkey's name in the wallet, if recorded.
    pub hotkey_name: Option<String>,
    /// The hotkey's 32-byte seed as hex (no `0x`).
    pub hotkey_seed: Secret,
    /// `[api] base_url`, which the SDK prefers over `CHUTES_API_URL`.
    pub api_url: Option<String>,
}

impl ChutesCredentials {
    /// `~/.chutes/config.ini` under `home`.
    #[must_use]
    pub fn default_path(home: &Path) -> PathBuf {
        home.join(".chutes").join("config.ini")
    }

    /// Reads and parses the file.
    ///
    /// # Errors
    /// The file cannot be read, or [`ChutesCredentials::parse`] refuses it.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::fsio::read_regular_to_string(path, crate::fsio::STATE_MAX_BYTES)
            .map_err(|source| Error::ConfigRead { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parses the text of `config.ini` (`origin` names it in errors).
    ///
    /// # Errors
    /// [`Error::Config`]: a missing `[auth]` key, or a seed that is not 32 bytes of hex.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, Error> {
        let sections = parse_ini(text);
        let invalid = |reason: String| Error::Config { path: origin.to_path_buf(), reason };
        let auth = sections.get("auth").ok_or_else(|| invalid("no [auth] section (run `chutes register`)".to_owned()))?;
        let required = |key: &str| auth.get(key).filter(|v| !v.is_empty()).cloned().ok_or_else(|| invalid(format!("[auth] has no {key}")));
        let seed = required("hotkey_seed")?;
        let seed = seed.strip_prefix("0x").unwrap_or(&seed).to_ascii_lowercase();
        if seed.len() != 64 || !seed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("[auth] hotkey_seed is not 32 bytes of hex".to_owned()));
        }
        Ok(Self {
            user_id: required("user_id")?,
            username: required("username")?,
            hotkey_ss58: required("hotkey_ss58address")?,
            hotkey_name: auth.get("hotkey_name").filter(|v| !v.is_empty()).cloned(),
            hotkey_seed: Secret::new(seed),
            api_url: sections.get("api").and_then(|api| api.get("base_url")).filter(|v| !v.is_empty()).cloned(),
        })
    }

    /// Hotkey authentication for these credentials, signing with `signer` (built by the chain
    /// code from [`ChutesCredentials::hotkey_seed`]).
    #[must_use]
    pub fn hotkey_auth(&self, signer: Arc<dyn SignMessage>) -> HotkeyAuth {
        HotkeyAuth { user_id: self.user_id.clone(), hotkey: self.hotkey_ss58.clone(), signer }
    }
}

/// The subset of `configparser` the SDK's file uses: `[section]`, `key = value` or
/// `key: value`, `#`/`;` comment lines; keys are case-insensitive, values trimmed.
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_owned());
            sections.entry(name.trim().to_owned()).or_default();
            continue;
        }
        let Some(section) = &current else { continue };
        let Some(split) = line.find(['=', ':']) else { continue };
        let (key, value) = line.split_at(split);
        sections.entry(section.clone()).or_default().insert(key.trim().to_ascii_lowercase(), value[1..].trim().to_owned());
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "0x0707070707070707070707070707070707070707070707070707070707070707";

    fn file(auth: &str) -> String {
        format!("# written by chutes register\n[api]\nbase_url = http://127.0.0.1:9\n\n[auth]\n{auth}")
    }

    #[test]
    fn credentials_parse_the_sdk_config_and_redact_the_seed() {
        let text =
            file(&format!("user_id = user-1\nusername = alice\nhotkey_seed = {SEED}\nhotkey_name = hk\nHotkey_SS58Address: 5Grwva\n"));
        let credentials = ChutesCredentials::parse(&text, Path::new("config.ini")).expect("parse");
        assert_eq!(
            (credentials.user_id.as_str(), credentials.username.as_str(), credentials.hotkey_ss58.as_str()),
            ("user-1", "alice", "5Grwva")
        );
        assert_eq!(credentials.hotkey_seed.expose(), &SEED[2..]);
        assert_eq!(credentials.api_url.as_deref(), Some("http://127.0.0.1:9"));
        assert!(!format!("{credentials:?}").contains("0707"), "the seed never shows in Debug");
        let auth = credentials.hotkey_auth(Arc::new(|_: &[u8]| String::new()));
        assert_eq!((auth.user_id.as_str(), auth.hotkey.as_str()), ("user-1", "5Grwva"));
        assert_eq!(ChutesCredentials::default_path(Path::new("/home/m")), PathBuf::from("/home/m/.chutes/config.ini"));
    }

    #[test]
    fn credentials_refuse_missing_keys_and_bad_seeds() {
        let origin = Path::new("c.ini");
        assert!(ChutesCredentials::parse("[api]\nbase_url = x\n", origin).is_err());
        let missing = file(&format!("user_id = u\nhotkey_seed = {SEED}\nhotkey_ss58address = 5G\n"));
        let error = ChutesCredentials::parse(&missing, origin).expect_err("no username");
        assert!(error.to_string().contains("[auth] has no username") && error.is_user_input(), "{error}");
        let short = file("user_id = u\nusername = a\nhotkey_seed = abcd\nhotkey_ss58address = 5G\n");
        assert!(ChutesCredentials::parse(&short, origin).is_err());
        let error = ChutesCredentials::load(Path::new("/nonexistent/af/config.ini")).expect_err("missing file");
        assert!(matches!(error, Error::ConfigRead { .. }));
    }
}
