//! The JSON-RPC surface: the legacy methods subxt's `LegacyBackend` uses, the standard
//! Substrate methods third-party clients (the Python `bittensor` SDK through
//! `async-substrate-interface`) call, and three `devnet_*` controls in anvil's spirit.

use std::sync::{Arc, Mutex};

use jsonrpsee::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{Value, json};

use super::chain::{Chain, Rejection, SPEC_VERSION, TRANSACTION_VERSION, block_hash};

/// The chain behind the RPC methods.
pub type Shared = Arc<Mutex<Chain>>;

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn error(rejection: Rejection) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(rejection.code, rejection.message, None::<()>)
}

fn params_error(message: &str) -> ErrorObjectOwned {
    error(Rejection::params(message))
}

fn parse_hex(value: &Value) -> Result<Vec<u8>, ErrorObjectOwned> {
    let text = value.as_str().ok_or_else(|| params_error("expected a hex string"))?;
    hex::decode(text.trim_start_matches("0x")).map_err(|_| params_error("invalid hex"))
}

/// The optional block-hash parameter at `index`.
fn at_param(list: &[Value], index: usize) -> Result<Option<Vec<u8>>, ErrorObjectOwned> {
    match list.get(index) {
        None | Some(Value::Null) => Ok(None),
        Some(hash) => parse_hex(hash).map(Some),
    }
}

fn params_list(params: &Params<'_>) -> Vec<Value> {
    params.parse::<Vec<Value>>().unwrap_or_default()
}

fn lock(chain: &Shared) -> std::sync::MutexGuard<'_, Chain> {
    chain.lock().expect("the chain lock is never held across a panic")
}

/// A header as JSON.
#[must_use]
pub fn header_json(number: u64) -> Value {
    let parent = if number == 0 { [0; 32] } else { block_hash(number - 1) };
    json!({
        "parentHash": hex0x(&parent),
        "number": format!("0x{number:x}"),
        "stateRoot": hex0x(&[0; 32]),
        "extrinsicsRoot": hex0x(&[0; 32]),
        "digest": {"logs": []},
    })
}

fn runtime_version_json(chain: &Chain) -> Value {
    let apis: Vec<Value> = chain.metadata.apis.iter().map(|(id, version)| json!([hex0x(id), version])).collect();
    json!({
        "specName": "node-subtensor", "implName": "node-subtensor", "authoringVersion": 1,
        "specVersion": SPEC_VERSION, "implVersion": 1, "apis": apis,
        "transactionVersion": TRANSACTION_VERSION, "systemVersion": 1, "stateVersion": 1,
    })
}

/// Registers a plain method whose handler gets the parameter list and the locked chain.
fn method(
    module: &mut RpcModule<Shared>,
    name: &'static str,
    handler: impl Fn(&[Value], &mut Chain) -> Result<Value, ErrorObjectOwned> + Send + Sync + Clone + 'static,
) {
    module
        .register_method(name, move |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let list = params_list(&params);
            let mut chain = lock(chain);
            handler(&list, &mut chain)
        })
        .expect("each method name is registered once");
}

fn storage_keys(chain: &Chain, prefix: &[u8], start: Option<&[u8]>, count: usize) -> Value {
    let from = match start {
        Some(start) if start > prefix => start.to_vec(),
        _ => prefix.to_vec(),
    };
    let keys: Vec<Value> = chain
        .storage
        .range(from..)
        .map(|(key, _)| key)
        .skip_while(|key| start.is_some_and(|start| key.as_slice() == start))
        .take_while(|key| key.starts_with(prefix))
        .take(count)
        .map(|key| json!(hex0x(key)))
        .collect();
    Value::Array(keys)
}

fn register_state(module: &mut RpcModule<Shared>) {
    method(module, "state_call", |list, chain| {
        let method = list.first().and_then(Value::as_str).ok_or_else(|| params_error("missing method"))?;
        let data = list.get(1).map(parse_hex).transpose()?.unwrap_or_default();
        chain.at(at_param(list, 2)?.as_deref()).map_err(error)?;
        Ok(json!(hex0x(&chain.state_call(method, &data).map_err(error)?)))
    });
    for name in ["state_getStorage", "state_getStorageAt"] {
        method(module, name, |list, chain| {
            let key = parse_hex(list.first().ok_or_else(|| params_error("missing key"))?)?;
            let at = chain.at(at_param(list, 1)?.as_deref()).map_err(error)?;
            Ok(chain.value_at(&key, at).map_or(Value::Null, |value| json!(hex0x(&value))))
        });
    }
    method(module, "state_getKeysPaged", |list, chain| {
        let prefix = parse_hex(list.first().ok_or_else(|| params_error("missing prefix"))?)?;
        let count = list.get(1).and_then(Value::as_u64).ok_or_else(|| params_error("missing count"))?;
        let start = at_param(list, 2)?;
        chain.at(at_param(list, 3)?.as_deref()).map_err(error)?;
        Ok(storage_keys(chain, &prefix, start.as_deref(), usize::try_from(count).unwrap_or(usize::MAX).min(1000)))
    });
    method(module, "state_getKeys", |list, chain| {
        let prefix = parse_hex(list.first().ok_or_else(|| params_error("missing prefix"))?)?;
        chain.at(at_param(list, 1)?.as_deref()).map_err(error)?;
        Ok(storage_keys(chain, &prefix, None, usize::MAX))
    });
    method(module, "state_queryStorageAt", |list, chain| {
        let keys = list.first().and_then(Value::as_array).ok_or_else(|| params_error("missing keys"))?;
        let at = chain.at(at_param(list, 1)?.as_deref()).map_err(error)?;
        let changes: Vec<Value> = keys
            .iter()
            .map(|key| {
                let bytes = parse_hex(key)?;
                Ok(json!([hex0x(&bytes), chain.value_at(&bytes, at).map_or(Value::Null, |value| json!(hex0x(&value)))]))
            })
            .collect::<Result<_, ErrorObjectOwned>>()?;
        Ok(json!([{"block": hex0x(&block_hash(at)), "changes": changes}]))
    });
    for name in ["state_getRuntimeVersion", "chain_getRuntimeVersion"] {
        method(module, name, |_, chain| Ok(runtime_version_json(chain)));
    }
    method(module, "state_getMetadata", |list, chain| {
        chain.at(at_param(list, 0)?.as_deref()).map_err(error)?;
        Ok(json!(hex0x(&chain.metadata.v14)))
    });
}

fn register_chain(module: &mut RpcModule<Shared>) {
    method(module, "chain_getBlockHash", |list, chain| {
        let number = match list.first() {
            None | Some(Value::Null) => chain.best(),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| params_error("bad block number"))?,
            Some(Value::String(text)) => {
                u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|_| params_error("bad block number"))?
            }
            Some(_) => return Err(params_error("bad block number")),
        };
        Ok(if number <= chain.best() { json!(hex0x(&block_hash(number))) } else { Value::Null })
    });
    for name in ["chain_getFinalizedHead", "chain_getFinalisedHead", "chain_getHead"] {
        method(module, name, |_, chain| Ok(json!(hex0x(&block_hash(chain.best())))));
    }
    method(module, "chain_getHeader", |list, chain| match at_param(list, 0)? {
        None => Ok(header_json(chain.best())),
        Some(hash) => Ok(chain.at(Some(&hash)).map_or(Value::Null, header_json)),
    });
    method(module, "chain_getBlock", |list, chain| {
        let number = chain.at(at_param(list, 0)?.as_deref()).map_err(error)?;
        let extrinsics: Vec<Value> = chain.extrinsics_of(number).iter().map(|x| json!(hex0x(x))).collect();
        Ok(json!({"block": {"header": header_json(number), "extrinsics": extrinsics}, "justifications": null}))
    });
    for (subscribe, notification, unsubscribe) in [
        ("chain_subscribeNewHeads", "chain_newHead", "chain_unsubscribeNewHeads"),
        ("chain_subscribeFinalizedHeads", "chain_finalizedHead", "chain_unsubscribeFinalizedHeads"),
        ("chain_subscribeAllHeads", "chain_allHead", "chain_unsubscribeAllHeads"),
    ] {
        module
            .register_subscription(subscribe, notification, unsubscribe, |_, pending, chain, _| async move {
                let (mut heads, best) = {
                    let chain = lock(&chain);
                    (chain.heads.subscribe(), chain.best())
                };
                let Ok(sink) = pending.accept().await else { return };
                // Substrate sends the current head first.
                let mut next = Some(best);
                loop {
                    let number = match next.take() {
                        Some(number) => number,
                        None => match heads.recv().await {
                            Ok(number) => number,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        },
                    };
                    let Ok(message) = serde_json::value::to_raw_value(&header_json(number)) else { return };
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
            })
            .expect("each subscription is registered once");
    }
}

fn register_author(module: &mut RpcModule<Shared>) {
    method(module, "author_submitExtrinsic", |list, chain| {
        let bytes = parse_hex(list.first().ok_or_else(|| params_error("missing extrinsic"))?)?;
        let extrinsic = chain.validate(&bytes).map_err(error)?;
        if chain.refuse_submissions > 0 {
            chain.refuse_submissions -= 1;
            return Err(ErrorObjectOwned::owned(1014, "Priority is too low: (18446744073709551615 vs 18446744073709551615)", None::<()>));
        }
        chain.pool.push((extrinsic, None));
        Ok(json!(hex0x(&sp_crypto_hashing::blake2_256(&bytes))))
    });
    method(module, "author_pendingExtrinsics", |_, chain| {
        Ok(Value::Array(chain.pool.iter().map(|(x, _)| json!(hex0x(&x.bytes))).collect()))
    });
    for name in ["system_accountNextIndex", "account_nextIndex"] {
        method(module, name, |list, chain| {
            let address = list.first().and_then(Value::as_str).ok_or_else(|| params_error("missing account"))?;
            let account = crate::chain::ss58::decode(address).map_err(|_| params_error("bad account"))?;
            Ok(json!(chain.next_nonce(&account)))
        });
    }
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, chain, _| async move {
                let included = {
                    let mut chain = lock(&chain);
                    let validated = params_list(&params)
                        .first()
                        .ok_or_else(|| params_error("missing extrinsic"))
                        .and_then(parse_hex)
                        .and_then(|bytes| chain.validate(&bytes).map_err(error));
                    validated.map(|extrinsic| {
                        let (sender, receiver) = tokio::sync::oneshot::channel();
                        chain.pool.push((extrinsic, Some(sender)));
                        receiver
                    })
                };
                let receiver = match included {
                    Ok(receiver) => receiver,
                    Err(rejection) => {
                        pending.reject(rejection).await;
                        return;
                    }
                };
                let Ok(sink) = pending.accept().await else { return };
                let send = |value: Value| {
                    let sink = sink.clone();
                    async move { sink.send(serde_json::value::to_raw_value(&value).expect("a JSON value serialises")).await.is_ok() }
                };
                if !send(json!("ready")).await {
                    return;
                }
                let Ok(block) = receiver.await else { return };
                let hash = hex0x(&block_hash(block));
                if send(json!({"inBlock": hash})).await {
                    let _ = send(json!({"finalized": hash})).await;
                }
            },
        )
        .expect("registered once");
}

fn register_system(module: &mut RpcModule<Shared>) {
    method(module, "system_chain", |_, _| Ok(json!("Bittensor")));
    method(module, "system_name", |_, _| Ok(json!("af-devnet")));
    method(module, "system_version", |_, _| Ok(json!(env!("CARGO_PKG_VERSION"))));
    method(module, "system_properties", |_, _| Ok(json!({"ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO"})));
    method(module, "system_health", |_, _| Ok(json!({"peers": 0, "isSyncing": false, "shouldHavePeers": false})));
}

/// `devnet_pause` / `devnet_resume` stop and restart block production; `devnet_mine [n]`
/// produces `n` blocks at once (default 1) and returns the new best block.
fn register_controls(module: &mut RpcModule<Shared>) {
    method(module, "devnet_pause", |_, chain| {
        chain.paused = true;
        Ok(json!(chain.best()))
    });
    method(module, "devnet_resume", |_, chain| {
        chain.paused = false;
        Ok(json!(chain.best()))
    });
    method(module, "devnet_mine", |list, chain| {
        let count = list.first().map_or(Some(1), Value::as_u64).ok_or_else(|| params_error("expected a block count"))?;
        if count > 100_000 {
            return Err(params_error("at most 100000 blocks at once"));
        }
        for _ in 0..count {
            chain.produce_block();
        }
        Ok(json!(chain.best()))
    });
}

/// The RPC module over `chain`, with `rpc_methods` listing every method.
#[must_use]
pub fn module(chain: Shared) -> RpcModule<Shared> {
    let mut module = RpcModule::new(chain);
    register_state(&mut module);
    register_chain(&mut module);
    register_author(&mut module);
    register_system(&mut module);
    register_controls(&mut module);
    let mut names: Vec<String> = module.method_names().map(str::to_owned).collect();
    names.push("rpc_methods".to_owned());
    names.sort();
    module
        .register_method("rpc_methods", move |_, _, _| -> Result<Value, ErrorObjectOwned> { Ok(json!({"version": 1, "methods": names})) })
        .expect("registered once");
    module
}
