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

/// The module path of a source file: `store::versions` for
/// `src/store/versions.rs`, `ca` for `src/ca/mod.rs`.
fn module_path(file: &Path) -> String {
    let rel = file.strip_prefix(root().join("src")).unwrap();
    let rel = rel.to_str().unwrap().trim_end_matches(".rs");
    rel.trim_end_matches("/mod").replace('/', "::")
}

/// The files a name in ARCHITECTURE.md's third column sends a reader to: a
/// module (`session`, `keys::unlock`), a function in a module
/// (`store::versions::add_version_with`), or a function or type defined
/// somewhere (`store_asymmetric_keys`, `AsymmetricVersion::unlock`).
fn files_named(word: &str) -> Vec<PathBuf> {
    let segments: Vec<&str> = word.split("::").collect();
    let ends_with = |file: &Path, path: &[&str]| {
        let module = module_path(file);
        let module: Vec<&str> = module.split("::").collect();
        module.ends_with(path)
    };
    let as_module: Vec<PathBuf> = sources()
        .into_iter()
        .filter(|f| ends_with(f, &segments))
        .collect();
    if !as_module.is_empty() {
        return as_module;
    }
    let (last, parent) = segments.split_last().unwrap();
    let in_module: Vec<PathBuf> = sources()
        .into_iter()
        .filter(|f| !parent.is_empty() && ends_with(f, parent))
        .filter(|f| defined_in(last, std::slice::from_ref(f)))
        .collect();
    if !in_module.is_empty() {
        return in_module;
    }
    let defined = segments[0];
    sources()
        .into_iter()
        .filter(|f| defined_in(defined, std::slice::from_ref(f)))
        .collect()
}

/// Each caller that ARCHITECTURE.md's third column names is real code that
/// calls one of the functions its row names, and every seed function of
/// that table has a row in the README's code map that sends a reader to
/// the same file: the two maps say the same.
#[test]
fn the_two_maps_agree_and_name_real_callers() {
    let arch = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let readme_rows = table_after(&readme, "## The original, side by side");
    let mut problems = Vec::new();
    for row in table_after(&arch, "## The original's functions") {
        let file = format!("src/{}", backticked(row[1])[0]);
        let seeds = backticked(row[0]);
        let named: Vec<&str> = seeds
            .iter()
            .copied()
            .chain(backticked(row[2]))
            .filter(|w| is_name(w))
            .collect();
        for seed in &seeds {
            let in_readme = readme_rows.iter().any(|r| {
                backticked(r[1]).contains(&file.as_str()) && backticked(r[2]).contains(seed)
            });
            if !in_readme {
                problems.push(format!("{seed} ({file}) is not in the README's code map"));
            }
        }
        let words: Vec<&str> = backticked(row[2])
            .into_iter()
            .filter(|w| is_name(w) || w.contains("::"))
            .filter(|w| !seeds.contains(w))
            .collect();
        let calls_word = |files: &[PathBuf], word: &str| {
            let last = word.rsplit("::").next().unwrap();
            files
                .iter()
                .any(|f| !calls(&source_code(f), last).is_empty())
        };
        for &caller in &words {
            let files = files_named(caller);
            // A function the row names beside its callers ("`check_not_revoked`
            // from `keys::unlock`") is a callee, not a caller.
            let callee = words
                .iter()
                .any(|w| *w != caller && calls_word(&files_named(w), caller));
            if callee {
                continue;
            }
            let calls_one = files.iter().any(|f| {
                let text = source_code(f);
                named
                    .iter()
                    .filter(|n| **n != caller)
                    .any(|n| !calls(&text, n.rsplit("::").next().unwrap()).is_empty())
            });
            if files.is_empty() {
                problems.push(format!("{caller} names no code"));
            } else if !calls_one {
                problems.push(format!("{caller} ({files:?}) calls none of {named:?}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md and the README disagree, or name a caller that is not one:\n{}",
        problems.join("\n")
    );
    // The resolver itself: a module, a function in a module, and a name
    // that is nowhere.
    assert_eq!(
        files_named("keys::unlock"),
        [root().join("src/keys/unlock.rs")]
    );
    assert_eq!(
        files_named("store::versions::add_version_with"),
        [root().join("src/store/versions.rs")]
    );
    assert!(files_named("no_such_caller").is_empty());
}
