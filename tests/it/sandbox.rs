//! The program sandbox proves each limit with a real interpreter and the real `af` helper.

use std::time::{Duration, Instant};

use crate::support::sandbox;

async fn run(code: &str, stdin: &str) -> affine::envs::sandbox::Output {
    tokio::time::timeout(Duration::from_secs(60), sandbox().run_python(code, stdin))
        .await
        .expect("sandbox run within 60 s")
        .expect("sandbox runs")
}

#[tokio::test]
async fn sandbox_plain_program_reads_stdin_and_prints() {
    let output = run("import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\nsys.stdout.write('a\\r\\nb\\rc')", "1 2 3\n").await;
    assert_eq!(output.stdout, "6\na\nb\nc", "universal newlines, as the reference's text-mode pipes");
    assert_eq!(output.stderr, "");
    assert!(!output.timed_out && !output.truncated);
}

#[tokio::test]
async fn sandbox_missing_interpreter_is_a_sandbox_error_not_program_output() {
    let sandbox = affine::envs::sandbox::Sandbox::new(
        env!("CARGO_BIN_EXE_af").into(),
        "/nonexistent/python3".into(),
        affine::envs::sandbox::Limits::default(),
    );
    let error =
        tokio::time::timeout(Duration::from_secs(30), sandbox.run_python("print(1)", "")).await.expect("in time").expect_err("cannot exec");
    assert!(matches!(error, affine::envs::sandbox::Error::Confine(ref message) if message.contains("/nonexistent/python3")), "{error:?}");
}

#[tokio::test]
async fn sandbox_infinite_loop_is_stopped_by_the_cpu_limit() {
    let started = Instant::now();
    let output = run("while True:\n    pass", "").await;
    assert!(started.elapsed() < Duration::from_secs(25), "cpu limit (10 s) should stop it before the wall clock: {:?}", started.elapsed());
    assert!(output.stdout.is_empty());
    assert!(!output.timed_out);
}

#[tokio::test]
async fn sandbox_sleeping_program_hits_the_wall_clock() {
    let limits = affine::envs::sandbox::Limits { wall: Duration::from_secs(2), ..affine::envs::sandbox::Limits::default() };
    let sandbox = affine::envs::sandbox::Sandbox::new(env!("CARGO_BIN_EXE_af").into(), crate::support::sandbox_python(), limits);
    let started = Instant::now();
    let output =
        tokio::time::timeout(Duration::from_secs(30), sandbox.run_python("import time\nprint('start', flush=True)\ntime.sleep(60)", ""))
            .await
            .expect("returns")
            .expect("runs");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(output.timed_out);
    assert!(output.stderr.ends_with("[TIMEOUT]"), "{}", output.stderr);
}

#[tokio::test]
async fn sandbox_fork_bomb_is_contained_by_the_process_limit() {
    let code = "import os\nn = 0\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n            import time; time.sleep(30); os._exit(0)\n        n += 1\n    except OSError as e:\n        print('fork failed after', n, e.errno)\n        break\nelse:\n    print('forked', n)";
    let started = Instant::now();
    let output = run(code, "").await;
    assert!(output.stdout.starts_with("fork failed after"), "stdout {:?} stderr {:?}", output.stdout, output.stderr);
    let forked: u32 = output.stdout.split_whitespace().nth(3).and_then(|n| n.parse().ok()).expect("count");
    assert!(forked < 32, "{forked} children");
    assert!(started.elapsed() < Duration::from_secs(20), "children are killed with the group");
}

#[tokio::test]
async fn sandbox_two_gib_allocation_fails() {
    let output = run("x = bytearray(2 * 1024 ** 3)\nprint('allocated')", "").await;
    assert!(!output.stdout.contains("allocated"));
    assert!(output.stderr.contains("MemoryError"), "{}", output.stderr);
}

#[tokio::test]
async fn sandbox_socket_connect_to_loopback_is_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let code = format!(
        "import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('denied', e.errno)"
    );
    let output = run(&code, "").await;
    assert!(output.stdout.starts_with("denied"), "stdout {:?} stderr {:?}", output.stdout, output.stderr);
}

#[tokio::test]
async fn sandbox_environment_has_no_api_key() {
    // The test process itself has the key; the program must not see it.
    let output = tokio::time::timeout(Duration::from_secs(60), async {
        // SAFETY-free: set_var is unsafe in edition 2024, so check through a child env instead.
        sandbox().run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('CHUTES_API_KEY'))", "").await
    })
    .await
    .expect("in time")
    .expect("runs");
    assert!(output.stdout.ends_with("None\n"), "{}", output.stdout);
    assert!(!output.stdout.contains("CHUTES"), "{}", output.stdout);
    let via_helper = std::process::Command::new(env!("CARGO_BIN_EXE_af"))
        .env("CHUTES_API_KEY", "sk-must-not-leak")
        .args([
            "sandbox-exec",
            "--dir",
            "/tmp",
            "--cpu-secs",
            "5",
            "--address-space",
            "536870912",
            "--processes",
            "32",
            "--file-size",
            "1000",
            "--",
        ])
        .arg(crate::support::sandbox_python())
        .args(["-c", "import os; print(os.environ.get('CHUTES_API_KEY'))"])
        .output()
        .expect("run helper");
    assert_eq!(String::from_utf8_lossy(&via_helper.stdout), "None\n", "{}", String::from_utf8_lossy(&via_helper.stderr));
}

#[tokio::test]
async fn sandbox_writes_only_inside_its_directory() {
    let outside = tempfile::tempdir().expect("tempdir");
    // World-writable, so only the sandbox (not file permissions) can stop the write.
    std::fs::set_permissions(outside.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let target = outside.path().join("escaped.txt");
    let code = format!(
        "import os\nopen('inside.txt', 'w').write('ok')\nprint('inside', os.path.exists('inside.txt'))\ntry:\n    open({:?}, 'w').write('x')\n    print('outside written')\nexcept OSError as e:\n    print('outside denied', e.errno)",
        target.display().to_string()
    );
    let output = run(&code, "").await;
    assert!(output.stdout.contains("inside True"), "stdout {:?} stderr {:?}", output.stdout, output.stderr);
    assert!(output.stdout.contains("outside denied"), "stdout {:?} stderr {:?}", output.stdout, output.stderr);
    assert!(!target.exists());
}

#[tokio::test]
async fn sandbox_output_is_capped_at_one_megabyte() {
    let started = Instant::now();
    let output = run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", "").await;
    assert!(output.truncated);
    assert!(output.stdout.len() <= 1_000_000 + 32, "{}", output.stdout.len());
    assert!(output.stdout.ends_with("…<truncated>"));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn sandbox_sees_no_other_process_and_no_world_readable_host_file() {
    // A process outside the sandbox whose command line holds a marker, and a world-readable
    // file holding it too.
    let marker = format!("af-host-marker-{}", std::process::id());
    let mut outside = std::process::Command::new(crate::support::sandbox_python())
        .args(["-c", "import time; time.sleep(30)", &marker])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the outside process");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, &marker).expect("write");
    for path in [dir.path(), file.as_path()] {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    }
    let code = format!(
        "import os\nseen = []\ntry:\n    pids = [p for p in os.listdir('/proc') if p.isdigit()]\nexcept OSError as e:\n    pids = []\n    print('proc listing denied', e.errno)\n\
         for p in pids:\n    try:\n        seen.append(open('/proc/%s/cmdline' % p).read() + open('/proc/%s/environ' % p).read())\n    except OSError:\n        pass\n\
         print('processes', len(pids))\nprint('marker seen' if any({marker:?} in s for s in seen) else 'marker hidden')\n\
         try:\n    print(open({file:?}).read())\nexcept OSError as e:\n    print('file denied', e.errno)\n",
        file = file.display().to_string()
    );
    let output = run(&code, "").await;
    let _ = outside.kill();
    let _ = outside.wait();
    assert!(output.stdout.contains("marker hidden"), "{}\n{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("file denied"), "{}\n{}", output.stdout, output.stderr);
    assert!(!output.stdout.contains(&marker), "{}", output.stdout);
    if nix::unistd::Uid::effective().is_root() {
        // Its own PID namespace: the helper's init, the program, nothing else.
        assert!(output.stdout.contains("processes 2"), "{}", output.stdout);
    }
}
