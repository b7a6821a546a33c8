//! Bounded reads of files whose paths come from the user or from disk state: the one place
//! that opens them.
//!
//! A path named on the command line, found in a replay directory or left in a cache can be
//! anything: a FIFO that blocks `open(2)` until a writer appears (and so ignores signals), a
//! link to `/dev/zero` that never ends, a directory, or simply a file far larger than the
//! format allows. [`read_regular`] opens without blocking, checks on the opened handle that it
//! is a regular file no larger than a cap, and reads at most that much, so none of these can
//! hang `af` or exhaust its memory. Every read of a user-given path goes through it with one of
//! the caps below.
//!
//! Errors are [`std::io::Error`]s, so callers keep their own error variants (which name the
//! path); [`is_refused`] tells a refused file (wrong type, too large: the user's to fix) from
//! an I/O failure.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Cap of `metagraph.json` snapshots (a 256-uid subnet's snapshot is about 100 KiB).
pub const METAGRAPH_MAX_BYTES: u64 = 64 << 20;
/// Cap of one result shard, on disk or from the store (production shards are a few MiB; the
/// cap leaves room for windows 20x larger and still bounds memory when several download at
/// once).
pub const SHARD_MAX_BYTES: u64 = 128 << 20;
/// Cap of small state files: `.env`, keyfiles, the chutes `config.ini`, download metadata,
/// cache metadata.
pub const STATE_MAX_BYTES: u64 = 1 << 20;
/// Cap of one file of the ABD/DED dataset read from a local directory.
pub const DATASET_FILE_MAX_BYTES: u64 = 128 << 20;

/// Reads the whole of `path` if it is a regular file (symbolic links followed) of at most
/// `max_bytes` bytes.
///
/// The file is opened with `O_NONBLOCK`, so a FIFO or a device never blocks the open; its type
/// and size are checked on the open handle (no window for a swap between check and read), and
/// no more than `max_bytes` are read even if the file grows meanwhile.
///
/// # Errors
/// `NotFound` and other open failures as they are; a file that is not regular
/// (`InvalidInput`, "not a regular file (a FIFO)"); a file over the cap (`FileTooLarge`,
/// "larger than the 64 MiB limit"); read failures.
pub fn read_regular(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not a regular file ({})", kind(&metadata))));
    }
    if metadata.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
///
/// # Errors
/// As [`read_regular`], and `InvalidData` when the file is not UTF-8.
pub fn read_regular_to_string(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    String::from_utf8(read_regular(path, max_bytes)?).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// [`read_regular`] on a blocking thread, for async callers.
///
/// # Errors
/// As [`read_regular`].
pub async fn read_regular_async(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read_regular(&path, max_bytes)).await.map_err(std::io::Error::other)?
}

/// Whether `error` is [`read_regular`] refusing the file (not regular, or over the cap), as
/// opposed to a missing file or an I/O failure.
#[must_use]
pub fn is_refused(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::FileTooLarge)
}

fn too_large(max_bytes: u64) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("larger than the {} limit", human(max_bytes)))
}

/// `64 MiB`, `1 MiB`, `512 KiB`, or bytes.
#[must_use]
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn kind(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_under_the_cap_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f.json");
        std::fs::write(&file, b"[1, 2]").expect("write");
        assert_eq!(read_regular(&file, 6).expect("at the cap"), b"[1, 2]");
        let error = read_regular(&file, 5).expect_err("over the cap");
        assert!(is_refused(&error) && error.to_string() == "larger than the 5 bytes limit", "{error}");

        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let error = read_regular(&fifo, 1 << 20).expect_err("a FIFO is refused without blocking");
        assert!(is_refused(&error) && error.to_string().contains("a FIFO"), "{error}");

        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let error = read_regular(&zero, 1 << 20).expect_err("a device is refused");
        assert!(error.to_string().contains("a character device"), "{error}");

        let error = read_regular(dir.path(), 1 << 20).expect_err("a directory is refused");
        assert!(error.to_string().contains("a directory"), "{error}");
        let missing = read_regular(&dir.path().join("nope"), 1).expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(!is_refused(&missing));
        assert_eq!(human(METAGRAPH_MAX_BYTES), "64 MiB");
    }
}
