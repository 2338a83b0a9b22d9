//! The library's layers, enforced by reading its sources (ARCHITECTURE.md
//! explains them). Every top-level module of `src/` sits in one layer of
//! [`LAYERS`] and may name, through `crate::`, only modules of a lower
//! layer or of its own (the four concepts not even that: each stands
//! alone). No two top-level modules may reach each other, even through
//! others.
//!
//! [`DEBT`] lists the imports that still go up, each with what removing it
//! takes. The test fails on an upward import that is not listed, and on a
//! listed one that is gone, so the list can only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{rust_files, source_code};

/// The layers, lowest first, and the top-level modules in each.
const LAYERS: &[(&str, &[&str])] = &[
    ("util", &["util"]),
    ("crypto", &["crypto"]),
    ("concepts", &["exchange", "pki", "revocation", "symmetric"]),
    ("formats", &["formats"]),
    ("keys", &["keys"]),
    ("store", &["store"]),
    ("ca", &["ca"]),
    ("ops", &["ops"]),
    ("ui", &["ui"]),
    ("session", &["session"]),
];

/// The layer whose modules may not import each other.
const ALONE: &str = "concepts";

/// Imports that still break the rule: (from, to, what removing it takes).
/// Empty now: keep it so, and if an entry must come back, say here what
/// removing it takes.
const DEBT: &[(&str, &str, &str)] = &[];

/// The source folder.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules that `text` names through `crate::`, alone or in
/// a `crate::{a, b::c}` group.
fn named_modules(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item_start) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        names.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names
}

/// Each top-level module the library declares, and the files it is made of.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let lib = source_code(&src().join("lib.rs"));
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let line = line.trim();
        let Some(decl) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .or_else(|| line.strip_prefix("mod "))
        else {
            continue;
        };
        let name = decl.trim_end_matches(';').to_owned();
        let mut files = Vec::new();
        let file = src().join(format!("{name}.rs"));
        if file.is_file() {
            files.push(file);
        }
        files.extend(rust_files(&src().join(&name)));
        assert!(!files.is_empty(), "no source for module {name}");
        out.insert(name, files);
    }
    out
}

/// Which module imports which, within the library.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    modules
        .iter()
        .map(|(name, files)| {
            let named = files
                .iter()
                .flat_map(|f| named_modules(&source_code(f)))
                .filter(|m| m != name && modules.contains_key(m))
                .collect();
            (name.clone(), named)
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

#[test]
fn every_module_has_a_layer_and_the_table_names_only_modules() {
    let modules = modules();
    let missing: Vec<_> = modules.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        missing.is_empty(),
        "modules in no layer of tests/it/layers.rs: {missing:?}"
    );
    for (_, ms) in LAYERS {
        for m in *ms {
            assert!(
                modules.contains_key(*m),
                "the layer table names {m}, which lib.rs does not declare"
            );
        }
    }
}

#[test]
fn no_module_imports_a_higher_layer_beyond_the_listed_debt() {
    let mut wrong = Vec::new();
    let mut found_debt = BTreeSet::new();
    for (from, tos) in imports() {
        for to in tos {
            let (Some(lf), Some(lt)) = (layer_of(&from), layer_of(&to)) else {
                continue; // the test above reports it
            };
            let bad = lt > lf || (lt == lf && LAYERS[lf].0 == ALONE);
            if !bad {
                continue;
            }
            if DEBT.iter().any(|(f, t, _)| *f == from && *t == to) {
                found_debt.insert((from.clone(), to.clone()));
            } else {
                wrong.push(format!(
                    "{from} ({}) imports {to} ({})",
                    LAYERS[lf].0, LAYERS[lt].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that go up a layer (or between two concepts):\n{}",
        wrong.join("\n")
    );
    let paid: Vec<_> = DEBT
        .iter()
        .filter(|(f, t, _)| !found_debt.contains(&(f.to_string(), t.to_string())))
        .map(|(f, t, _)| format!("{f} -> {t}"))
        .collect();
    assert!(
        paid.is_empty(),
        "no longer imported, so remove from DEBT in tests/it/layers.rs: {paid:?}"
    );
}

#[test]
fn no_cycle_between_top_level_modules_beside_the_listed_debt() {
    let mut graph = imports();
    for (from, to, _) in DEBT {
        if let Some(tos) = graph.get_mut(*from) {
            tos.remove(*to);
        }
    }
    // Depth-first search; a module met again while still on the path
    // closes a cycle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_reader_finds_imports_in_every_form() {
    let text = "use crate::a::X;\nuse crate::{b, c::{D, e}};\n/// [`crate::f`]\ncrate::h::go(); // crate::g\n#[cfg(test)]\nmod tests {\n    use crate::i;\n}\n";
    let path = std::env::temp_dir().join(format!("layers-{}.rs", std::process::id()));
    fs::write(&path, text).unwrap();
    let found = named_modules(&source_code(&path));
    fs::remove_file(&path).unwrap();
    let want: BTreeSet<String> = ["a", "b", "c", "h"].iter().map(|s| s.to_string()).collect();
    assert_eq!(found, want);
}
