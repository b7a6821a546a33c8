//! Storage keys the way FRAME builds them: `twox128(pallet) ++ twox128(item)`, then each map
//! key through the hasher the runtime's metadata names for it.

use std::collections::HashMap;

use subxt::ext::frame_metadata::v16::{RuntimeMetadataV16, StorageEntryType, StorageHasher};

/// `twox128(pallet) ++ twox128(item)`.
#[must_use]
pub fn storage_prefix(pallet: &str, item: &str) -> Vec<u8> {
    [sp_crypto_hashing::twox_128(pallet.as_bytes()), sp_crypto_hashing::twox_128(item.as_bytes())].concat()
}

/// One map key through `hasher`.
fn hash_key(hasher: &StorageHasher, key: &[u8]) -> Vec<u8> {
    match hasher {
        StorageHasher::Blake2_128 => sp_crypto_hashing::blake2_128(key).to_vec(),
        StorageHasher::Blake2_256 => sp_crypto_hashing::blake2_256(key).to_vec(),
        StorageHasher::Blake2_128Concat => [sp_crypto_hashing::blake2_128(key).as_slice(), key].concat(),
        StorageHasher::Twox128 => sp_crypto_hashing::twox_128(key).to_vec(),
        StorageHasher::Twox256 => sp_crypto_hashing::twox_256(key).to_vec(),
        StorageHasher::Twox64Concat => [sp_crypto_hashing::twox_64(key).as_slice(), key].concat(),
        StorageHasher::Identity => key.to_vec(),
    }
}

/// How many bytes of a hashed key precede the key itself (0 for hashers that do not keep it).
fn hash_prefix_len(hasher: &StorageHasher) -> Option<usize> {
    match hasher {
        StorageHasher::Blake2_128Concat => Some(16),
        StorageHasher::Twox64Concat => Some(8),
        StorageHasher::Identity => Some(0),
        _ => None,
    }
}

/// The hashers of every storage map in a runtime, by `(pallet, item)`.
#[derive(Debug, Clone, Default)]
pub struct StorageLayout {
    hashers: HashMap<(String, String), Vec<StorageHasher>>,
}

impl StorageLayout {
    /// Reads the hashers from `metadata`.
    #[must_use]
    pub fn from_metadata(metadata: &RuntimeMetadataV16) -> Self {
        let mut hashers = HashMap::new();
        for pallet in &metadata.pallets {
            let Some(storage) = &pallet.storage else { continue };
            for entry in &storage.entries {
                let list = match &entry.ty {
                    StorageEntryType::Plain(_) => Vec::new(),
                    StorageEntryType::Map { hashers, .. } => hashers.clone(),
                };
                hashers.insert((pallet.name.clone(), entry.name.clone()), list);
            }
        }
        Self { hashers }
    }

    /// The key of `pallet.item` at the SCALE-encoded map keys `keys` (none for a plain value,
    /// fewer than the map has for a prefix); `None` when the runtime has no such item or it
    /// has fewer keys than given.
    #[must_use]
    pub fn key(&self, pallet: &str, item: &str, keys: &[&[u8]]) -> Option<Vec<u8>> {
        let hashers = self.hashers.get(&(pallet.to_owned(), item.to_owned()))?;
        if keys.len() > hashers.len() {
            return None;
        }
        let mut out = storage_prefix(pallet, item);
        for (hasher, key) in hashers.iter().zip(keys) {
            out.extend(hash_key(hasher, key));
        }
        Some(out)
    }

    /// The encoded map keys of a full storage key of `pallet.item`, when every hasher keeps
    /// its key (`Identity`, `*Concat`) and the keys have the given byte lengths.
    #[must_use]
    pub fn split<'k>(&self, pallet: &str, item: &str, key: &'k [u8], lengths: &[usize]) -> Option<Vec<&'k [u8]>> {
        let hashers = self.hashers.get(&(pallet.to_owned(), item.to_owned()))?;
        let mut rest = key.strip_prefix(storage_prefix(pallet, item).as_slice())?;
        let mut out = Vec::new();
        for (hasher, length) in hashers.iter().zip(lengths) {
            rest = rest.get(hash_prefix_len(hasher)?..)?;
            let (head, tail) = (rest.get(..*length)?, rest.get(*length..)?);
            out.push(head);
            rest = tail;
        }
        rest.is_empty().then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashers_keep_or_hide_the_key_as_frame_does() {
        assert_eq!(hash_key(&StorageHasher::Identity, &[1, 2]), vec![1, 2]);
        let concat = hash_key(&StorageHasher::Twox64Concat, &[7; 32]);
        assert_eq!((concat.len(), &concat[8..]), (40, [7_u8; 32].as_slice()));
        assert_eq!(hash_key(&StorageHasher::Blake2_128Concat, &[9]).len(), 17);
        assert_eq!(storage_prefix("System", "Events").len(), 32);
    }
}
