//! Running untrusted Python (dataset programs and model answers) in a confined process.
//!
//! The parent ([`Sandbox::run_python`]) makes a fresh temporary working directory, writes the
//! program into it and starts `af sandbox-exec` in its own process group with an empty
//! environment. That helper ([`confine_and_exec`]) confines itself with safe system calls and
//! then `exec`s the interpreter, so no `unsafe` `pre_exec` hook is needed:
//!
//! - rlimits: CPU 10 s (hard 11 s), address space 512 MiB, no core files, a process/thread
//!   limit, a file-size limit;
//! - when started as root: its own PID and mount namespaces with a fresh `/proc` (the program
//!   sees only its own processes, never `af`'s command line or environment, nor any other
//!   process's), a private network namespace, then a throwaway unprivileged uid/gid (so
//!   `RLIMIT_NPROC` applies and sandboxes cannot touch each other or the dataset cache);
//! - Landlock (where the kernel has it): reads only of the system's programs and libraries
//!   ([`READABLE`], the interpreter's installation, the working directory, and `/proc` only when
//!   it is the sandbox's own, else just `/proc/self`), writes only inside the working
//!   directory, so world-readable host files (home directories, `/etc`, `/tmp`) stay hidden;
//! - seccomp: `socket(2)` and `io_uring_setup(2)` fail with `EPERM`, so no network at all.
//!
//! With namespaces the helper runs in three steps ([`Stage`]): the outer process unshares the
//! PID and mount namespaces and waits; its child is PID 1 there, mounts `/proc` and waits; the
//! grandchild confines itself and execs the program (so the program is not a namespace init,
//! whose signals behave differently). Exit statuses are passed back up unchanged.
//!
//! The parent enforces the 30 s wall clock and the 1 MB per-stream output cap, and kills the
//! whole process group when either trips (and after every run, to reap stragglers).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

/// Resource limits of one program run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit.
    pub wall: Duration,
    /// CPU seconds (soft; the hard limit is one more).
    pub cpu_secs: u64,
    /// Address-space limit in bytes.
    pub address_space: u64,
    /// Bytes kept per output stream before the run is stopped.
    pub output_bytes: usize,
    /// Processes and threads the sandbox uid may have.
    pub processes: u64,
    /// Largest file the program may write, in bytes.
    pub file_size: u64,
}

impl Default for Limits {
    /// The reference executor's limits (spec §5) plus the isolation it lacked.
    fn default() -> Self {
        Self {
            wall: Duration::from_secs(30),
            cpu_secs: 10,
            address_space: 512 * 1024 * 1024,
            output_bytes: 1_000_000,
            processes: 32,
            file_size: 64 * 1024 * 1024,
        }
    }
}

/// What a run printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output (lossy UTF-8, universal newlines), with `\n…<truncated>` appended when
    /// capped.
    pub stdout: String,
    /// Standard error (lossy UTF-8), with `\n[TIMEOUT]` appended after a wall-clock kill.
    pub stderr: String,
    /// The wall clock ran out.
    pub timed_out: bool,
    /// An output stream passed the cap.
    pub truncated: bool,
}

/// A failure to run the program at all (not the program failing).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The temporary directory or program file could not be made.
    #[error("failed to prepare sandbox directory")]
    Prepare(#[source] std::io::Error),
    /// The helper process could not be started.
    #[error("failed to start sandbox helper {path}")]
    Spawn {
        /// The helper binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the process failed.
    #[error("failed to wait for sandboxed program")]
    Wait(#[source] std::io::Error),
    /// The helper could not confine itself (see its message).
    #[error("sandbox could not be set up: {0}")]
    Confine(String),
}

/// Exit status of `af sandbox-exec` when confinement fails, with [`CONFINE_FAILURE_PREFIX`]
/// starting its stderr.
pub const CONFINE_FAILURE_STATUS: i32 = 126;
/// How the helper's own failure message starts.
pub const CONFINE_FAILURE_PREFIX: &str = "af sandbox-exec: ";

/// Runs Python programs under [`Limits`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    helper: PathBuf,
    python: PathBuf,
    limits: Limits,
}

/// Base of the throwaway uids used when started as root (far above normal accounts).
const SANDBOX_UID_BASE: u32 = 2_000_000;
static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);

impl Sandbox {
    /// A sandbox that runs `python` through `helper` (an `af` binary, which has the hidden
    /// `sandbox-exec` subcommand).
    #[must_use]
    pub fn new(helper: PathBuf, python: PathBuf, limits: Limits) -> Self {
        Self { helper, python, limits }
    }

    /// The limits applied.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Runs `code` with `stdin` and returns what it printed.
    ///
    /// # Errors
    /// Only when the sandbox itself cannot run; a crashing, slow or hostile program is an
    /// [`Output`] with a non-empty `stderr`.
    ///
    /// # Cancellation
    /// Dropping the future kills the process group (`kill_on_drop`) and removes the directory.
    pub async fn run_python(&self, code: &str, stdin: &str) -> Result<Output, Error> {
        let dir = tempfile::Builder::new().prefix("af-sandbox-").tempdir().map_err(Error::Prepare)?;
        let script = dir.path().join("main.py");
        std::fs::write(&script, code).map_err(Error::Prepare)?;
        let sandbox_uid = if Uid::effective().is_root() {
            // One uid per run, distinct across processes too (each test binary and each `af`
            // has its own counter), so one program's processes never count against another's
            // RLIMIT_NPROC.
            let slot = u64::from(std::process::id()) * 1024 + u64::from(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % 1024);
            let uid = SANDBOX_UID_BASE + u32::try_from(slot % 100_000_000).expect("below 1e8");
            for path in [dir.path(), script.as_path()] {
                nix::unistd::chown(path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(uid))).map_err(|e| Error::Prepare(e.into()))?;
            }
            Some(uid)
        } else {
            None
        };
        let mut command = tokio::process::Command::new(&self.helper);
        command
            .arg("sandbox-exec")
            .arg("--dir")
            .arg(dir.path())
            .arg("--cpu-secs")
            .arg(self.limits.cpu_secs.to_string())
            .arg("--address-space")
            .arg(self.limits.address_space.to_string())
            .arg("--processes")
            .arg(self.limits.processes.to_string())
            .arg("--file-size")
            .arg(self.limits.file_size.to_string());
        if let Some(uid) = sandbox_uid {
            command.arg("--uid").arg(uid.to_string());
        }
        command
            .arg("--")
            .arg(&self.python)
            .arg(&script)
            .env_clear()
            // The helper is `af`: it must not look for (and trust) a `.env` near the directory.
            .env(crate::env_vars::AF_NO_DOTENV, "1")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| Error::Spawn { path: self.helper.clone(), source })?;
        let group = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        let child_stdin = child.stdin.take();
        let input = stdin.as_bytes().to_vec();
        let feeder = tokio::spawn(async move {
            if let Some(mut pipe) = child_stdin {
                // A program that exits without reading its input closes the pipe: not an error.
                let _ = pipe.write_all(&input).await;
            }
        });
        let cap = self.limits.output_bytes;
        let (out, err) = (Arc::new(Mutex::new(Capped::default())), Arc::new(Mutex::new(Capped::default())));
        let mut out_reader = tokio::spawn(read_capped(child.stdout.take(), cap, Arc::clone(&out)));
        let mut err_reader = tokio::spawn(read_capped(child.stderr.take(), cap, Arc::clone(&err)));
        let deadline = tokio::time::sleep(self.limits.wall);
        tokio::pin!(deadline);
        let mut output = Output::default();
        let (mut out_done, mut err_done, mut exited) = (false, false, false);
        // Until the program exits, a stream overflows, or the wall clock runs out.
        while !exited {
            tokio::select! {
                status = child.wait() => {
                    status.map_err(Error::Wait)?;
                    exited = true;
                }
                () = &mut deadline => {
                    output.timed_out = true;
                    break;
                }
                _ = &mut out_reader, if !out_done => {
                    out_done = true;
                    if lock(&out).overflowed { break; }
                }
                _ = &mut err_reader, if !err_done => {
                    err_done = true;
                    if lock(&err).overflowed { break; }
                }
            }
        }
        // Kill the whole group: on timeout, on overflow, and stragglers (for example children
        // still holding the pipes) after a clean exit. What is already in the pipes is still read.
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .map_err(|_| Error::Wait(std::io::Error::other("child did not exit after SIGKILL")))?
            .map_err(Error::Wait)?;
        let drain = async {
            if !out_done {
                let _ = (&mut out_reader).await;
            }
            if !err_done {
                let _ = (&mut err_reader).await;
            }
        };
        // A process that left the group could keep a pipe open; don't wait for it.
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        out_reader.abort();
        err_reader.abort();
        feeder.abort();
        let (out, err) = (std::mem::take(&mut *lock(&out)), std::mem::take(&mut *lock(&err)));
        if status.code() == Some(CONFINE_FAILURE_STATUS) {
            let stderr = String::from_utf8_lossy(&err.bytes);
            if let Some(message) = stderr.strip_prefix(CONFINE_FAILURE_PREFIX) {
                return Err(Error::Confine(message.trim().to_owned()));
            }
        }
        output.truncated = out.overflowed || err.overflowed;
        output.stdout = out.text();
        output.stderr = err.text();
        if output.timed_out {
            output.stderr.push_str("\n[TIMEOUT]");
        }
        drop(dir);
        Ok(output)
    }
}

#[derive(Debug, Default)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Capped {
    /// The stream as the reference's text-mode pipes delivered it: UTF-8 (lossy here) with
    /// universal newlines (`\r\n` and `\r` read as `\n`).
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).replace("\r\n", "\n").replace('\r', "\n");
        if self.overflowed {
            text.push_str("\n…<truncated>");
        }
        text
    }
}

fn lock(capped: &Mutex<Capped>) -> std::sync::MutexGuard<'_, Capped> {
    capped.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads a stream into `into` up to `cap` bytes; past the cap it stops reading (the caller
/// then kills the group).
async fn read_capped<R: AsyncRead + Unpin>(stream: Option<R>, cap: usize, into: Arc<Mutex<Capped>>) {
    let Some(mut stream) = stream else { return };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                let mut capped = lock(&into);
                let room = cap.saturating_sub(capped.bytes.len());
                if read > room {
                    capped.bytes.extend_from_slice(&buffer[..room]);
                    capped.overflowed = true;
                    break;
                }
                capped.bytes.extend_from_slice(&buffer[..read]);
            }
        }
    }
}

/// Paths the program may read (and execute) besides its working directory and the
/// interpreter's installation: the system's programs, libraries and loader configuration, and
/// the few devices programs open.
pub const READABLE: [&str; 11] =
    ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

/// Which step of the confinement a `sandbox-exec` process is (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Started by the parent: unshares the namespaces when it can, then runs [`Stage::Init`]
    /// (or confines itself directly when it cannot).
    Outer,
    /// PID 1 of the new PID namespace: mounts its `/proc`, runs [`Stage::Confine`], passes its
    /// exit status up.
    Init,
    /// Confines itself and execs the program.
    Confine,
}

impl Stage {
    /// The stage named `outer`, `init` or `confine`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "outer" => Some(Self::Outer),
            "init" => Some(Self::Init),
            "confine" => Some(Self::Confine),
            _ => None,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Outer => "outer",
            Self::Init => "init",
            Self::Confine => "confine",
        }
    }
}

/// What the `sandbox-exec` helper applies to itself before running the program.
#[derive(Debug, Clone)]
pub struct ConfineOptions {
    /// Which step this process is.
    pub stage: Stage,
    /// The only directory the program may write to.
    pub dir: PathBuf,
    /// CPU seconds.
    pub cpu_secs: u64,
    /// Address-space bytes.
    pub address_space: u64,
    /// Process/thread limit.
    pub processes: u64,
    /// File-size limit in bytes.
    pub file_size: u64,
    /// Uid and gid to switch to (only when running as root).
    pub uid: Option<u32>,
    /// The program and its arguments.
    pub command: Vec<std::ffi::OsString>,
}

/// A confinement step that failed; the helper exits with status 126 and this on stderr.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// A resource limit could not be set.
    #[error("failed to set {resource} limit")]
    Limit {
        /// Which limit.
        resource: &'static str,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// Dropping privileges failed.
    #[error("failed to switch to uid {uid}")]
    Identity {
        /// Target uid.
        uid: u32,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// The seccomp filter could not be built or installed.
    #[error("failed to install the seccomp filter: {0}")]
    Seccomp(String),
    /// Landlock failed in a way other than "not supported by this kernel".
    #[error("failed to apply the landlock ruleset: {0}")]
    Landlock(String),
    /// No program was given.
    #[error("no program to run")]
    NoCommand,
    /// An unknown `--stage`.
    #[error("unknown sandbox stage {0:?}")]
    Stage(String),
    /// The namespace's `/proc` could not be mounted.
    #[error("failed to mount the sandbox's /proc")]
    Mount(#[source] nix::Error),
    /// The next stage could not be started or waited for.
    #[error("failed to run the next sandbox stage")]
    Relay(#[source] std::io::Error),
    /// `execve` failed.
    #[error("failed to execute {program}")]
    Exec {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Confines the current process as [`ConfineOptions`] says and replaces it with the program
/// (or, for the outer and init stages, runs the next stage and exits with its status).
/// Returns only on failure.
#[must_use]
pub fn confine_and_exec(options: &ConfineOptions) -> ConfineError {
    let own_proc = match options.stage {
        Stage::Outer => {
            // Namespaces need root (unprivileged user namespaces are often disabled); without
            // them Landlock still hides every /proc entry but the program's own.
            if options.uid.is_some() {
                match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID | nix::sched::CloneFlags::CLONE_NEWNS) {
                    Ok(()) => return relay(options, Stage::Init),
                    Err(error) => tracing::debug!(%error, "no private PID namespace"),
                }
            }
            false
        }
        Stage::Init => {
            if let Err(error) = mount_own_proc() {
                return error;
            }
            return relay(options, Stage::Confine);
        }
        Stage::Confine => true,
    };
    if let Err(error) = confine(options, own_proc) {
        return error;
    }
    let Some((program, args)) = options.command.split_first() else { return ConfineError::NoCommand };
    // The parent already starts the helper with an empty environment; clear it again so the
    // program never sees a key even when the helper is started some other way.
    let source = std::process::Command::new(program).args(args).env_clear().current_dir(&options.dir).exec();
    ConfineError::Exec { program: program.to_string_lossy().into_owned(), source }
}

/// Makes the mount namespace private (nothing propagates back to the host) and mounts a
/// `/proc` of the new PID namespace over the host's.
fn mount_own_proc() -> Result<(), ConfineError> {
    use nix::mount::{MsFlags, mount};
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).map_err(ConfineError::Mount)?;
    mount(Some("proc"), "/proc", Some("proc"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, None::<&str>)
        .map_err(ConfineError::Mount)
}

/// Runs this helper again as stage `next` with the same options, waits for it and exits with
/// its status (128 + the signal when it was killed). Returns only when it cannot be run.
fn relay(options: &ConfineOptions, next: Stage) -> ConfineError {
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .arg("sandbox-exec")
        .arg("--stage")
        .arg(next.name())
        .arg("--dir")
        .arg(&options.dir)
        .arg("--cpu-secs")
        .arg(options.cpu_secs.to_string())
        .arg("--address-space")
        .arg(options.address_space.to_string())
        .arg("--processes")
        .arg(options.processes.to_string())
        .arg("--file-size")
        .arg(options.file_size.to_string());
    if let Some(uid) = options.uid {
        command.arg("--uid").arg(uid.to_string());
    }
    command.arg("--").args(&options.command).current_dir(&options.dir);
    match command.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt as _;
            std::process::exit(status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(1))
        }
        Err(error) => ConfineError::Relay(error),
    }
}

fn confine(options: &ConfineOptions, own_proc: bool) -> Result<(), ConfineError> {
    let limit = |resource: Resource, name: &'static str, soft: u64, hard: u64| {
        setrlimit(resource, soft, hard).map_err(|source| ConfineError::Limit { resource: name, source })
    };
    limit(Resource::RLIMIT_CPU, "cpu", options.cpu_secs, options.cpu_secs + 1)?;
    limit(Resource::RLIMIT_AS, "address space", options.address_space, options.address_space)?;
    limit(Resource::RLIMIT_CORE, "core", 0, 0)?;
    limit(Resource::RLIMIT_FSIZE, "file size", options.file_size, options.file_size)?;
    limit(Resource::RLIMIT_NPROC, "process", options.processes, options.processes)?;
    if let Some(uid) = options.uid {
        // A private network namespace has only a downed loopback; best effort on top of seccomp
        // (it needs root, which we still are at this point).
        if let Err(error) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            tracing::debug!(%error, "no private network namespace");
        }
        let id = Gid::from_raw(uid);
        nix::unistd::setgroups(&[id]).map_err(|source| ConfineError::Identity { uid, source })?;
        nix::unistd::setresgid(id, id, id).map_err(|source| ConfineError::Identity { uid, source })?;
        let id = Uid::from_raw(uid);
        nix::unistd::setresuid(id, id, id).map_err(|source| ConfineError::Identity { uid, source })?;
    }
    let program = options.command.first().map(Path::new);
    restrict_files(&options.dir, program, own_proc)?;
    deny_sockets()
}

/// Where the interpreter lives: the directory above its `bin/` (`/opt/python3.11` for
/// `/opt/python3.11/bin/python3`), so its standard library can be read.
fn installation_of(program: &Path) -> Option<std::path::PathBuf> {
    let resolved = std::fs::canonicalize(program).ok()?;
    let bin = resolved.parent()?;
    Some(bin.parent().filter(|prefix| *prefix != Path::new("/")).unwrap_or(bin).to_path_buf())
}

/// Landlock: read and execute only [`READABLE`], Debian's `/etc/python3*` configuration, the
/// interpreter's installation, `/proc` (own namespace) or `/proc/self`, and `dir`; write only
/// beneath `dir` (and `/dev/null`).
fn restrict_files(dir: &Path, program: Option<&Path>, own_proc: bool) -> Result<(), ConfineError> {
    use landlock::{ABI, Access, AccessFs, Ruleset, RulesetAttr as _, RulesetCreatedAttr as _, path_beneath_rules};
    let abi = ABI::V3;
    let mut readable: Vec<std::path::PathBuf> = READABLE.iter().map(std::path::PathBuf::from).collect();
    readable.push(if own_proc { "/proc".into() } else { "/proc/self/".into() });
    if let Ok(entries) = std::fs::read_dir("/etc") {
        readable.extend(
            entries.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python"))),
        );
    }
    readable.extend(program.and_then(installation_of));
    // A rule for a path that does not exist here (no /lib32) is skipped, not an error.
    readable.retain(|path| path.exists());
    let apply = || -> Result<landlock::RestrictionStatus, landlock::RulesetError> {
        Ruleset::default()
            .handle_access(AccessFs::from_all(abi))?
            .create()?
            .add_rules(path_beneath_rules(&readable, AccessFs::from_read(abi)))?
            .add_rules(path_beneath_rules(["/dev/null"], AccessFs::from_read(abi) | AccessFs::WriteFile))?
            .add_rules(path_beneath_rules([dir], AccessFs::from_all(abi)))?
            .restrict_self()
    };
    match apply() {
        Ok(status) => {
            tracing::debug!(?status.ruleset, "landlock applied");
            Ok(())
        }
        Err(error) => Err(ConfineError::Landlock(error.to_string())),
    }
}

/// seccomp: `socket` and `io_uring_setup` fail with `EPERM`; everything else is allowed.
fn deny_sockets() -> Result<(), ConfineError> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| ConfineError::Seccomp(e.to_string()))?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
        [(nix::libc::SYS_socket, Vec::new()), (nix::libc::SYS_io_uring_setup, Vec::new())].into_iter().collect();
    let deny = SeccompAction::Errno(nix::libc::EPERM.unsigned_abs());
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, deny, arch).map_err(|e| ConfineError::Seccomp(e.to_string()))?;
    let program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| ConfineError::Seccomp(e.to_string()))?;
    seccompiler::apply_filter(&program).map_err(|e| ConfineError::Seccomp(e.to_string()))
}
