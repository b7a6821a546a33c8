//! The root filesystem of the `af env serve` image, assembled from this machine without a
//! registry: the running `af` binary, a Python 3 interpreter with its standard library, and the
//! shared libraries both need (found with `ldd`), laid out like a merged-`/usr` Debian system.
//!
//! [`plan`] lists the files and computes a content hash (the `af` binary's bytes plus the path,
//! size and modification time of every other file), so a build whose inputs did not change can
//! reuse the image already tagged with that hash. [`write_tar`] renders the plan as the tarball
//! the engine imports.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

/// Where `af` lives in the image.
pub const AF_PATH: &str = "/usr/local/bin/af";

/// Image build failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A helper program (`ldd`, the interpreter) failed.
    #[error("{0}")]
    Probe(String),
}

impl Error {
    /// Whether the user named a bad interpreter.
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::Probe(_))
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }
}

/// The files of the image: destination path in the image -> source path on this machine.
#[derive(Debug, Clone)]
pub struct Plan {
    files: BTreeMap<String, PathBuf>,
    symlinks: BTreeMap<String, String>,
    /// Hex sha256 identifying the inputs.
    pub content_hash: String,
    /// The interpreter's path inside the image (e.g. `/usr/bin/python3.11`).
    pub python: String,
}

impl Plan {
    /// Number of regular files.
    #[must_use]
    pub fn file_count(&self) -> usize {
        self.files.len()
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read { path: path.to_path_buf(), source }
}

/// The destination of a host file: its directory resolved (so `/lib/...` lands in
/// `/usr/lib/...`), its own name kept (so a `libz.so.1` symlink keeps the name the loader asks for).
fn destination(path: &Path) -> Result<String, Error> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let parent = parent.canonicalize().map_err(read_error(parent))?;
    let name = path.file_name().ok_or_else(|| Error::Probe(format!("{} has no file name", path.display())))?;
    Ok(parent.join(name).to_string_lossy().into_owned())
}

/// Shared libraries `binary` loads, as `ldd` reports them (absolute paths, loader included).
fn libraries(binary: &Path) -> Result<Vec<PathBuf>, Error> {
    let output = Command::new("ldd").arg(binary).output().map_err(|e| Error::Probe(format!("failed to run ldd: {e}")))?;
    // A static binary makes ldd exit non-zero ("not a dynamic executable"): no libraries.
    let text = String::from_utf8_lossy(&output.stdout);
    let mut found = Vec::new();
    for line in text.lines() {
        let candidate = match line.split_once("=>") {
            Some((_, right)) => right.trim().split(' ').next().unwrap_or(""),
            None => line.trim().split(' ').next().unwrap_or(""),
        };
        if candidate.starts_with('/') {
            found.push(PathBuf::from(candidate));
        }
    }
    Ok(found)
}

/// Lists the image's files for the `af` binary at `af` and the interpreter `python`.
///
/// # Errors
/// The interpreter does not run, `ldd` is missing, or a file cannot be read.
pub fn plan(af: &Path, python: &Path) -> Result<Plan, Error> {
    let probe = Command::new(python)
        .args(["-c", "import sys, sysconfig; print(sys.executable); print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .map_err(|e| Error::Probe(format!("failed to run {}: {e}", python.display())))?;
    if !probe.status.success() {
        return Err(Error::Probe(format!("{} -c ... failed: {}", python.display(), String::from_utf8_lossy(&probe.stderr).trim())));
    }
    let probe = String::from_utf8_lossy(&probe.stdout).into_owned();
    let mut lines = probe.lines();
    let (Some(executable), Some(stdlib)) = (lines.next(), lines.next()) else {
        return Err(Error::Probe(format!("{} did not report its paths", python.display())));
    };
    let executable = Path::new(executable).canonicalize().map_err(read_error(Path::new(executable)))?;
    let stdlib = Path::new(stdlib).canonicalize().map_err(read_error(Path::new(stdlib)))?;

    let mut files = BTreeMap::new();
    let mut binaries = vec![af.to_path_buf(), executable.clone()];
    files.insert(AF_PATH.to_owned(), af.to_path_buf());
    let python_dest = destination(&executable)?;
    files.insert(python_dest.clone(), executable.clone());
    let skip = ["test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "dist-packages"];
    let mut stack = vec![stdlib.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(read_error(&dir))? {
            let entry = entry.map_err(read_error(&dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().map_err(read_error(&path))?;
            if kind.is_dir() {
                if !(dir == stdlib && (skip.contains(&name.as_str()) || name.starts_with("config-"))) {
                    stack.push(path);
                }
            } else if kind.is_file() {
                if path.extension().is_some_and(|ext| ext == "so") {
                    binaries.push(path.clone());
                }
                files.insert(path.to_string_lossy().into_owned(), path);
            }
        }
    }
    for binary in &binaries {
        for library in libraries(binary)? {
            let dest = destination(&library)?;
            files.entry(dest).or_insert(library);
        }
    }
    let mut symlinks = BTreeMap::new();
    symlinks.insert("/lib".to_owned(), "usr/lib".to_owned());
    symlinks.insert("/lib64".to_owned(), "usr/lib64".to_owned());
    symlinks.insert("/bin".to_owned(), "usr/bin".to_owned());
    let python_name = Path::new(&python_dest).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if python_name != "python3" {
        symlinks.insert("/usr/bin/python3".to_owned(), python_name);
    }

    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    let mut af_file = std::fs::File::open(af).map_err(read_error(af))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = af_file.read(&mut buffer).map_err(read_error(af))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    for (dest, source) in &files {
        let meta = std::fs::metadata(source).map_err(read_error(source))?;
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        hasher.update(format!("{dest}\0{}\0{modified}\n", meta.len()).as_bytes());
    }
    for (link, target) in &symlinks {
        hasher.update(format!("{link}\0->{target}\n").as_bytes());
    }
    Ok(Plan { files, symlinks, content_hash: hex::encode(hasher.finalize()), python: "/usr/bin/python3".to_owned() })
}

/// Renders `plan` as an uncompressed tarball of the root filesystem, with `/tmp` (mode 1777),
/// `/root`, and minimal `/etc/passwd` and `/etc/group`.
///
/// # Errors
/// A file cannot be read.
pub fn write_tar(plan: &Plan) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::Read { path: PathBuf::from("<tar>"), source: e };
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let mut dirs = std::collections::BTreeSet::new();
    for dest in plan.files.keys().chain(plan.symlinks.keys()) {
        let mut path = Path::new(dest).parent();
        while let Some(dir) = path {
            if dir != Path::new("/") {
                dirs.insert(dir.to_path_buf());
            }
            path = dir.parent();
        }
    }
    let add_dir = |builder: &mut tar::Builder<Vec<u8>>, dir: &str, mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(mode);
        header.set_size(0);
        builder.append_data(&mut header, dir.trim_start_matches('/'), std::io::empty())
    };
    for dir in ["/tmp", "/root", "/etc", "/proc", "/dev", "/sys"] {
        add_dir(&mut builder, dir, if dir == "/tmp" { 0o1777 } else { 0o755 }).map_err(io)?;
    }
    for dir in &dirs {
        if !plan.symlinks.contains_key(&*dir.to_string_lossy()) {
            add_dir(&mut builder, &dir.to_string_lossy(), 0o755).map_err(io)?;
        }
    }
    for (link, target) in &plan.symlinks {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder.append_link(&mut header, link.trim_start_matches('/'), target).map_err(io)?;
    }
    for (name, content) in [("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("/etc/group", "root:x:0:\n")] {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        builder.append_data(&mut header, name.trim_start_matches('/'), content.as_bytes()).map_err(io)?;
    }
    for (dest, source) in &plan.files {
        let mut file = std::fs::File::open(source).map_err(read_error(source))?;
        let meta = file.metadata().map_err(read_error(source))?;
        let mut header = tar::Header::new_gnu();
        header.set_mode(if meta.permissions().mode_executable() { 0o755 } else { 0o644 });
        header.set_size(meta.len());
        builder.append_data(&mut header, dest.trim_start_matches('/'), &mut file).map_err(read_error(source))?;
    }
    builder.into_inner().map_err(io)
}

trait ModeExt {
    fn mode_executable(&self) -> bool;
}

impl ModeExt for std::fs::Permissions {
    fn mode_executable(&self) -> bool {
        use std::os::unix::fs::PermissionsExt as _;
        self.mode() & 0o111 != 0
    }
}

/// The Dockerfile instructions applied when the tarball is imported.
#[must_use]
pub fn image_changes(content_hash: &str) -> Vec<String> {
    vec![
        "ENV PATH=/usr/local/bin:/usr/bin:/bin".to_owned(),
        "ENV HOME=/root".to_owned(),
        "ENV AF_NO_DOTENV=1".to_owned(),
        "ENV AF_PYTHON=/usr/bin/python3".to_owned(),
        "ENV AF_HOST=0.0.0.0".to_owned(),
        "ENV AF_PORT=8000".to_owned(),
        "EXPOSE 8000".to_owned(),
        "WORKDIR /root".to_owned(),
        format!("LABEL affinetes.env.type=function_based af.content={content_hash}"),
        format!(r#"CMD ["{AF_PATH}", "env", "serve", "--env", "affine"]"#),
    ]
}
