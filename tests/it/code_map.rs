//! The README's code map ("The original, side by side") and
//! ARCHITECTURE.md's table of the original's functions name real code:
//! each function or type they name is defined in the file they send a
//! reader to, and the program uses it outside tests, so that a student who
//! follows the map reads what runs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{rust_files, source_code};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, the binary's too.
fn sources() -> Vec<PathBuf> {
    rust_files(&root().join("src"))
}

/// The backticked words of a table cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn is_name(word: &str) -> bool {
    let mut parts = word.split("::");
    parts.all(|p| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    }) && word.split("::").count() <= 2
}

/// The rows of the markdown table that follows `heading` in `doc`: each
/// row's cells.
fn table_after<'a>(doc: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

/// Whether `name` (a function, a type, or `Type::method`) is defined in
/// one of `files`.
fn defined_in(name: &str, files: &[PathBuf]) -> bool {
    let last = name.rsplit("::").next().unwrap();
    let forms = [
        format!("fn {last}("),
        format!("fn {last}<"),
        format!("struct {last} "),
        format!("struct {last}<"),
        format!("enum {last} "),
        format!("trait {last} "),
    ];
    files.iter().any(|f| {
        forms
            .iter()
            .any(|form| source_code(f).contains(form.as_str()))
    })
}

/// The module path's last segment of a source file: `audit` for
/// `src/store/audit.rs`, `store` for `src/store/mod.rs`.
fn module_of(file: &Path) -> String {
    let stem = file.file_stem().unwrap().to_str().unwrap();
    if stem == "mod" {
        file.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    } else {
        stem.to_owned()
    }
}

/// What stands before each call of `function` in `text` (`fn` lines and
/// longer names that end the same way left out).
fn calls<'a>(text: &'a str, function: &str) -> Vec<&'a str> {
    text.match_indices(&format!("{function}("))
        .map(|(at, _)| &text[..at])
        .filter(|before| {
            !before.ends_with("fn ")
                && !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect()
}

/// Whether `text` imports `function` from module `module` (in a `use` line,
/// or in a `module::{..}` group).
fn imports(text: &str, module: &str, function: &str) -> bool {
    let path = format!("{module}::");
    let line_import = text
        .lines()
        .any(|l| l.trim_start().starts_with("use ") && l.contains(&path) && l.contains(function));
    line_import || text.contains(&format!("{module}::{{")) && text.contains(function)
}

/// Whether the program uses `name`, defined in one of `files`, outside
/// tests: a type named in another file; a method (`Type::method`) called on
/// any value or path; a function called in its own file, through its
/// module (`audit::verify(`), or imported from it and called as itself.
fn used(name: &str, files: &[PathBuf]) -> bool {
    let last = name.rsplit("::").next().unwrap();
    let modules: Vec<String> = files.iter().map(|f| module_of(f)).collect();
    sources().iter().any(|src| {
        let text = source_code(src);
        let own = files.contains(src);
        if last.starts_with(|c: char| c.is_ascii_uppercase()) {
            return !own && text.contains(last);
        }
        let before = calls(&text, last);
        if name.contains("::") {
            return before.iter().any(|b| b.ends_with('.') || b.ends_with("::"));
        }
        before.iter().any(|b| {
            own || modules.iter().any(|m| {
                b.ends_with(&format!("{m}::")) || !b.ends_with('.') && imports(&text, m, last)
            })
        })
    })
}

fn check_row(files: &[PathBuf], names: &[&str], problems: &mut Vec<String>) {
    for name in names {
        if !defined_in(name, files) {
            problems.push(format!("{name} is not defined in {files:?}"));
        } else if !used(name, files) {
            problems.push(format!("{name} ({files:?}) is not used outside tests"));
        }
    }
}

#[test]
fn every_function_the_readme_code_map_names_exists_and_runs() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let rows = table_after(&readme, "## The original, side by side");
    assert!(rows.len() >= 10, "the table has {} rows", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        let files: Vec<PathBuf> = backticked(row[1])
            .into_iter()
            .map(|f| root().join(f))
            .collect();
        assert!(!files.is_empty(), "a row names no file: {row:?}");
        for f in &files {
            assert!(
                f.is_file(),
                "the README names {}, which is not there",
                f.display()
            );
        }
        let names: Vec<&str> = backticked(row[2])
            .into_iter()
            .filter(|w| is_name(w))
            .collect();
        check_row(&files, &names, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "README.md's code map:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_seed_function_of_architecture_md_exists_and_runs() {
    let doc = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let rows = table_after(&doc, "## The original's functions");
    let mut problems = Vec::new();
    let mut seen = 0;
    for row in &rows {
        let files: Vec<PathBuf> = backticked(row[1])
            .into_iter()
            .map(|f| root().join("src").join(f))
            .collect();
        let names: Vec<&str> = backticked(row[0]);
        seen += names.len();
        check_row(&files, &names, &mut problems);
    }
    // The original's sixteen functions.
    assert_eq!(seen, 16, "ARCHITECTURE.md's table names {seen} functions");
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's table:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_refuse_a_name_that_is_not_there_or_never_runs() {
    let symmetric = [root().join("src/symmetric.rs")];
    assert!(defined_in("generate_symmetric_key", &symmetric));
    assert!(used("generate_symmetric_key", &symmetric));
    assert!(!defined_in("no_such_function", &symmetric));
    // Defined, but only tests and doc examples call it.
    let key_store = [root().join("src/keys/key_store.rs")];
    assert!(defined_in("add_symmetric", &key_store));
    assert!(!used("add_symmetric", &key_store));
}
