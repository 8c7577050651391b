//! House rules that a reader relies on: every Rust source file opens with a `//!` comment saying
//! what it owns, and the boundaries `ARCHITECTURE.md` draws between parts hold in the imports.

use std::path::Path;

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_a_module_doc_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let undocumented: Vec<_> = files
        .iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(undocumented.is_empty(), "files without a //! doc comment: {undocumented:?}");
}

/// The files under `dir` (relative to the crate) whose text contains `needle`.
fn files_mentioning(dir: &str, needle: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let start = root.join(dir);
    if start.is_file() {
        files.push(start)
    } else {
        rust_files(&start, &mut files)
    }
    files
        .iter()
        .filter(|path| std::fs::read_to_string(path).unwrap().contains(needle))
        .map(|path| path.strip_prefix(root).unwrap().display().to_string())
        .collect()
}

#[test]
fn the_workflows_commands_import_each_other_one_way_only() {
    // `workflows.rs` dispatches to the instances and schedules groups; they share only the
    // client, the output and the group's error, never the dispatcher.
    for file in ["src/cli/instances.rs", "src/cli/schedules.rs"] {
        assert_eq!(files_mentioning(file, "super::workflows"), Vec::<String>::new());
    }
    assert_eq!(files_mentioning("src/cli/instances.rs", "super::schedules"), Vec::<String>::new());
    assert_eq!(files_mentioning("src/cli/schedules.rs", "super::instances"), Vec::<String>::new());
}

#[test]
fn the_engine_does_not_hand_out_its_store() {
    // Each part that needs the store gets its own handle from `cli/dev.rs`; the engine's store
    // is the engine's.
    assert_eq!(files_mentioning("src/engine/mod.rs", "pub fn store("), Vec::<String>::new());
    assert_eq!(files_mentioning("src", ".store()."), Vec::<String>::new());
}

#[test]
fn the_parts_meet_in_the_model_not_in_each_other() {
    // Statuses, errors, instances and steps live in `model.rs`: the store and the JS runtime
    // need nothing of the engine, and the API reads models, not store rows.
    assert_eq!(files_mentioning("src/store", "crate::engine"), Vec::<String>::new());
    assert_eq!(files_mentioning("src/js", "crate::engine"), Vec::<String>::new());
    // Durable Objects' storage is the host's (`src/durable`): the JS side never opens SQLite.
    assert_eq!(files_mentioning("src/js", "rusqlite"), Vec::<String>::new());
    assert_eq!(files_mentioning("src/api", "crate::store"), Vec::<String>::new());
    assert_eq!(files_mentioning("src/model.rs", "use crate::"), vec!["src/model.rs".to_owned()]);
    let model = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model.rs")).unwrap();
    let imports: Vec<&str> = model.lines().filter(|line| line.starts_with("use crate::")).collect();
    assert_eq!(imports, ["use crate::ids::StepKey;"], "the model is a leaf beside the ids");
    // How outputs are stored and shown is a leaf too: the engine and the API both read it.
    assert_eq!(files_mentioning("src/outputs.rs", "crate::"), Vec::<String>::new());
}

#[test]
fn the_decider_does_no_io_takes_no_lock_and_reads_no_clock() {
    for needle in
        ["Store", "rusqlite", "tokio", "Mutex", "RwLock", "Clock", "SystemTime", "Instant", "std::fs", "tracing"]
    {
        assert_eq!(files_mentioning("src/engine/decider.rs", needle), Vec::<String>::new(), "{needle}");
    }
}
