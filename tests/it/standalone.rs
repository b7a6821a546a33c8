//! The repository stands alone: nothing it builds, tests or documents reads the steering folder
//! beside a checkout, so a fresh clone passes its own tests.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else if path.extension().is_some_and(|ext| ["rs", "md", "sh", "toml", "yml", "yaml", "py", "example"].iter().any(|e| ext == *e))
            || path.file_name().is_some_and(|name| ["run", "setup", "boundaries", "Dockerfile"].iter().any(|n| name == *n))
        {
            out.push(path);
        }
    }
}

#[test]
fn nothing_reads_the_folder_beside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", ".ci", "docs", "examples", "deploy"] {
        if root.join(dir).is_dir() {
            files_under(&root.join(dir), &mut files);
        }
    }
    files.extend(["README.md", "CHANGELOG.md", "Cargo.toml", "Dockerfile", ".env.example"].iter().map(|f| root.join(f)));
    // Spelled in two halves so this file does not match itself.
    let needle = format!("../{}", "shared");
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| path.is_file())
        .filter(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(&needle)))
        .map(|path| path.strip_prefix(root).unwrap_or(path).display().to_string())
        .collect();
    assert!(offenders.is_empty(), "these files still read the folder beside the repository: {offenders:?}");
}

#[test]
fn the_fixtures_the_tests_need_are_in_the_repository() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures");
    for case in ["burn-half", "copycat-later-loses", "insufficient-samples", "mixed-32", "nobody-eligible", "tiny-all-eligible"] {
        assert!(fixtures.join("golden/scorer").join(format!("{case}.tar.gz")).is_file(), "missing scorer case {case}");
    }
    assert!(fixtures.join("golden/sat/reference-instances.jsonl.gz").is_file());
    assert!(fixtures.join("golden/signing/sign-data.jsonl").is_file());
}
