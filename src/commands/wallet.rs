//! `af wallet show`: the coldkey and hotkey addresses of the configured wallet.

use anyhow::Context as _;
use serde::Serialize;

use crate::chain::wallet;
use crate::cli::{WalletCommand, WalletShowArgs};
use crate::error::ExitStatus;
use crate::output::{Printer, plain_table};
use crate::settings::WalletShowSettings;

/// What `af wallet show --json` prints.
#[derive(Debug, Serialize)]
struct WalletShow {
    coldkey: String,
    hotkey: String,
    wallet_name: String,
    hotkey_name: String,
    path: String,
}

/// Runs `af wallet ...`.
///
/// # Errors
/// Bad flags, or a wallet whose keyfiles are missing or unreadable.
pub fn run(command: &WalletCommand, printer: Printer) -> anyhow::Result<ExitStatus> {
    match command {
        WalletCommand::Show(args) => show(args, printer),
    }
}

fn show(args: &WalletShowArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let settings = WalletShowSettings::resolve(args)?;
    let location = &settings.wallet.location;
    let context = || format!("failed to read wallet {:?} in {}", location.name, location.path.display());
    let coldkey = wallet::coldkey_public(location).with_context(context)?;
    let hotkey = wallet::hotkey_public(location, &settings.wallet.password).with_context(context)?;
    let shown = WalletShow {
        coldkey: coldkey.to_ss58(),
        hotkey: hotkey.to_ss58(),
        wallet_name: location.name.clone(),
        hotkey_name: location.hotkey.clone(),
        path: location.wallet_dir().display().to_string(),
    };
    if settings.json {
        printer.json(&shown).context("failed to write to stdout")?;
    } else {
        let header = ["Key", "Name", "SS58 address"].map(str::to_owned).to_vec();
        let rows = vec![
            vec!["coldkey".to_owned(), shown.wallet_name.clone(), shown.coldkey.clone()],
            vec!["hotkey".to_owned(), shown.hotkey_name.clone(), shown.hotkey.clone()],
        ];
        let text = format!("Wallet {}\n{}", shown.path, plain_table(&header, &rows));
        printer.raw(&text).context("failed to write to stdout")?;
    }
    Ok(ExitStatus::Success)
}
