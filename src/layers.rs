//! The layer rule, checked: a module of the library imports only modules of lower layers (or
//! of its own). ARCHITECTURE.md states the same table; change both together.

use std::collections::BTreeSet;
use std::path::Path;

/// Layers from the bottom; a module may import any module of a lower layer.
const LAYERS: &[&[&str]] = &[
    &[
        "diagnostic",
        "error",
        "output",
        "server_series",
        "settings",
        "template",
        "values",
    ],
    &["results"],
    &["scenario"],
    &[
        "plan",
        "sla",
        "compare",
        "planning",
        "capacity",
        "scrape",
        "health",
        "reachability",
    ],
    &["history", "merge", "recorder"],
    &["driver", "progress", "stack"],
    &["shard"],
    &["run"],
    &["step_runner", "report"],
    &["commands"],
];

/// Imports against the rule that are still there, each to be removed (none now: keep it so).
const KNOWN_UPWARD: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `crate::X` paths in the code of every file below `dir` (comments and test modules left
/// out), by the top-level module the file belongs to.
fn imports(src: &Path) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).expect("below src");
            let first = rel.components().next().expect("a component");
            let top = first.as_os_str().to_string_lossy();
            let top = top.trim_end_matches(".rs").to_owned();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if matches!(top.as_str(), "main" | "lib" | "cli" | "layers" | "testing")
                || matches!(name.as_deref(), Some("tests.rs" | "testing.rs"))
                || path.extension().is_none_or(|e| e != "rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for (i, _) in line.match_indices("crate::") {
                    let target: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if target != top && !target.is_empty() {
                        found.insert((top.clone(), target));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut known_seen = BTreeSet::new();
    for (from, to) in imports(&src) {
        let (Some(a), Some(b)) = (layer_of(&from), layer_of(&to)) else {
            wrong.push(format!("`{from}` or `{to}` has no layer: add it to LAYERS"));
            continue;
        };
        if b < a {
            continue;
        }
        if KNOWN_UPWARD.contains(&(from.as_str(), to.as_str())) {
            known_seen.insert((from, to));
            continue;
        }
        wrong.push(format!("`{from}` (layer {a}) imports `{to}` (layer {b})"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A known exception that is gone must leave the list too.
    for (from, to) in KNOWN_UPWARD {
        assert!(
            known_seen.contains(&((*from).to_owned(), (*to).to_owned())),
            "`{from}` no longer imports `{to}`: remove it from KNOWN_UPWARD"
        );
    }
}
