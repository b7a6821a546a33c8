//! The one preamble every signed call shares: at the node's latest block, a mortal era of 32
//! blocks (as bittensor), optionally the nonce from the node's pool, the hotkey's signature,
//! and the RPC errors mapped to [`Error`].

use subxt::client::OnlineClientAtBlockImpl;
use subxt::config::substrate::{SubstrateConfig, SubstrateExtrinsicParamsBuilder};
use subxt::tx::{Payload, Signer, SubmittableTransaction};
use subxt::utils::{AccountId32, MultiSignature};

use super::Error;
use super::client::{Connection, extrinsic_error};
use super::signing::Keypair;

/// Blocks a transaction stays valid, as bittensor's `era={"period": 32}`.
const MORTAL_PERIOD: u64 = 32;

/// A signed transaction bound to the connection it was built on.
pub(super) type SignedTransaction = SubmittableTransaction<SubstrateConfig, OnlineClientAtBlockImpl<SubstrateConfig>>;

/// subxt's view of an `af` key pair.
struct HotkeySigner<'a>(&'a Keypair);

impl Signer<SubstrateConfig> for HotkeySigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.public_key().0)
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(signer_payload))
    }
}

/// Where the nonce comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NonceSource {
    /// subxt's default: `AccountNonceApi_account_nonce` at the block (ignores the pool).
    Runtime,
    /// `system_accountNextIndex`, which counts pooled transactions, so a retry while an
    /// earlier submission is still pooled does not reuse its nonce.
    NodePool,
}

/// A call failing while `what`, on `connection`'s endpoint.
pub(super) fn rpc_error(what: &'static str, connection: &Connection, error: impl Into<subxt::Error>) -> Error {
    Error::Rpc { what, endpoint: connection.endpoint.clone(), source: Box::new(error.into()) }
}

/// Signs `payload` with `hotkey` at the node's latest block; returns the transaction and the
/// nonce taken from the pool (`None` with [`NonceSource::Runtime`]).
pub(super) async fn sign<Call: Payload>(
    connection: &Connection,
    what: &'static str,
    payload: &Call,
    hotkey: &Keypair,
    nonce: NonceSource,
) -> Result<(SignedTransaction, Option<u64>), Error> {
    let pooled = match nonce {
        NonceSource::Runtime => None,
        NonceSource::NodePool => {
            let account = AccountId32(hotkey.public_key().0);
            Some(connection.rpc.system_account_next_index(&account).await.map_err(|error| rpc_error(what, connection, error))?)
        }
    };
    let at = connection.client.at_current_block().await.map_err(|error| rpc_error(what, connection, error))?;
    let mut params = SubstrateExtrinsicParamsBuilder::<SubstrateConfig>::new().mortal(MORTAL_PERIOD);
    if let Some(nonce) = pooled {
        params = params.nonce(nonce);
    }
    let signed = at
        .transactions()
        .create_signed(payload, &HotkeySigner(hotkey), params.build())
        .await
        .map_err(|error| extrinsic_error(what, &connection.endpoint, error))?;
    Ok((signed, pooled))
}
