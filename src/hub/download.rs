//! Snapshot download of a repository revision into a directory, resumable and verified.
//!
//! Layout (the `local_dir` layout of `huggingface_hub`, so a directory pulled by either tool is
//! recognised by the other): files go to `DEST/<rfilename>`; bookkeeping lives in
//! `DEST/.cache/huggingface/download/<rfilename>.metadata` (three lines: commit, etag, Unix
//! time). A partial file is `DEST/.cache/huggingface/download/<rfilename>.<etag>.part` and is
//! resumed with `Range: bytes=<len>-`; the etag in its name keeps a part of other content from
//! being resumed.
//!
//! The revision info (`?blobs=true`) already lists each file's size and, for LFS files, its
//! sha256, so one ranged GET per file is enough (no HEAD round trip); redirects to the CDN are
//! followed by reqwest, which drops `Authorization` when the host changes.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWriteExt as _, BufWriter};
use tokio_util::sync::CancellationToken;

use super::{Error, HubClient, RevisionInfo, Sibling, Target, repo_path, status_error};

/// Default number of files downloaded at once (`huggingface_hub` uses 8 workers).
pub const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(8).expect("8 is non-zero");
/// Default attempts per file; each retry resumes from what is already on disk.
pub const DEFAULT_ATTEMPTS: u32 = 5;

/// How a snapshot is downloaded.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// Files downloaded at once.
    pub concurrency: NonZeroUsize,
    /// Attempts per file on transient failures (at least 1).
    pub attempts: u32,
    /// First retry delay; doubled per attempt up to 8 s.
    pub retry_delay: Duration,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self { concurrency: DEFAULT_CONCURRENCY, attempts: DEFAULT_ATTEMPTS, retry_delay: Duration::from_millis(500) }
    }
}

/// What a snapshot download did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotReport {
    /// The repository.
    pub repo: String,
    /// The revision asked for.
    pub revision: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The destination directory.
    pub dest: PathBuf,
    /// Files in the revision.
    pub files: usize,
    /// Files fetched in this run.
    pub downloaded: usize,
    /// Files already complete, skipped.
    pub skipped: usize,
    /// Files whose download continued from a partial file.
    pub resumed: usize,
    /// Bytes received in this run.
    pub bytes_downloaded: u64,
    /// Bytes of the whole revision.
    pub bytes_total: u64,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, Default)]
struct FileOutcome {
    skipped: bool,
    resumed: bool,
    received: u64,
}

/// Paths of one file of the snapshot.
#[derive(Debug)]
struct FilePaths {
    target: PathBuf,
    metadata: PathBuf,
    part: PathBuf,
}

/// One download in progress, shared by the files of a snapshot.
struct Job<'a> {
    client: &'a HubClient,
    repo: &'a str,
    commit: &'a str,
    dest: &'a Path,
    options: &'a SnapshotOptions,
    progress: &'a ProgressBar,
    cancel: &'a CancellationToken,
}

impl HubClient {
    /// Downloads every file of `repo` at `revision` into `dest`.
    ///
    /// Files already complete (metadata names the same commit, or an LFS file whose content
    /// hashes to the listed sha256) are skipped; partial files are resumed; LFS files are
    /// verified against their sha256 and every file against its listed size. `progress` gets
    /// its length set to the snapshot's size and is advanced as bytes arrive.
    ///
    /// # Errors
    /// The revision cannot be read (401/403/404 as typed errors), a file cannot be fetched
    /// after `options.attempts` tries, a file is corrupted, or `dest` cannot be written.
    ///
    /// # Cancellation
    /// Returns [`Error::Cancelled`] soon after `cancel` fires; partial files stay on disk and
    /// the next run resumes them.
    pub async fn snapshot_download(
        &self,
        repo: &str,
        revision: &str,
        dest: &Path,
        options: &SnapshotOptions,
        progress: &ProgressBar,
        cancel: &CancellationToken,
    ) -> Result<SnapshotReport, Error> {
        // The listing's names are checked by `revision_info` before any of them becomes a path.
        let info: RevisionInfo = self.revision_info(repo, revision).await?;
        if let Some(no_size) = info.siblings.iter().find(|sibling| sibling.expected_size().is_none()) {
            return Err(Error::Unsized { repo: repo.to_owned(), path: no_size.rfilename.clone() });
        }
        let bytes_total = info.siblings.iter().filter_map(Sibling::expected_size).sum();
        progress.set_length(bytes_total);
        let cache = dest.join(".cache").join("huggingface");
        tokio::fs::create_dir_all(cache.join("download")).await.map_err(|source| Error::Io { path: cache.clone(), source })?;
        let ignore = cache.join(".gitignore");
        tokio::fs::write(&ignore, "*\n").await.map_err(|source| Error::Io { path: ignore, source })?;
        tracing::info!(repo, revision, commit = %info.sha, files = info.siblings.len(), bytes_total, "downloading snapshot");

        let job = Job { client: self, repo, commit: &info.sha, dest, options, progress, cancel };
        let mut report = SnapshotReport {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            commit: info.sha.clone(),
            dest: dest.to_path_buf(),
            files: info.siblings.len(),
            downloaded: 0,
            skipped: 0,
            resumed: 0,
            bytes_downloaded: 0,
            bytes_total,
        };
        let mut results =
            futures_util::stream::iter(info.siblings.iter().map(|sibling| job.fetch(sibling))).buffer_unordered(options.concurrency.get());
        while let Some(outcome) = results.next().await {
            // The first failure ends the snapshot; the other files' partial data stays for a rerun.
            let outcome = outcome?;
            if outcome.skipped {
                report.skipped += 1;
            } else {
                report.downloaded += 1;
            }
            report.resumed += usize::from(outcome.resumed);
            report.bytes_downloaded += outcome.received;
        }
        Ok(report)
    }
}

impl Job<'_> {
    /// One file: skip it if complete, else download it with retries.
    async fn fetch(&self, sibling: &Sibling) -> Result<FileOutcome, Error> {
        let paths = self.paths(sibling)?;
        if self.is_complete(sibling, &paths).await? {
            tracing::debug!(file = %sibling.rfilename, "already complete");
            self.progress.inc(sibling.expected_size().unwrap_or(0));
            return Ok(FileOutcome { skipped: true, ..FileOutcome::default() });
        }
        let attempts = self.options.attempts.max(1);
        let mut counted = 0;
        let mut outcome = FileOutcome::default();
        let mut delay = self.options.retry_delay;
        let mut attempt = 1;
        loop {
            match self.download_once(sibling, &paths, &mut counted, &mut outcome).await {
                Ok(()) => return Ok(outcome),
                Err(error) if error.is_transient() && attempt < attempts => {
                    tracing::debug!(file = %sibling.rfilename, attempt, %error, "transient failure; resuming after {delay:?}");
                    tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => return Err(Error::Cancelled),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(8));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn paths(&self, sibling: &Sibling) -> Result<FilePaths, Error> {
        let relative = relative_path(self.repo, &sibling.rfilename)?;
        let download = self.dest.join(".cache").join("huggingface").join("download");
        let metadata = download.join(format!("{}.metadata", relative.display()));
        let etag = sibling.etag().unwrap_or(self.commit);
        let part = download.join(format!("{}.{etag}.part", relative.display()));
        Ok(FilePaths { target: self.dest.join(relative), metadata, part })
    }

    /// Complete when the metadata names this commit and the file has the listed size, or when
    /// an LFS file of the listed size hashes to the listed sha256 (then the metadata is written).
    async fn is_complete(&self, sibling: &Sibling, paths: &FilePaths) -> Result<bool, Error> {
        let Ok(meta) = tokio::fs::metadata(&paths.target).await else { return Ok(false) };
        if !meta.is_file() || sibling.expected_size().is_some_and(|size| size != meta.len()) {
            return Ok(false);
        }
        if let Ok(text) = crate::fsio::read_regular_async(&paths.metadata, crate::fsio::STATE_MAX_BYTES).await
            && text.split(|b| *b == b'\n').next() == Some(self.commit.as_bytes())
        {
            return Ok(true);
        }
        let Some(lfs) = &sibling.lfs else { return Ok(false) };
        let (_, digest) = hash_prefix(paths.target.clone(), meta.len()).await?;
        if hex::encode(digest.finalize()) != lfs.sha256 {
            return Ok(false);
        }
        write_metadata(&paths.metadata, self.commit, &lfs.sha256).await?;
        Ok(true)
    }

    /// One GET of the rest of the file into its `.part`, then verification and rename.
    async fn download_once(&self, sibling: &Sibling, paths: &FilePaths, counted: &mut u64, outcome: &mut FileOutcome) -> Result<(), Error> {
        let name = sibling.rfilename.as_str();
        let expected = sibling.expected_size();
        let mut offset = tokio::fs::metadata(&paths.part).await.map_or(0, |m| m.len());
        if expected.is_some_and(|size| offset > size) {
            offset = 0;
        }
        let (mut offset, mut hasher) = if offset > 0 { hash_prefix(paths.part.clone(), offset).await? } else { (0, Sha256::new()) };
        self.account(counted, offset);

        let received_all = expected.is_some_and(|size| offset == size);
        if received_all && offset == 0 {
            // An empty file: nothing to fetch, but the part must exist to be moved into place.
            self.stream_to_part(None, paths, 0, expected, &mut hasher, counted, outcome).await?;
        }
        if !received_all {
            let url = self.client.url(&format!("{}/resolve/{}/{}", repo_path(self.repo)?, self.commit, encode_path(name)));
            let mut request = self.client.authorized(self.client.http.get(url.clone()));
            if offset > 0 {
                request = request.header(RANGE, format!("bytes={offset}-"));
            }
            let response = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(Error::Cancelled),
                response = request.send() => response.map_err(|e| super::request_error(&url, e))?,
            };
            let status = response.status();
            if status == StatusCode::RANGE_NOT_SATISFIABLE {
                remove(&paths.part).await?;
                self.account(counted, 0);
                return Err(Error::SizeMismatch { path: name.to_owned(), expected: expected.unwrap_or(0), actual: offset });
            }
            if !status.is_success() {
                return Err(status_error(response, &url, Target::File(self.repo, name)).await);
            }
            if status == StatusCode::PARTIAL_CONTENT && content_range_start(&response) != Some(offset) {
                // A range other than the one asked for: appending it would corrupt the file.
                remove(&paths.part).await?;
                self.account(counted, 0);
                return Err(Error::SizeMismatch { path: name.to_owned(), expected: expected.unwrap_or(0), actual: offset });
            }
            let resumes = status == StatusCode::PARTIAL_CONTENT;
            if !resumes && offset > 0 {
                tracing::debug!(file = name, offset, %status, "server ignored the range; starting over");
                offset = 0;
                hasher = Sha256::new();
                self.account(counted, 0);
            }
            outcome.resumed |= resumes;
            offset += self.stream_to_part(Some(response), paths, offset, expected, &mut hasher, counted, outcome).await?;
        }

        if let Some(size) = expected
            && offset != size
        {
            if offset > size {
                remove(&paths.part).await?;
                self.account(counted, 0);
            }
            return Err(Error::SizeMismatch { path: name.to_owned(), expected: size, actual: offset });
        }
        if let Some(lfs) = &sibling.lfs {
            let actual = hex::encode(hasher.finalize());
            if actual != lfs.sha256 {
                remove(&paths.part).await?;
                self.account(counted, 0);
                return Err(Error::Integrity { path: name.to_owned(), expected: lfs.sha256.clone(), actual });
            }
        }
        if let Some(parent) = paths.target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        tokio::fs::rename(&paths.part, &paths.target).await.map_err(|source| Error::Io { path: paths.target.clone(), source })?;
        write_metadata(&paths.metadata, self.commit, sibling.etag().unwrap_or(self.commit)).await?;
        tracing::debug!(file = name, bytes = offset, "downloaded");
        Ok(())
    }

    /// Appends the body to the part file (truncating it when `offset` is 0), hashing as it goes,
    /// never past the listed size `expected` (a longer body is a size mismatch and its part is
    /// discarded). The file is flushed on every path out, so a retry sees everything that was
    /// received. Without a response, only creates (or truncates) the part.
    #[expect(clippy::too_many_arguments, reason = "one file's transfer state, threaded through the resumable loop")]
    async fn stream_to_part(
        &self,
        response: Option<reqwest::Response>,
        paths: &FilePaths,
        offset: u64,
        expected: Option<u64>,
        hasher: &mut Sha256,
        counted: &mut u64,
        outcome: &mut FileOutcome,
    ) -> Result<u64, Error> {
        if let Some(parent) = paths.part.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        let io = |source| Error::Io { path: paths.part.clone(), source };
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(offset > 0)
            .truncate(offset == 0)
            .open(&paths.part)
            .await
            .map_err(io)?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        let Some(response) = response else {
            return file.flush().await.map(|()| 0).map_err(io);
        };
        let url = response.url().clone();
        let mut body = response.bytes_stream();
        let mut received = 0u64;
        let name = paths.target.strip_prefix(self.dest).unwrap_or(&paths.target).display().to_string();
        let streamed = loop {
            let chunk = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break Err(Error::Cancelled),
                chunk = body.next() => chunk,
            };
            match chunk {
                None => break Ok(()),
                Some(Err(error)) => break Err(super::request_error(&url, error)),
                Some(Ok(bytes)) => {
                    let total = offset + received + bytes.len() as u64;
                    if let Some(size) = expected
                        && total > size
                    {
                        break Err(Error::SizeMismatch { path: name.clone(), expected: size, actual: total });
                    }
                    if let Err(error) = file.write_all(&bytes).await {
                        break Err(io(error));
                    }
                    hasher.update(&bytes);
                    received += bytes.len() as u64;
                    outcome.received += bytes.len() as u64;
                    *counted += bytes.len() as u64;
                    self.progress.inc(bytes.len() as u64);
                }
            }
        };
        let flushed = file.flush().await.map_err(io);
        if let Err(Error::SizeMismatch { .. }) = &streamed {
            // More than the listing says: what was appended cannot be trusted.
            drop(file);
            remove(&paths.part).await?;
            self.account(counted, 0);
        }
        streamed?;
        flushed?;
        Ok(received)
    }

    /// Keeps the shared progress bar in step with the bytes of this file on disk.
    fn account(&self, counted: &mut u64, on_disk: u64) {
        if on_disk >= *counted {
            self.progress.inc(on_disk - *counted);
        } else {
            self.progress.dec(*counted - on_disk);
        }
        *counted = on_disk;
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` answer.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// The listed file name as a relative path that stays inside the destination
/// ([`crate::names::relative_file_name`]).
fn relative_path(repo: &str, rfilename: &str) -> Result<PathBuf, Error> {
    crate::names::relative_file_name(rfilename).map_err(|source| Error::UnsafeListing { repo: repo.to_owned(), source })
}

/// A repository path for a resolve URL: each segment escaped, the slashes kept.
fn encode_path(rfilename: &str) -> String {
    rfilename
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, super::SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// sha256 state over the first `len` bytes of `path` (fewer if the file is shorter), off the
/// runtime threads; returns the number of bytes hashed.
async fn hash_prefix(path: PathBuf, len: u64) -> Result<(u64, Sha256), Error> {
    let task_path = path.clone();
    let joined = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, Sha256)> {
        use std::io::Read as _;
        let file = std::fs::File::open(&task_path)?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file).take(len);
        let mut hasher = Sha256::new();
        let copied = std::io::copy(&mut reader, &mut hasher)?;
        Ok((copied, hasher))
    })
    .await
    .map_err(|join| Error::Io { path: path.clone(), source: std::io::Error::other(join) })?;
    joined.map_err(|source| Error::Io { path, source })
}

async fn write_metadata(path: &Path, commit: &str, etag: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    tokio::fs::write(path, format!("{commit}\n{etag}\n{now}\n")).await.map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

async fn remove(path: &Path) -> Result<(), Error> {
    match tokio::fs::remove_file(path).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: path.to_path_buf(), source: error }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_refuses_escapes_and_the_bookkeeping_folder() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "./a", ".cache/huggingface/download/x.metadata"] {
            assert!(relative_path("o/r", bad).is_err(), "{bad:?}");
        }
        assert_eq!(relative_path("o/r", "sub/dir/model.safetensors").expect("ok"), PathBuf::from("sub/dir/model.safetensors"));
    }

    #[test]
    fn encode_path_keeps_slashes_and_escapes_the_rest() {
        assert_eq!(encode_path("sub dir/a+b.json"), "sub%20dir/a%2Bb.json");
    }

    #[tokio::test]
    async fn hash_prefix_hashes_only_the_requested_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world").expect("write");
        let (length, state) = hash_prefix(path, 5).await.expect("hash");
        assert_eq!(length, 5);
        assert_eq!(hex::encode(state.finalize()), hex::encode(Sha256::digest(b"hello")));
    }
}
