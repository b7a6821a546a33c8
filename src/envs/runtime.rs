//! Where this process runs relative to the Docker engine it talks to, detected as the
//! reference runner does (spec §1.4):
//!
//! - not in a container (`/proc/1/comm` is `systemd` or `init`): **host**;
//! - in a container with a `dockerd` process visible: **dind** (its own engine);
//! - in a container without one: **dood** (the host's engine through a mounted socket). Env
//!   containers then join the caller's network and are addressed by name.
//!
//! The caller's container id comes from `/proc/self/mountinfo` (a 64-hex id after
//! `/containers/`, where the engine bind-mounts `hostname`, `hosts` and `resolv.conf`).

use std::path::Path;

/// The runtime of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Directly on a machine.
    Host,
    /// In a container that runs its own engine.
    Dind,
    /// In a container that uses the host's engine.
    Dood,
}

/// Detects the runtime from the real `/proc`.
#[must_use]
pub fn detect() -> Runtime {
    detect_in(Path::new("/proc"))
}

/// Detects the runtime from a `/proc`-like directory.
#[must_use]
pub fn detect_in(proc: &Path) -> Runtime {
    let init = std::fs::read_to_string(proc.join("1/comm")).map(|c| c.trim().to_ascii_lowercase());
    match init {
        Ok(comm) if comm != "systemd" && comm != "init" => {}
        _ => return Runtime::Host,
    }
    let Ok(entries) = std::fs::read_dir(proc) else { return Runtime::Dood };
    let dockerd = entries.flatten().any(|entry| {
        entry.file_name().to_str().is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
            && std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == "dockerd")
    });
    if dockerd { Runtime::Dind } else { Runtime::Dood }
}

/// The id of the container this process runs in, from `/proc/self/mountinfo`.
#[must_use]
pub fn own_container_id() -> Option<String> {
    std::fs::read_to_string("/proc/self/mountinfo").ok().and_then(|text| container_id_in(&text))
}

/// The first 64-hex id that follows `/containers/` and is followed by `/`.
#[must_use]
pub fn container_id_in(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        line.match_indices("/containers/").find_map(|(at, marker)| {
            let id = line.get(at + marker.len()..at + marker.len() + 64)?;
            let slash = line[at + marker.len() + 64..].starts_with('/');
            (slash && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then(|| id.to_owned())
        })
    })
}

/// The network env containers join in dood: the first of the caller's networks that is not
/// `host` or `none`.
#[must_use]
pub fn caller_network<'a>(networks: impl IntoIterator<Item = &'a str>) -> Option<String> {
    networks.into_iter().find(|name| !matches!(*name, "host" | "none")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_is_read_from_mountinfo() {
        let id = "3f0c2b5d7e9a4c1b8d6e2f0a9b7c5d3e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c";
        let text = format!(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             612 600 254:1 /var/lib/docker/containers/{id}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_in(&text).as_deref(), Some(id));
        assert_eq!(container_id_in("1 0 0:1 / / rw - overlay overlay rw\n"), None);
        assert_eq!(container_id_in("/containers/abc/x"), None);
    }

    #[test]
    fn runtime_follows_init_and_dockerd() {
        let dir = std::env::temp_dir().join(format!("af-runtime-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        let write = |pid: &str, comm: &str| {
            std::fs::create_dir_all(dir.join(pid)).expect("mkdir");
            std::fs::write(dir.join(pid).join("comm"), format!("{comm}\n")).expect("write");
        };
        write("1", "systemd");
        assert_eq!(detect_in(&dir), Runtime::Host);
        write("1", "python");
        assert_eq!(detect_in(&dir), Runtime::Dood);
        write("42", "dockerd");
        assert_eq!(detect_in(&dir), Runtime::Dind);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(caller_network(["host", "compose_default"]).as_deref(), Some("compose_default"));
        assert_eq!(caller_network(["none"]), None);
    }
}
