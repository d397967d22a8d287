//! The module graph stays layered: no import cycles between giot's top-level
//! modules (the agent, the policy, the fleet, the executor, discovery, the
//! registry, the market…), none between the planner's files, and the shared
//! types at the bottom import nothing from the crate.
//!
//! Read from the source: `crate::<module>` paths (also inside `use crate::{…}`
//! groups) outside comments and test code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments and without its test module.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers right after each `prefix` (`crate::` → module names),
/// including each first name of a `prefix{a, b::c}` group.
fn after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                names.insert(ident(item.trim()));
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.remove("");
    names
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// A cycle in `graph`, if there is one, as the path that closes it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(graph, n, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module → the top-level modules its code names.
fn crate_graph() -> Graph {
    let root = src();
    let modules: BTreeSet<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| stem(&e.unwrap().path()))
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph = Graph::new();
    for file in files.iter().filter(|f| stem(f) != "tests") {
        let rel = file.strip_prefix(&root).unwrap();
        let module = stem(Path::new(rel.components().next().unwrap().as_os_str()));
        if !modules.contains(&module) {
            continue;
        }
        let uses = after(&code(file), "crate::");
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(
            uses.into_iter()
                .filter(|m| modules.contains(m) && *m != module),
        );
    }
    graph
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let graph = crate_graph();
    assert!(graph.contains_key("agent") && graph["agent"].contains("registry"));
    assert_eq!(cycle(&graph), None, "an import cycle between modules");
}

#[test]
fn the_shared_types_import_nothing_from_the_crate() {
    let graph = crate_graph();
    assert_eq!(graph.get("types"), Some(&BTreeSet::new()));
    for layer in [
        "agent", "policy", "outcome", "fleet", "ledger", "session", "bridge",
    ] {
        assert!(graph[layer].contains("types"), "{layer} uses crate::types");
    }
}

#[test]
fn the_planners_files_import_each_other_without_cycles() {
    let dir = src().join("planner");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let names: BTreeSet<String> = files.iter().map(|f| stem(f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let code = code(file);
        let mut uses = after(&code, "super::");
        uses.extend(after(&code, "crate::planner::"));
        uses.retain(|u| names.contains(u) && *u != stem(file) && u != "mod");
        graph.insert(stem(file), uses);
    }
    assert!(graph["planners"].contains("diffusion"));
    assert_eq!(cycle(&graph), None, "an import cycle inside planner/");
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut graph = Graph::new();
    graph.insert("a".into(), ["b".to_string()].into());
    graph.insert("b".into(), ["c".to_string()].into());
    graph.insert("c".into(), ["a".to_string()].into());
    assert_eq!(cycle(&graph).map(|c| c.len()), Some(4));
    graph.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&graph), None);
}
