//! The layers of the daemon, read from its `use` lines and paths: the pure core imports
//! nothing else; the store and the ledger build on the core; the application layer on the
//! ledger; the bus on the application layer; the service ties everything together; and no two
//! top-level modules import from each other in a circle (in particular bus, service and
//! config, which once did). The crates of the workspace are layered too: the rules crate has
//! no async runtime, bus or database in its dependency tree, and contractctl no database or
//! netlink, read from `cargo tree`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

// `core` is the rules crate (crates/rules), re-exported under its old name: the daemon's
// modules still name it `crate::core`, which counts as an import of the bottom layer.
const MODULES: [&str; 8] = [
    "core", "store", "ledger", "app", "source", "config", "bus", "service",
];

fn module_of(path: &Path, src: &Path) -> Option<&'static str> {
    let relative = path.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs");
    MODULES.iter().copied().find(|m| *m == name)
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which top-level modules each module refers to (`crate::X`), ignoring itself.
fn graph() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut graph: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for path in all {
        let Some(from) = module_of(&path, &src) else {
            continue;
        };
        // Code only: a doc comment may point at another layer.
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for to in MODULES {
            if to != from && text.contains(&format!("crate::{to}")) {
                graph.entry(from).or_default().insert(to);
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let graph = graph();
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("store", &["core"][..]),
        ("ledger", &["core", "store"][..]),
        ("source", &["core"][..]),
        ("config", &["core", "source"][..]),
        ("app", &["core", "ledger", "store", "source"][..]),
        (
            "bus",
            &["core", "ledger", "store", "source", "config", "app"][..],
        ),
    ]);
    for (module, uses) in &graph {
        let Some(allowed) = allowed.get(module) else {
            continue;
        };
        for used in uses {
            assert!(
                allowed.contains(used),
                "{module} imports from {used}; it may import only from {allowed:?}"
            );
        }
    }
}

#[test]
fn no_two_modules_import_from_each_other_in_a_circle() {
    let graph = graph();
    // Depth-first search for a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            panic!("an import circle: {:?} → {node}", &path[at..]);
        }
        if done.contains(node) {
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

/// The names of every package in `package`'s normal dependency tree (build scripts' too),
/// read with `cargo tree` from the lock file, offline.
fn dependency_tree(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = std::process::Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(
        tree.contains(package),
        "{package} is not in its own tree: {tree:?}"
    );
    tree
}

fn assert_tree_lacks(package: &str, forbidden: &[&str]) {
    let tree = dependency_tree(package);
    let found: Vec<&String> = tree
        .iter()
        .filter(|name| {
            forbidden
                .iter()
                .any(|bad| name.as_str() == *bad || name.starts_with(&format!("{bad}-")))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{package} must build without {forbidden:?}, but its tree holds {found:?}"
    );
}

#[test]
fn the_rules_crate_has_no_runtime_bus_or_database() {
    assert_tree_lacks(
        "learning-contracts-rules",
        &[
            "tokio",
            "zbus",
            "rusqlite",
            "libsqlite3-sys",
            "async-io",
            "async-executor",
        ],
    );
}

#[test]
fn contractctl_has_no_database_or_netlink() {
    assert_tree_lacks(
        "contractctl",
        &[
            "rusqlite",
            "libsqlite3-sys",
            "rtnetlink",
            "netlink",
            "netlink-sys",
            "netlink-packet-route",
            "netlink-packet-core",
            "netlink-proto",
            "learning-contractsd",
        ],
    );
}

#[test]
fn the_client_crate_has_no_database_netlink_or_daemon() {
    assert_tree_lacks(
        "learning-contracts-client",
        &[
            "rusqlite",
            "libsqlite3-sys",
            "rtnetlink",
            "netlink-sys",
            "learning-contractsd",
        ],
    );
}
