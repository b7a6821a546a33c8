//! bittensor wallets on disk: the directory layout, keyfiles and `$NACL` decryption.
//!
//! Layout (bittensor-wallet 4.x): `<path>/<name>/coldkey` (usually `$NACL`-encrypted),
//! `<path>/<name>/coldkeypub.txt`, `<path>/<name>/hotkeys/<hotkey>` (usually plaintext) and
//! `<path>/<name>/hotkeys/<hotkey>pub.txt`. A keyfile is a JSON object of strings
//! (`secretPhrase`, `secretSeed`, `privateKey`, `publicKey`, `accountId`, `ss58Address`); the
//! key is taken from the first of `secretPhrase`, `secretSeed`, `privateKey`, as the library
//! does. `$NACL` files are `$NACL` + a 24-byte nonce + an XSalsa20-Poly1305 box keyed by
//! Argon2i (v1.3, 8 passes, 512 MiB, one lane) over the password with a fixed salt.

use std::fmt;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::Error;
use super::signing::{Keypair, PublicKey};

/// The salt bittensor uses for every `$NACL` keyfile.
const NACL_SALT: [u8; 16] = [0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1];
const NACL_MAGIC: &[u8] = b"$NACL";
const NACL_NONCE_LEN: usize = 24;
/// libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE`.
const ARGON2_PASSES: u32 = 8;
/// libsodium `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE` (512 MiB) in KiB.
const ARGON2_MEMORY_KIB: u32 = 512 * 1024;

/// Where a wallet lives: `<path>/<name>` with hotkey `<hotkey>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletLocation {
    /// The wallets directory (bittensor's default `~/.bittensor/wallets`).
    pub path: PathBuf,
    /// The wallet (coldkey) name.
    pub name: String,
    /// The hotkey name.
    pub hotkey: String,
}

impl WalletLocation {
    /// `<path>/<name>`.
    #[must_use]
    pub fn wallet_dir(&self) -> PathBuf {
        self.path.join(&self.name)
    }

    /// The coldkey keyfile.
    #[must_use]
    pub fn coldkey_path(&self) -> PathBuf {
        self.wallet_dir().join("coldkey")
    }

    /// `coldkeypub.txt`.
    #[must_use]
    pub fn coldkeypub_path(&self) -> PathBuf {
        self.wallet_dir().join("coldkeypub.txt")
    }

    /// The hotkey keyfile.
    #[must_use]
    pub fn hotkey_path(&self) -> PathBuf {
        self.wallet_dir().join("hotkeys").join(&self.hotkey)
    }

    /// The hotkey's public keyfile (`<hotkey>pub.txt`, written by bittensor-wallet 4.x).
    #[must_use]
    pub fn hotkeypub_path(&self) -> PathBuf {
        self.wallet_dir().join("hotkeys").join(format!("{}pub.txt", self.hotkey))
    }
}

/// The environment variable bittensor-wallet reads a keyfile's password from:
/// `BT_PW_` + the keyfile path with every path separator and `.` replaced by `_`, upper-cased
/// (`/home/u/.bittensor/wallets/w/coldkey` -> `BT_PW__HOME_U__BITTENSOR_WALLETS_W_COLDKEY`).
#[must_use]
pub fn password_env_var(keyfile: &Path) -> String {
    let path = keyfile.to_string_lossy().replace([std::path::MAIN_SEPARATOR, '.'], "_");
    format!("BT_PW_{}", path.to_uppercase())
}

/// Decodes the value bittensor-wallet stores in a [`password_env_var`]: base64 of the password
/// XOR-ed with the variable's own name (repeated), as its `save_password_to_env` writes it.
///
/// # Errors
/// [`Error::InvalidKey`] when the value is not base64 or does not decode to UTF-8.
pub fn decode_env_password(name: &str, value: &str) -> Result<Zeroizing<String>, Error> {
    use base64::Engine as _;
    let invalid = || Error::InvalidKey(format!("{name} is not a password saved by bittensor-wallet (base64 of the obfuscated text)"));
    let mut bytes = Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| invalid())?);
    for (byte, key) in bytes.iter_mut().zip(name.as_bytes().iter().cycle()) {
        *byte ^= key;
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Where the password of an encrypted keyfile comes from.
#[derive(Clone, Default)]
pub struct PasswordSource {
    /// Passwords for particular keyfiles (bittensor's `BT_PW_<PATH>` variables); win over
    /// `password`.
    per_file: Vec<(PathBuf, Zeroizing<String>)>,
    /// A password given in advance (from an environment variable); wins over prompting.
    password: Option<Zeroizing<String>>,
    /// Whether to prompt on the terminal when no password was given.
    prompt: bool,
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<_> = self.per_file.iter().map(|(path, _)| path.display().to_string()).collect();
        f.debug_struct("PasswordSource")
            .field("per_file", &files)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("prompt", &self.prompt)
            .finish()
    }
}

impl PasswordSource {
    /// A fixed password (no prompt).
    #[must_use]
    pub fn given(password: String) -> Self {
        Self { per_file: Vec::new(), password: Some(Zeroizing::new(password)), prompt: false }
    }

    /// No password: encrypted keyfiles fail with [`Error::PasswordUnavailable`].
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// `password` when set, else a prompt on the terminal when stdin is one.
    #[must_use]
    pub fn env_or_prompt(password: Option<String>) -> Self {
        Self { per_file: Vec::new(), password: password.map(Zeroizing::new), prompt: std::io::stdin().is_terminal() }
    }

    /// Adds the password of one keyfile (it wins over the general one for that file).
    #[must_use]
    pub fn with_file_password(mut self, keyfile: PathBuf, password: Zeroizing<String>) -> Self {
        self.per_file.push((keyfile, password));
        self
    }

    fn obtain(&self, path: &Path) -> Result<Zeroizing<String>, Error> {
        if let Some((_, password)) = self.per_file.iter().find(|(file, _)| file == path) {
            return Ok(password.clone());
        }
        if let Some(password) = &self.password {
            return Ok(password.clone());
        }
        if self.prompt {
            let prompt = format!("Enter the password for {}: ", path.display());
            return rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(|_| Error::PasswordUnavailable { path: path.to_owned() });
        }
        Err(Error::PasswordUnavailable { path: path.to_owned() })
    }
}

/// The key material in a keyfile.
#[derive(Debug)]
pub enum KeyfileKey {
    /// A secret key (and so its public key).
    Secret(Box<Keypair>),
    /// Only a public key (`coldkeypub.txt`, `<hotkey>pub.txt`).
    Public(PublicKey),
}

impl KeyfileKey {
    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Secret(keypair) => keypair.public_key(),
            Self::Public(public) => *public,
        }
    }
}

/// Reads a keyfile, decrypting it with `password` when it is `$NACL`-encrypted.
///
/// # Errors
/// A missing or unreadable file, an unsupported encryption, a wrong or unavailable password,
/// or contents that are not a keyfile.
pub fn read_keyfile(path: &Path, password: &PasswordSource) -> Result<KeyfileKey, Error> {
    let bytes = match crate::fsio::read_regular(path, crate::fsio::STATE_MAX_BYTES) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(Error::KeyfileMissing { path: path.to_owned() }),
        Err(source) => return Err(Error::KeyfileRead { path: path.to_owned(), source }),
    };
    if bytes.starts_with(NACL_MAGIC) {
        let password = password.obtain(path)?;
        let plain = decrypt_nacl(&bytes, password.as_bytes()).map_err(|error| match error {
            NaclError::Truncated => Error::KeyfileMalformed { path: path.to_owned(), reason: "truncated $NACL data".to_owned() },
            NaclError::Open => Error::WrongPassword { path: path.to_owned() },
        })?;
        return parse_keyfile(path, &plain);
    }
    if bytes.starts_with(b"$ANSIBLE_VAULT") {
        return Err(Error::KeyfileUnsupportedEncryption { path: path.to_owned(), scheme: "Ansible vault" });
    }
    if bytes.starts_with(b"gAAAAA") {
        return Err(Error::KeyfileUnsupportedEncryption { path: path.to_owned(), scheme: "legacy Fernet" });
    }
    parse_keyfile(path, &bytes)
}

fn parse_keyfile(path: &Path, bytes: &[u8]) -> Result<KeyfileKey, Error> {
    let malformed = |reason: String| Error::KeyfileMalformed { path: path.to_owned(), reason };
    let fields: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|error| malformed(format!("not a JSON object ({})", error.classify_name())))?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let keyed = |error: Error| malformed(error.to_string());
    if let Some(phrase) = text("secretPhrase") {
        return Keypair::from_phrase(phrase).map(|key| KeyfileKey::Secret(Box::new(key))).map_err(keyed);
    }
    for field in ["secretSeed", "privateKey"] {
        if let Some(value) = text(field) {
            let seed = Zeroizing::new(hex::decode(value.trim_start_matches("0x")).map_err(|_| malformed(format!("{field} is not hex")))?);
            return Keypair::from_seed(&seed).map(|key| KeyfileKey::Secret(Box::new(key))).map_err(keyed);
        }
    }
    if let Some(address) = text("ss58Address") {
        return PublicKey::from_ss58(address).map(KeyfileKey::Public).map_err(keyed);
    }
    if let Some(public) = text("publicKey") {
        let bytes: [u8; 32] = hex::decode(public.trim_start_matches("0x"))
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| malformed("publicKey is not 32 hex bytes".to_owned()))?;
        return Ok(KeyfileKey::Public(PublicKey(bytes)));
    }
    Err(malformed("no secretPhrase, secretSeed, privateKey, ss58Address or publicKey".to_owned()))
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum NaclError {
    Truncated,
    Open,
}

fn nacl_key(password: &[u8]) -> Zeroizing<[u8; 32]> {
    let params =
        Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32)).expect("libsodium's sensitive limits are valid Argon2 parameters");
    let mut key = Zeroizing::new([0_u8; 32]);
    Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
        .hash_password_into(password, &NACL_SALT, key.as_mut())
        .expect("a 16-byte salt and a 32-byte output are within Argon2's limits");
    key
}

fn decrypt_nacl(data: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, NaclError> {
    let body = data.strip_prefix(NACL_MAGIC).ok_or(NaclError::Truncated)?;
    if body.len() < NACL_NONCE_LEN + 16 {
        return Err(NaclError::Truncated);
    }
    let (nonce, sealed) = body.split_at(NACL_NONCE_LEN);
    let key = nacl_key(password);
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher.decrypt(Nonce::from_slice(nonce), sealed).map(Zeroizing::new).map_err(|_| NaclError::Open)
}

/// The coldkey's public key from `coldkeypub.txt` (no password needed).
///
/// # Errors
/// As [`read_keyfile`].
pub fn coldkey_public(location: &WalletLocation) -> Result<PublicKey, Error> {
    read_keyfile(&location.coldkeypub_path(), &PasswordSource::none()).map(|key| key.public_key())
}

/// The hotkey's public key: from `<hotkey>pub.txt` when present, else from the hotkey file
/// (decrypting it with `password` if it is encrypted).
///
/// # Errors
/// As [`read_keyfile`].
pub fn hotkey_public(location: &WalletLocation, password: &PasswordSource) -> Result<PublicKey, Error> {
    match read_keyfile(&location.hotkeypub_path(), &PasswordSource::none()) {
        Ok(key) => Ok(key.public_key()),
        Err(Error::KeyfileMissing { .. }) => read_keyfile(&location.hotkey_path(), password).map(|key| key.public_key()),
        Err(other) => Err(other),
    }
}

/// The hotkey pair (for signing results, weights and commitments).
///
/// # Errors
/// As [`read_keyfile`], and [`Error::NoSecretKey`] for a hotkey file without a secret.
pub fn hotkey(location: &WalletLocation, password: &PasswordSource) -> Result<Keypair, Error> {
    secret(&location.hotkey_path(), password)
}

/// The coldkey pair (decrypting `coldkey` with `password`).
///
/// # Errors
/// As [`read_keyfile`], and [`Error::NoSecretKey`] for a coldkey file without a secret.
pub fn coldkey(location: &WalletLocation, password: &PasswordSource) -> Result<Keypair, Error> {
    secret(&location.coldkey_path(), password)
}

fn secret(path: &Path, password: &PasswordSource) -> Result<Keypair, Error> {
    match read_keyfile(path, password)? {
        KeyfileKey::Secret(keypair) => Ok(*keypair),
        KeyfileKey::Public(_) => Err(Error::NoSecretKey { path: path.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_env_var_names_and_values_follow_bittensor_wallet() {
        use base64::Engine as _;
        let name = password_env_var(Path::new("/home/u/.bittensor/wallets/my.w/coldkey"));
        assert_eq!(name, "BT_PW__HOME_U__BITTENSOR_WALLETS_MY_W_COLDKEY");
        // What bittensor-wallet's save_password_to_env stores: base64(password XOR name).
        let obfuscated: Vec<u8> = "pw é".bytes().zip(name.bytes().cycle()).map(|(p, k)| p ^ k).collect();
        let value = base64::engine::general_purpose::STANDARD.encode(obfuscated);
        assert_eq!(decode_env_password(&name, &value).expect("decodes").as_str(), "pw é");
        assert!(decode_env_password(&name, "not base64!").is_err());
        let source = PasswordSource::given("general".into()).with_file_password(PathBuf::from("/k"), Zeroizing::new("specific".into()));
        assert_eq!(source.obtain(Path::new("/k")).expect("per file").as_str(), "specific");
        assert_eq!(source.obtain(Path::new("/other")).expect("general").as_str(), "general");
    }

    const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";
    const DEV_SEED: &str = "0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";

    fn location(dir: &Path) -> WalletLocation {
        WalletLocation { path: dir.to_owned(), name: "cold".into(), hotkey: "hot".into() }
    }

    fn write(path: &Path, contents: &[u8]) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    #[test]
    fn wallet_plain_hotkey_and_coldkeypub_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wallet = location(dir.path());
        write(
            &wallet.hotkey_path(),
            format!(r#"{{"secretSeed": "{DEV_SEED}", "ss58Address": "ignored when a secret is present"}}"#).as_bytes(),
        );
        write(&wallet.coldkeypub_path(), format!(r#"{{"ss58Address": "{DEV_SS58}"}}"#).as_bytes());
        assert_eq!(hotkey(&wallet, &PasswordSource::none()).expect("hotkey").public_key().to_ss58(), DEV_SS58);
        assert_eq!(hotkey_public(&wallet, &PasswordSource::none()).expect("public").to_ss58(), DEV_SS58);
        assert_eq!(coldkey_public(&wallet).expect("coldkeypub").to_ss58(), DEV_SS58);
        assert!(matches!(coldkey(&wallet, &PasswordSource::none()), Err(Error::KeyfileMissing { .. })));
    }

    #[test]
    fn wallet_bad_keyfiles_give_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wallet = location(dir.path());
        write(&wallet.hotkey_path(), b"not json");
        assert!(matches!(hotkey(&wallet, &PasswordSource::none()), Err(Error::KeyfileMalformed { .. })));
        write(&wallet.hotkey_path(), br#"{"ss58Address": "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"}"#);
        assert!(matches!(hotkey(&wallet, &PasswordSource::none()), Err(Error::NoSecretKey { .. })));
        write(&wallet.hotkey_path(), b"$ANSIBLE_VAULT;1.1;AES256\n...");
        assert!(matches!(hotkey(&wallet, &PasswordSource::none()), Err(Error::KeyfileUnsupportedEncryption { .. })));
        write(&wallet.hotkey_path(), b"$NACL");
        assert!(matches!(hotkey(&wallet, &PasswordSource::none()), Err(Error::PasswordUnavailable { .. })));
        assert!(matches!(hotkey(&wallet, &PasswordSource::given("x".into())), Err(Error::KeyfileMalformed { .. })));
        let error = hotkey(&location(&dir.path().join("nowhere")), &PasswordSource::none()).expect_err("missing");
        assert!(error.is_user_input() && error.to_string().starts_with("no keyfile at "), "{error}");
    }

    #[test]
    fn password_source_debug_hides_the_password() {
        let text = format!("{:?}", PasswordSource::given("hunter22".into()));
        assert!(!text.contains("hunter22"), "{text}");
    }
}
