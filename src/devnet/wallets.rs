//! The devnet's accounts: deterministic wallets (the same names give the same keys on every
//! machine, like anvil's dev accounts), written in bittensor's on-disk layout so `af`,
//! `btcli` and the Python SDK all open them. They are public test keys: never fund them on a
//! real network.

use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::chain::signing::Keypair;
use crate::chain::wallet::WalletLocation;

/// The hotkey name every devnet wallet uses.
pub const HOTKEY_NAME: &str = "default";

/// One deterministic wallet: a coldkey and its hotkey.
#[derive(Debug, Clone)]
pub struct DevWallet {
    /// The wallet (coldkey) name, e.g. `validator` or `miner1`.
    pub name: String,
    /// The coldkey's mnemonic.
    pub coldkey_phrase: String,
    /// The hotkey's mnemonic.
    pub hotkey_phrase: String,
    /// The coldkey.
    pub coldkey: Keypair,
    /// The hotkey.
    pub hotkey: Keypair,
}

fn phrase(name: &str, role: &str) -> String {
    let digest = Sha256::digest(format!("af devnet {name} {role}").as_bytes());
    bip39::Mnemonic::from_entropy(&digest[..16]).expect("16 bytes of entropy make a 12-word mnemonic").to_string()
}

impl DevWallet {
    /// The wallet called `name`.
    #[must_use]
    pub fn named(name: &str) -> Self {
        let coldkey_phrase = phrase(name, "coldkey");
        let hotkey_phrase = phrase(name, "hotkey");
        let coldkey = Keypair::from_phrase(&coldkey_phrase).expect("a generated mnemonic is valid");
        let hotkey = Keypair::from_phrase(&hotkey_phrase).expect("a generated mnemonic is valid");
        Self { name: name.to_owned(), coldkey_phrase, hotkey_phrase, coldkey, hotkey }
    }

    /// Where the wallet lives under the wallets directory `path`.
    #[must_use]
    pub fn location(&self, path: &Path) -> WalletLocation {
        WalletLocation { path: path.to_path_buf(), name: self.name.clone(), hotkey: HOTKEY_NAME.to_owned() }
    }

    /// Writes the wallet under `path` as bittensor-wallet does (plaintext keyfiles, mode 0600):
    /// `<name>/coldkey`, `<name>/coldkeypub.txt`, `<name>/hotkeys/default` and
    /// `<name>/hotkeys/defaultpub.txt`.
    ///
    /// # Errors
    /// The files cannot be written.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let location = self.location(path);
        std::fs::create_dir_all(location.wallet_dir().join("hotkeys"))?;
        write_private(&location.coldkey_path(), &keyfile(&self.coldkey, Some(&self.coldkey_phrase)))?;
        write_private(&location.coldkeypub_path(), &keyfile(&self.coldkey, None))?;
        write_private(&location.hotkey_path(), &keyfile(&self.hotkey, Some(&self.hotkey_phrase)))?;
        write_private(&location.hotkeypub_path(), &keyfile(&self.hotkey, None))
    }
}

/// A keyfile's JSON: the public fields, plus the secret ones when `phrase` is given.
fn keyfile(key: &Keypair, phrase: Option<&str>) -> String {
    let public = key.public_key();
    let mut value = json!({
        "accountId": public.to_hex(),
        "publicKey": public.to_hex(),
        "ss58Address": public.to_ss58(),
    });
    if let Some(phrase) = phrase {
        value["secretPhrase"] = json!(phrase);
        value["privateKey"] = json!(format!("0x{}", hex::encode(key.secret_bytes().as_slice())));
    }
    value.to_string()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::wallet::{PasswordSource, read_keyfile};

    #[test]
    fn dev_wallets_are_deterministic_and_open_with_the_wallet_reader() {
        let a = DevWallet::named("miner1");
        assert_eq!(a.hotkey.public_key(), DevWallet::named("miner1").hotkey.public_key());
        assert_ne!(a.hotkey.public_key(), DevWallet::named("miner2").hotkey.public_key());
        assert_ne!(a.hotkey.public_key(), a.coldkey.public_key());
        let dir = tempfile::tempdir().expect("tempdir");
        a.write(dir.path()).expect("write");
        let location = a.location(dir.path());
        let hotkey = read_keyfile(&location.hotkey_path(), &PasswordSource::none()).expect("hotkey opens");
        assert_eq!(hotkey.public_key(), a.hotkey.public_key());
        let coldkeypub = read_keyfile(&location.coldkeypub_path(), &PasswordSource::none()).expect("coldkeypub opens");
        assert_eq!(coldkeypub.public_key(), a.coldkey.public_key());
    }
}
