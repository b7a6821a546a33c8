//! The runtime metadata the node serves: finney's V16 metadata as embedded, and the V15 and
//! V14 forms of the same runtime that older clients ask for (`Metadata_metadata_at_version(15)`
//! for the Python SDK's decoder, `state_getMetadata` for V14). The three share one type
//! registry, so anything encoded against one decodes against the others.

use scale_info::form::PortableForm;
use subxt::ext::codec::{Decode as _, Encode as _};
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed, v14, v15, v16};

/// Finney's runtime metadata (`node-subtensor` spec 393, SCALE `RuntimeMetadataPrefixed` V16),
/// taken from a public copy of the network's metadata; the production client never reads it:
/// it fetches metadata from whatever node it connects to.
pub const FINNEY_METADATA: &[u8] = include_bytes!("../finney.scale");

/// The metadata of the node's runtime in every version it serves.
#[derive(Debug, Clone)]
pub struct RuntimeMetadataSet {
    /// SCALE `RuntimeMetadataPrefixed` V16, as served for `Metadata_metadata_at_version(16)`.
    pub v16: Vec<u8>,
    /// The same runtime as V15.
    pub v15: Vec<u8>,
    /// The same runtime as V14 (`state_getMetadata`, `Metadata_metadata`).
    pub v14: Vec<u8>,
    /// The decoded V16 metadata.
    pub decoded: v16::RuntimeMetadataV16,
    /// `(blake2_64 of the trait name, version)` of every runtime API, for the runtime version.
    pub apis: Vec<([u8; 8], u32)>,
}

/// Why metadata could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Not SCALE `RuntimeMetadataPrefixed`.
    #[error("the runtime metadata does not decode: {0}")]
    Decode(String),
    /// A version other than 16.
    #[error("the runtime metadata is version {0}; the node serves V16 metadata")]
    Version(u32),
}

impl RuntimeMetadataSet {
    /// Finney's metadata.
    ///
    /// # Panics
    /// Never: the embedded file is checked by a unit test.
    #[must_use]
    pub fn finney() -> Self {
        Self::from_v16_bytes(FINNEY_METADATA).expect("the embedded finney metadata is V16")
    }

    /// Metadata from SCALE `RuntimeMetadataPrefixed` V16 bytes.
    ///
    /// # Errors
    /// Bytes that are not V16 metadata.
    pub fn from_v16_bytes(bytes: &[u8]) -> Result<Self, MetadataError> {
        let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).map_err(|e| MetadataError::Decode(e.to_string()))?;
        let RuntimeMetadata::V16(decoded) = prefixed.1 else { return Err(MetadataError::Version(prefixed.1.version())) };
        let v15 = RuntimeMetadataPrefixed::from(to_v15(&decoded)).encode();
        let v14 = RuntimeMetadataPrefixed::from(to_v14(&decoded)).encode();
        let apis = decoded.apis.iter().map(|api| (api_id(&api.name), api.version.0)).collect();
        Ok(Self { v16: bytes.to_vec(), v15, v14, decoded, apis })
    }

    /// The metadata of `version` (14, 15 or 16), if served.
    #[must_use]
    pub fn at_version(&self, version: u32) -> Option<&[u8]> {
        match version {
            14 => Some(&self.v14),
            15 => Some(&self.v15),
            16 => Some(&self.v16),
            _ => None,
        }
    }
}

/// A runtime API's id: the first 8 bytes of blake2b-64 of its trait name, as `sp_api` derives it.
fn api_id(name: &str) -> [u8; 8] {
    sp_crypto_hashing::blake2_64(name.as_bytes())
}

/// The id of the first type whose path is `path`.
fn type_by_path(metadata: &v16::RuntimeMetadataV16, path: &[&str]) -> Option<u32> {
    metadata.types.types.iter().find(|ty| ty.ty.path.segments.iter().map(String::as_str).eq(path.iter().copied())).map(|ty| ty.id)
}

/// The `UncheckedExtrinsic` type and its `Extra` parameter (the tuple of signed extensions).
fn extrinsic_types(metadata: &v16::RuntimeMetadataV16) -> (u32, u32) {
    let extrinsic = metadata
        .types
        .types
        .iter()
        .find(|ty| ty.ty.path.segments.last().is_some_and(|name| name == "UncheckedExtrinsic"))
        .map(|ty| (ty.id, ty.ty.type_params.iter().find(|param| param.name == "Extra").and_then(|param| param.ty).map(|t| t.id)));
    match extrinsic {
        Some((id, Some(extra))) => (id, extra),
        Some((id, None)) => (id, metadata.extrinsic.call_ty.id),
        None => (metadata.extrinsic.call_ty.id, metadata.extrinsic.call_ty.id),
    }
}

/// The `Runtime` type (V14/V15 name it; V16 does not).
fn runtime_type(metadata: &v16::RuntimeMetadataV16) -> u32 {
    type_by_path(metadata, &["node_subtensor_runtime", "Runtime"])
        .or_else(|| metadata.types.types.iter().find(|ty| ty.ty.path.segments.last().is_some_and(|n| n == "Runtime")).map(|ty| ty.id))
        .unwrap_or(0)
}

/// The version-0 transaction extensions in order, as V14/V15 signed extensions.
fn signed_extensions(metadata: &v16::RuntimeMetadataV16) -> Vec<v15::SignedExtensionMetadata<PortableForm>> {
    let all = &metadata.extrinsic.transaction_extensions;
    let order: Vec<usize> = metadata
        .extrinsic
        .transaction_extensions_by_version
        .get(&0)
        .map_or_else(|| (0..all.len()).collect(), |indices| indices.iter().filter_map(|index| usize::try_from(index.0).ok()).collect());
    order
        .into_iter()
        .filter_map(|index| all.get(index))
        .map(|ext| v15::SignedExtensionMetadata { identifier: ext.identifier.clone(), ty: ext.ty, additional_signed: ext.implicit })
        .collect()
}

fn storage_v14(storage: &v16::PalletStorageMetadata<PortableForm>) -> v14::PalletStorageMetadata<PortableForm> {
    v14::PalletStorageMetadata {
        prefix: storage.prefix.clone(),
        entries: storage
            .entries
            .iter()
            .map(|entry| v14::StorageEntryMetadata {
                name: entry.name.clone(),
                modifier: entry.modifier.clone(),
                ty: entry.ty.clone(),
                default: entry.default.clone(),
                docs: entry.docs.clone(),
            })
            .collect(),
    }
}

/// The parts V14 and V15 pallets share, from a V16 pallet.
struct PalletParts {
    storage: Option<v14::PalletStorageMetadata<PortableForm>>,
    calls: Option<v14::PalletCallMetadata<PortableForm>>,
    event: Option<v14::PalletEventMetadata<PortableForm>>,
    constants: Vec<v14::PalletConstantMetadata<PortableForm>>,
    error: Option<v14::PalletErrorMetadata<PortableForm>>,
}

fn pallet_parts(pallet: &v16::PalletMetadata<PortableForm>) -> PalletParts {
    PalletParts {
        storage: pallet.storage.as_ref().map(storage_v14),
        calls: pallet.calls.as_ref().map(|calls| v14::PalletCallMetadata { ty: calls.ty }),
        event: pallet.event.as_ref().map(|event| v14::PalletEventMetadata { ty: event.ty }),
        constants: pallet
            .constants
            .iter()
            .map(|c| v14::PalletConstantMetadata { name: c.name.clone(), ty: c.ty, value: c.value.clone(), docs: c.docs.clone() })
            .collect(),
        error: pallet.error.as_ref().map(|error| v14::PalletErrorMetadata { ty: error.ty }),
    }
}

fn to_v15(metadata: &v16::RuntimeMetadataV16) -> v15::RuntimeMetadataV15 {
    let (_, extra_ty) = extrinsic_types(metadata);
    let pallets = metadata
        .pallets
        .iter()
        .map(|pallet| {
            let parts = pallet_parts(pallet);
            v15::PalletMetadata {
                name: pallet.name.clone(),
                storage: parts.storage,
                calls: parts.calls,
                event: parts.event,
                constants: parts.constants,
                error: parts.error,
                index: pallet.index,
                docs: pallet.docs.clone(),
            }
        })
        .collect();
    let apis = metadata
        .apis
        .iter()
        .map(|api| v15::RuntimeApiMetadata {
            name: api.name.clone(),
            methods: api
                .methods
                .iter()
                .map(|method| v15::RuntimeApiMethodMetadata {
                    name: method.name.clone(),
                    inputs: method.inputs.clone(),
                    output: method.output,
                    docs: method.docs.clone(),
                })
                .collect(),
            docs: api.docs.clone(),
        })
        .collect();
    v15::RuntimeMetadataV15 {
        types: metadata.types.clone(),
        pallets,
        extrinsic: v15::ExtrinsicMetadata {
            version: metadata.extrinsic.versions.iter().copied().min().unwrap_or(4),
            address_ty: metadata.extrinsic.address_ty,
            call_ty: metadata.extrinsic.call_ty,
            signature_ty: metadata.extrinsic.signature_ty,
            extra_ty: extra_ty.into(),
            signed_extensions: signed_extensions(metadata),
        },
        ty: runtime_type(metadata).into(),
        apis,
        outer_enums: metadata.outer_enums.clone(),
        custom: metadata.custom.clone(),
    }
}

fn to_v14(metadata: &v16::RuntimeMetadataV16) -> v14::RuntimeMetadataV14 {
    let (extrinsic_ty, _) = extrinsic_types(metadata);
    let pallets = metadata
        .pallets
        .iter()
        .map(|pallet| {
            let parts = pallet_parts(pallet);
            v14::PalletMetadata {
                name: pallet.name.clone(),
                storage: parts.storage,
                calls: parts.calls,
                event: parts.event,
                constants: parts.constants,
                error: parts.error,
                index: pallet.index,
            }
        })
        .collect();
    let signed_extensions = signed_extensions(metadata)
        .into_iter()
        .map(|ext| v14::SignedExtensionMetadata { identifier: ext.identifier, ty: ext.ty, additional_signed: ext.additional_signed })
        .collect();
    v14::RuntimeMetadataV14 {
        types: metadata.types.clone(),
        pallets,
        extrinsic: v14::ExtrinsicMetadata {
            ty: extrinsic_ty.into(),
            version: metadata.extrinsic.versions.iter().copied().min().unwrap_or(4),
            signed_extensions,
        },
        ty: runtime_type(metadata).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finney_converts_to_v15_and_v14_that_decode_with_the_same_pallets() {
        let set = RuntimeMetadataSet::finney();
        for (version, bytes) in [(15, &set.v15), (14, &set.v14)] {
            let decoded = subxt::metadata::Metadata::decode_from(bytes).unwrap_or_else(|e| panic!("V{version} decodes: {e}"));
            let names: Vec<String> = decoded.pallets().map(|p| p.name().to_owned()).collect();
            assert!(names.iter().any(|n| n == "SubtensorModule") && names.iter().any(|n| n == "Commitments"), "V{version}: {names:?}");
            assert!(decoded.pallet_by_name("System").and_then(|p| p.storage()).and_then(|s| s.entry_by_name("Events")).is_some());
        }
        assert!(set.apis.len() > 5, "finney has runtime APIs");
        let signed = signed_extensions(&set.decoded);
        assert!(
            signed.iter().any(|ext| ext.identifier == "CheckMortality"),
            "{:?}",
            signed.iter().map(|e| &e.identifier).collect::<Vec<_>>()
        );
    }
}
