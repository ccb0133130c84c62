//! The crate's layers, read from its source: the library runs no process
//! and reads no environment variable (config.rs aside), its server options
//! know nothing of clap, and the commands stay thin (no function in
//! `src/bin` over 60 lines, none calling another command's function).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The library's files (not `src/bin`), with their text.
fn library() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let bin = src().join("bin");
    files
        .into_iter()
        .filter(|p| !p.starts_with(&bin))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

#[test]
fn the_library_runs_no_process_and_reads_no_environment() {
    for (path, text) in library() {
        assert!(
            !text.contains("Command::new"),
            "{} runs a process",
            path.display()
        );
        if path.ends_with("config.rs") {
            continue;
        }
        for read in ["env::var", "var_os(", "Config::get"] {
            assert!(
                !text.contains(read),
                "{} reads the environment ({read}); take a &Config",
                path.display()
            );
        }
    }
    let options = std::fs::read_to_string(src().join("serve/options.rs")).unwrap();
    assert!(!options.contains("clap"), "serve::Options derives clap");
}

/// `(name, first line, lines)` of each function in `text`, as rustfmt lays
/// them out: from the `fn` line to the `}` at its indentation.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let rest = [
            "pub(crate) fn ",
            "pub fn ",
            "fn ",
            "async fn ",
            "pub async fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(rest) = rest else { continue };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let indent = &line[..line.len() - trimmed.len()];
        let close = format!("{indent}}}");
        if let Some(end) = (i..lines.len()).find(|&j| lines[j] == close) {
            out.push((name, i + 1, end - i + 1));
        }
    }
    out
}

#[test]
fn commands_are_thin() {
    let mut files = Vec::new();
    rust_files(&src().join("bin"), &mut files);
    let mut long = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for (name, line, n) in functions(&text) {
            if n > 60 {
                long.push(format!("{}:{line} {name} ({n} lines)", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over 60 lines:\n{}",
        long.join("\n")
    );

    // The counter counts: a function of 61 lines is found.
    let body = "    let x = 1;\n".repeat(59);
    let long_fn = format!("fn long() {{\n{body}}}\n");
    assert_eq!(functions(&long_fn), vec![("long".into(), 1, 61)]);

    // No command module calls another command's entry point
    // (`crate::train::train` from `serve.rs`, say).
    let dir = src().join("bin/mnist");
    let commands: Vec<String> = files
        .iter()
        .filter(|p| p.parent() == Some(dir.as_path()))
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .filter(|m| !["main", "args", "progress_bar", "shared"].contains(&m.as_str()))
        .collect();
    for path in files.iter().filter(|p| p.parent() == Some(dir.as_path())) {
        let me = path.file_stem().unwrap().to_str().unwrap();
        if me == "main" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for other in commands.iter().filter(|c| c.as_str() != me) {
            assert!(
                !text.contains(&format!("crate::{other}::")),
                "{me}.rs calls the {other} command"
            );
        }
    }
}
