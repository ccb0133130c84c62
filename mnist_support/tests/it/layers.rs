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

/// The first segments of the paths after each `prefix` (`crate::`,
/// `super::`) in `code`, groups included: `use crate::{a, b::c};` gives a
/// and b.
fn path_heads(code: &str, prefix: &str) -> Vec<String> {
    fn ident(s: &str) -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    }
    fn group(s: &str, out: &mut Vec<String>) {
        // `s` starts after `{`: the names at depth 0 up to the matching `}`.
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    out.push(ident(s[start..i].trim_start()));
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(ident(s[start..i].trim_start()));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mnist_support::`, `my_super::`
        }
        let rest = &code[i + prefix.len()..];
        match rest.strip_prefix('{') {
            Some(g) => group(g, &mut out),
            None => out.push(ident(rest)),
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

/// A file's code without its comments (doc links may point anywhere).
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The library's top-level modules: `src/<m>.rs` and `src/<m>/`.
fn top_modules() -> std::collections::BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_stem()?.to_str()?.to_string();
            let module = p.is_dir() || p.extension().is_some_and(|x| x == "rs");
            (module && name != "bin" && name != "lib").then_some(name)
        })
        .collect()
}

/// docs/architecture.md's layer drawing: each library module and its layer
/// (0 at the bottom). A line's layer is the modules it starts with.
fn documented_layers() -> std::collections::BTreeMap<String, usize> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let doc = std::fs::read_to_string(doc).unwrap();
    let start = doc
        .find("```text\n")
        .expect("architecture.md draws the layers")
        + 8;
    let drawing = &doc[start..start + doc[start..].find("```").unwrap()];
    let modules = top_modules();
    let lines: Vec<Vec<String>> = drawing
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|w| w.trim_end_matches('/').trim_end_matches(".rs").to_string())
                .take_while(|w| modules.contains(w) || w.starts_with("bin"))
                .filter(|w| modules.contains(w))
                .collect::<Vec<String>>()
        })
        .filter(|names| !names.is_empty())
        .collect();
    let mut layers = std::collections::BTreeMap::new();
    for (layer, names) in lines.iter().rev().enumerate() {
        for name in names {
            let again = layers.insert(name.clone(), layer);
            assert!(again.is_none(), "{name} is drawn twice in architecture.md");
        }
    }
    let missing: Vec<&String> = modules
        .iter()
        .filter(|m| !layers.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "architecture.md's layers miss {missing:?}"
    );
    layers
}

/// `(module, file, modules it uses)` for every library file: `module` is
/// its top-level module, the uses are the other top-level modules its code
/// names by `crate::` paths.
fn uses_by_file() -> Vec<(String, PathBuf, std::collections::BTreeSet<String>)> {
    let modules = top_modules();
    library()
        .into_iter()
        .filter(|(p, _)| !p.ends_with("lib.rs"))
        .map(|(path, text)| {
            let rel = path.strip_prefix(src()).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap();
            let me = first.trim_end_matches(".rs").to_string();
            let uses = path_heads(&code_of(&text), "crate::")
                .into_iter()
                .filter(|m| modules.contains(m) && *m != me)
                .collect();
            (me, path, uses)
        })
        .collect()
}

#[test]
fn no_import_points_up_the_documented_layers() {
    // The parser finds what a file uses.
    assert_eq!(
        path_heads(
            "use crate::{a, b::{c, d}, self};\nlet x = crate::e::f();\nmnist_support::g",
            "crate::"
        ),
        ["a", "b", "e"]
    );
    let layers = documented_layers();
    let mut up = Vec::new();
    let mut edges = std::collections::BTreeSet::new();
    for (me, path, uses) in uses_by_file() {
        for other in uses {
            if layers[&other] > layers[&me] {
                up.push(format!(
                    "{} ({me}, layer {}) uses {other} (layer {})",
                    path.display(),
                    layers[&me],
                    layers[&other]
                ));
            }
            edges.insert((me.clone(), other));
        }
    }
    assert!(
        edges.contains(&("serve".into(), "models".into())),
        "the server's use of the models was not found: the search is broken"
    );
    assert!(up.is_empty(), "imports pointing up:\n{}", up.join("\n"));
    let mutual: Vec<_> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .collect();
    assert!(mutual.is_empty(), "modules using each other: {mutual:?}");
}

#[test]
fn no_two_files_of_a_folder_use_each_other() {
    // A sibling is named as `super::x` or by its full `crate::` path.
    let mut edges = std::collections::BTreeSet::new();
    for (path, text) in library() {
        let dir = path.parent().unwrap().to_path_buf();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        if stem == "mod" || dir == src() {
            continue;
        }
        let code = code_of(&text);
        let module_path: Vec<String> = dir
            .strip_prefix(src())
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_str().unwrap().to_string())
            .collect();
        let full = format!("crate::{}::", module_path.join("::"));
        let mut named = path_heads(&code, "super::");
        named.extend(path_heads(&code, &full));
        for sibling in named {
            let is_file = dir.join(format!("{sibling}.rs")).exists() || dir.join(&sibling).is_dir();
            if is_file && sibling != stem {
                edges.insert((dir.join(&stem), dir.join(&sibling)));
            }
        }
    }
    assert!(
        !edges.is_empty(),
        "no sibling use found: the search is broken"
    );
    let mutual: Vec<_> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", a.display(), b.display()))
        .collect();
    assert!(
        mutual.is_empty(),
        "files using each other:\n{}",
        mutual.join("\n")
    );
}

/// The crates named in the first column of docs/architecture.md's
/// dependency table, outside parentheses, each with whether its row says
/// it is not used.
fn documented_dependencies() -> Vec<(String, bool)> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let doc = std::fs::read_to_string(doc).unwrap();
    let table = &doc[doc.find("## Dependencies").expect("a dependency table")..];
    let mut out = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| ")).skip(1) {
        let cells: Vec<&str> = row.split('|').collect();
        let (first, what) = (cells[1], cells[2]);
        let mut depth = 0;
        let outside: String = first
            .chars()
            .filter(|&c| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => return depth == 0,
                }
                false
            })
            .collect();
        let unused = what.contains("not used");
        for name in outside.split([',', '+']) {
            if let Some(word) = name.split_whitespace().next() {
                out.push((word.to_string(), unused));
            }
        }
    }
    out
}

/// The crate's dependencies in Cargo.toml, normal and dev.
fn manifest_dependencies() -> std::collections::BTreeSet<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut section = String::new();
    let mut out = std::collections::BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if section.ends_with("dependencies]") && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                out.insert(name.trim().to_string());
            }
        }
    }
    out
}

#[test]
fn the_dependency_table_names_what_cargo_toml_holds() {
    let documented = documented_dependencies();
    let manifest = manifest_dependencies();
    assert!(manifest.contains("ndarray") && documented.iter().any(|(n, _)| n == "ndarray"));
    let stale: Vec<&String> = documented
        .iter()
        .filter(|(name, unused)| !unused && !manifest.contains(name))
        .map(|(name, _)| name)
        .collect();
    assert!(
        stale.is_empty(),
        "documented but not in Cargo.toml: {stale:?}"
    );
    let undocumented: Vec<&String> = manifest
        .iter()
        .filter(|name| !documented.iter().any(|(n, _)| n == *name))
        .filter(|name| !["mnist_setup", "libc", "tempfile", "socket2"].contains(&name.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "in Cargo.toml but not in architecture.md's dependency table: {undocumented:?}"
    );
}

#[test]
fn the_module_table_names_every_module_and_only_files_that_exist() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let doc = std::fs::read_to_string(doc).unwrap();
    let start = doc.find("| module | what |").expect("a module table");
    let table: Vec<&str> = doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let firsts: Vec<String> = table
        .iter()
        .map(|row| row.split('|').nth(1).unwrap().to_string())
        .collect();
    for m in top_modules() {
        let named = firsts
            .iter()
            .any(|f| f.contains(&format!("`{m}.rs`")) || f.contains(&format!("`{m}/")));
        assert!(named, "architecture.md's module table has no row for {m}");
    }
    // Every `name.rs` the table mentions is a file of the crate (its
    // library, tests or setup crate): renamed files do not linger in the docs.
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    rust_files(&root.join("setup/src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let names: std::collections::BTreeSet<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    let mut gone = Vec::new();
    for row in &table {
        for word in row.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '/'))
        {
            let file = word.rsplit('/').next().unwrap();
            if file.ends_with(".rs") && !names.contains(file) {
                gone.push(word.to_string());
            }
        }
    }
    assert!(
        gone.is_empty(),
        "the module table names files that do not exist: {gone:?}"
    );
}
