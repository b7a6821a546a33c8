//! SS58 addresses: the base58 text form of a 32-byte public key used everywhere in Bittensor.
//!
//! Only the one-byte "simple" address formats (0..=63) exist on Bittensor; `af` writes format
//! 42 (the generic Substrate format finney uses) and reads any simple format, like bittensor's
//! `Keypair(ss58_address=...)`.

use blake2::{Blake2b512, Digest as _};

use super::Error;

/// The address format of finney (`System.SS58Prefix`).
pub const FORMAT: u8 = 42;

const CHECKSUM_PREFIX: &[u8] = b"SS58PRE";

fn checksum(body: &[u8]) -> [u8; 2] {
    let mut hasher = Blake2b512::new();
    hasher.update(CHECKSUM_PREFIX);
    hasher.update(body);
    let digest = hasher.finalize();
    [digest[0], digest[1]]
}

/// The format-42 address of `public_key`.
#[must_use]
pub fn encode(public_key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(35);
    bytes.push(FORMAT);
    bytes.extend_from_slice(public_key);
    let check = checksum(&bytes);
    bytes.extend_from_slice(&check);
    bs58::encode(bytes).into_string()
}

/// The public key inside `address`.
///
/// # Errors
/// [`Error::InvalidAddress`] for text that is not base58, has the wrong length, uses a
/// multi-byte format, or fails the checksum.
pub fn decode(address: &str) -> Result<[u8; 32], Error> {
    let invalid = |reason| Error::InvalidAddress { address: address.to_owned(), reason };
    let bytes = bs58::decode(address).into_vec().map_err(|_| invalid("not base58"))?;
    if bytes.len() != 35 {
        return Err(invalid("not a 32-byte account address"));
    }
    if bytes[0] >= 64 {
        return Err(invalid("not a simple (one-byte) address format"));
    }
    if checksum(&bytes[..33]) != bytes[33..] {
        return Err(invalid("checksum mismatch"));
    }
    let mut key = [0_u8; 32];
    key.copy_from_slice(&bytes[1..33]);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The dev phrase "bottom drive obey ... walk" (bittensor-wallet writes these in keyfiles).
    const DEV_PUBLIC: &str = "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a";
    const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

    #[test]
    fn ss58_encode_dev_key_matches_bittensor() {
        let key: [u8; 32] = hex::decode(DEV_PUBLIC).expect("hex").try_into().expect("32 bytes");
        assert_eq!(encode(&key), DEV_SS58);
        assert_eq!(decode(DEV_SS58).expect("valid"), key);
    }

    #[test]
    fn ss58_decode_bad_checksum_length_and_alphabet_are_errors() {
        let mut tampered = DEV_SS58.to_owned();
        tampered.replace_range(10..11, if &DEV_SS58[10..11] == "a" { "b" } else { "a" });
        assert!(matches!(decode(&tampered), Err(Error::InvalidAddress { reason: "checksum mismatch", .. })));
        assert!(decode("5Df").is_err());
        assert!(decode("0OIl").is_err());
    }
}
