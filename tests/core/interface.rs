//! The bus interface's source of truth is `dbus/org.learningcontracts.*.xml`, edited by hand.
//! From it follow, and are checked here:
//!
//! - the client crate's proxies (`crates/client/src/proxies.rs`) are generated from the XML:
//!   after an interface change, run `UPDATE_CLIENT_PROXIES=1 cargo test --test core interface::` and
//!   commit the result; a stale file fails;
//! - no member, argument, type or error name of a frozen release (`dbus/frozen/vN/`) is
//!   removed or changed (additions pass);
//! - every interface change adds an entry to NEWS.md (the entry carries the interface's
//!   fingerprint);
//! - no name is a keyword in Rust or Python, and the error names the daemon uses are the
//!   ones `dbus/errors.txt` lists and the client maps.
//!
//! The daemon's live introspection is compared with the same files in tests/bus_introspection.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One argument: its name (empty when the XML gives none), type and direction.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Arg {
    name: String,
    ty: String,
    out: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Method,
    Signal,
    Property,
}

/// A method, signal or property, with the XML comment before it as its documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Member {
    kind: Kind,
    name: String,
    args: Vec<Arg>,
    /// For properties: the type and the access.
    property: Option<(String, String)>,
    doc: String,
}

#[derive(Clone, Debug, Default)]
struct Interface {
    name: String,
    doc: String,
    members: Vec<Member>,
}

/// The comment just before `node` among its siblings (whitespace between them allowed).
fn comment_before(node: roxmltree::Node) -> String {
    let mut previous = node.prev_sibling();
    while let Some(sibling) = previous {
        if sibling.is_comment() {
            return sibling
                .text()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
        }
        if sibling.is_element() {
            return String::new();
        }
        previous = sibling.prev_sibling();
    }
    String::new()
}

/// The interfaces of every `org.learningcontracts.*.xml` in `dir`, by name.
fn read_interfaces(dir: &Path) -> BTreeMap<String, Interface> {
    let mut interfaces = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("org.learningcontracts.") && name.ends_with(".xml")
        })
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for interface in parse_interfaces(&text, &path.display().to_string()) {
            interfaces.insert(interface.name.clone(), interface);
        }
    }
    interfaces
}

fn parse_interfaces(text: &str, source: &str) -> Vec<Interface> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let document = roxmltree::Document::parse_with_options(text, options)
        .unwrap_or_else(|err| panic!("{source}: {err}"));
    let mut out = Vec::new();
    for node in document
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("interface"))
    {
        let mut interface = Interface {
            name: node.attribute("name").unwrap().to_string(),
            doc: comment_before(node),
            members: Vec::new(),
        };
        for child in node.children().filter(|n| n.is_element()) {
            let kind = match child.tag_name().name() {
                "method" => Kind::Method,
                "signal" => Kind::Signal,
                "property" => Kind::Property,
                _ => continue,
            };
            let args = child
                .children()
                .filter(|n| n.has_tag_name("arg"))
                .map(|arg| Arg {
                    name: arg.attribute("name").unwrap_or_default().to_string(),
                    ty: arg.attribute("type").unwrap().to_string(),
                    out: kind == Kind::Method && arg.attribute("direction") == Some("out"),
                })
                .collect();
            let property = (kind == Kind::Property).then(|| {
                (
                    child.attribute("type").unwrap().to_string(),
                    child.attribute("access").unwrap().to_string(),
                )
            });
            interface.members.push(Member {
                kind,
                name: child.attribute("name").unwrap().to_string(),
                args,
                property,
                doc: comment_before(child),
            });
        }
        out.push(interface);
    }
    out
}

/// The error names of an errors file: the first word of each line that is not a comment.
fn read_errors(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().next().unwrap().to_string())
        .collect()
}

// ---- the generator of the client's proxies ----

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The Rust type a value of this signature is read into.
fn rust_out(signature: &str) -> String {
    match signature {
        "b" => "bool".into(),
        "y" => "u8".into(),
        "u" => "u32".into(),
        "t" => "u64".into(),
        "x" => "i64".into(),
        "s" => "String".into(),
        "a{sv}" => "HashMap<String, OwnedVariant>".into(),
        _ if signature.starts_with('(') && signature.ends_with(')') => {
            let inner = &signature[1..signature.len() - 1];
            let fields: Vec<String> = split_signature(inner).iter().map(|s| rust_out(s)).collect();
            format!("({})", fields.join(", "))
        }
        _ if signature.starts_with('a') => format!("Vec<{}>", rust_out(&signature[1..])),
        _ => panic!("the generator does not know the signature {signature}; teach it"),
    }
}

/// The Rust type an argument of this signature is passed as.
fn rust_in(signature: &str) -> String {
    match signature {
        "s" => "&str".into(),
        "a{sv}" => "&HashMap<&str, Variant<'_>>".into(),
        "as" => "&[&str]".into(),
        "aa{sv}" => "&[HashMap<&str, Variant<'_>>]".into(),
        "b" | "y" | "u" | "t" | "x" => rust_out(signature),
        _ => panic!("the generator does not know the argument signature {signature}; teach it"),
    }
}

/// Splits a run of complete types (the inside of a struct) into its types.
fn split_signature(signature: &str) -> Vec<String> {
    let bytes = signature.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        i = end_of_type(bytes, i);
        out.push(signature[start..i].to_string());
    }
    out
}

fn end_of_type(bytes: &[u8], at: usize) -> usize {
    match bytes[at] {
        b'a' => end_of_type(bytes, at + 1),
        open @ (b'(' | b'{') => {
            let close = if open == b'(' { b')' } else { b'}' };
            let mut i = at + 1;
            while bytes[i] != close {
                i = end_of_type(bytes, i);
            }
            i + 1
        }
        _ => at + 1,
    }
}

fn doc_lines(doc: &str, indent: &str, out: &mut String) {
    for line in doc.lines() {
        let _ = writeln!(out, "{indent}/// {line}");
    }
}

/// The proxies' source, generated from the interfaces.
fn generate_proxies(interfaces: &BTreeMap<String, Interface>) -> String {
    let mut out = String::from(
        "// Generated from dbus/org.learningcontracts.*.xml by tests/core/interface.rs: do not edit.\n\
         // Change the XML, then run `UPDATE_CLIENT_PROXIES=1 cargo test --test core interface::`.\n\
         \n\
         //! Typed proxies for the daemon's seven interfaces, one trait per interface (zbus makes\n\
         //! `<Name>Proxy` of each), generated from the interface files so they cannot drift.\n\
         \n\
         use std::collections::HashMap;\n\
         use zbus::{OwnedVariant, Variant};\n",
    );
    for interface in interfaces.values() {
        let short = interface.name.rsplit('.').next().unwrap();
        out.push('\n');
        doc_lines(&interface.doc, "", &mut out);
        let _ = writeln!(
            out,
            "#[zbus::proxy(\n    interface = \"{}\",\n    default_service = \"org.learningcontracts.Daemon1\",\n    default_path = \"/org/learningcontracts/Daemon1\"\n)]\npub trait {short} {{",
            interface.name
        );
        let mut first = true;
        for member in &interface.members {
            if !first {
                out.push('\n');
            }
            first = false;
            doc_lines(&member.doc, "    ", &mut out);
            let rust_name = snake_case(&member.name);
            match member.kind {
                Kind::Method => {
                    let _ = writeln!(out, "    #[zbus(name = \"{}\")]", member.name);
                    let inputs: Vec<String> = member
                        .args
                        .iter()
                        .filter(|a| !a.out)
                        .map(|a| format!("{}: {}", a.name, rust_in(&a.ty)))
                        .collect();
                    let outputs: Vec<String> = member
                        .args
                        .iter()
                        .filter(|a| a.out)
                        .map(|a| rust_out(&a.ty))
                        .collect();
                    let output = match outputs.len() {
                        0 => "()".to_string(),
                        1 => outputs[0].clone(),
                        _ => format!("({})", outputs.join(", ")),
                    };
                    let mut params = vec!["&self".to_string()];
                    params.extend(inputs);
                    let _ = writeln!(
                        out,
                        "    fn {rust_name}({}) -> zbus::Result<{output}>;",
                        params.join(", ")
                    );
                }
                Kind::Signal => {
                    let _ = writeln!(out, "    #[zbus(signal, name = \"{}\")]", member.name);
                    let mut params = vec!["&self".to_string()];
                    params.extend(
                        member
                            .args
                            .iter()
                            .map(|a| format!("{}: {}", a.name, rust_out(&a.ty))),
                    );
                    let _ = writeln!(
                        out,
                        "    fn {rust_name}({}) -> zbus::Result<()>;",
                        params.join(", ")
                    );
                }
                Kind::Property => {
                    let (ty, access) = member.property.clone().unwrap();
                    assert_eq!(access, "read", "only read-only properties are generated");
                    let _ = writeln!(out, "    #[zbus(property, name = \"{}\")]", member.name);
                    let _ = writeln!(
                        out,
                        "    fn {rust_name}(&self) -> zbus::Result<{}>;",
                        rust_out(&ty)
                    );
                }
            }
        }
        out.push_str("}\n");
    }
    out
}

#[test]
fn the_client_proxies_are_generated_from_the_xml() {
    let interfaces = read_interfaces(&root().join("dbus"));
    assert_eq!(interfaces.len(), 7, "{:?}", interfaces.keys());
    let generated = generate_proxies(&interfaces);
    let path = root().join("crates/client/src/proxies.rs");
    if std::env::var_os("UPDATE_CLIENT_PROXIES").is_some() {
        std::fs::write(&path, &generated).unwrap();
        // rustfmt owns the layout of the committed file.
        let status = std::process::Command::new("rustfmt")
            .args(["--edition", "2024"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let formatted = rustfmt(&generated);
    assert!(
        committed == formatted,
        "crates/client/src/proxies.rs is not what dbus/*.xml generates: run `UPDATE_CLIENT_PROXIES=1 cargo test --test core interface::` and commit it"
    );
}

/// `text` as rustfmt lays it out.
fn rustfmt(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("rustfmt runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "rustfmt failed on the generated proxies"
    );
    String::from_utf8(output.stdout).unwrap()
}

// ---- frozen releases ----

/// What removing or changing a frozen release's members, arguments, types or errors breaks,
/// one line each; empty when `current` keeps all of `frozen` (additions pass).
fn incompatibilities(
    frozen: &BTreeMap<String, Interface>,
    frozen_errors: &BTreeSet<String>,
    current: &BTreeMap<String, Interface>,
    current_errors: &BTreeSet<String>,
) -> Vec<String> {
    let mut broken = Vec::new();
    for (name, old) in frozen {
        let Some(new) = current.get(name) else {
            broken.push(format!("interface {name} was removed"));
            continue;
        };
        for member in &old.members {
            let what = format!("{:?} {name}.{}", member.kind, member.name).to_lowercase();
            match new
                .members
                .iter()
                .find(|m| m.kind == member.kind && m.name == member.name)
            {
                None => broken.push(format!("{what} was removed")),
                Some(now) => {
                    if now.args != member.args {
                        broken.push(format!(
                            "{what} changed its arguments from {} to {}",
                            show_args(&member.args),
                            show_args(&now.args)
                        ));
                    }
                    if now.property != member.property {
                        broken.push(format!(
                            "{what} changed from {:?} to {:?}",
                            member.property, now.property
                        ));
                    }
                }
            }
        }
    }
    for error in frozen_errors.difference(current_errors) {
        broken.push(format!("error {error} was removed or renamed"));
    }
    broken
}

fn show_args(args: &[Arg]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|a| format!("{}{} {}", if a.out { "out " } else { "" }, a.ty, a.name))
        .collect();
    format!("({})", shown.join(", "))
}

fn frozen_releases() -> Vec<PathBuf> {
    let mut releases: Vec<PathBuf> = std::fs::read_dir(root().join("dbus/frozen"))
        .expect("dbus/frozen holds the frozen releases")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    releases.sort();
    releases
}

#[test]
fn no_member_argument_type_or_error_of_a_frozen_release_changes() {
    let current = read_interfaces(&root().join("dbus"));
    let current_errors = read_errors(&root().join("dbus/errors.txt"));
    let releases = frozen_releases();
    assert!(
        releases.iter().any(|r| r.ends_with("v1")),
        "dbus/frozen/v1 is missing"
    );
    for release in releases {
        let frozen = read_interfaces(&release);
        assert_eq!(
            frozen.len(),
            7,
            "{}: {:?}",
            release.display(),
            frozen.keys()
        );
        let broken = incompatibilities(
            &frozen,
            &read_errors(&release.join("errors.txt")),
            &current,
            &current_errors,
        );
        assert!(
            broken.is_empty(),
            "dbus/*.xml breaks the frozen release {}:\n  {}\nA released member never changes: add a new member (or a new interface version) instead.",
            release.display(),
            broken.join("\n  ")
        );
    }
}

/// The v1 release's files with `edit` applied to one of them, read as interfaces.
fn v1_edited(file: &str, from: &str, to: &str) -> BTreeMap<String, Interface> {
    let v1 = root().join("dbus/frozen/v1");
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&v1).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == file {
            assert!(text.contains(from), "{file} does not hold {from}");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(copy.path().join(path.file_name().unwrap()), text).unwrap();
    }
    read_interfaces(copy.path())
}

#[test]
fn the_frozen_check_fails_when_a_copy_changes_a_frozen_member() {
    let v1 = root().join("dbus/frozen/v1");
    let frozen = read_interfaces(&v1);
    let errors = read_errors(&v1.join("errors.txt"));
    assert!(incompatibilities(&frozen, &errors, &frozen, &errors).is_empty());

    let cases = [
        // A changed argument type.
        (
            "org.learningcontracts.Enforcement1.xml",
            r#"<arg name="memory_class" type="y" direction="in"/>"#,
            r#"<arg name="memory_class" type="u" direction="in"/>"#,
            "method org.learningcontracts.enforcement1.recallgate changed its arguments",
        ),
        // A renamed argument.
        (
            "org.learningcontracts.Sessions1.xml",
            r#"<arg name="session_id" type="s" direction="in"/>"#,
            r#"<arg name="id" type="s" direction="in"/>"#,
            "changed its arguments",
        ),
        // A removed method.
        (
            "org.learningcontracts.Contracts1.xml",
            r#"<method name="Summarize">"#,
            r#"<method name="Summary">"#,
            "method org.learningcontracts.contracts1.summarize was removed",
        ),
        // A changed property type.
        (
            "org.learningcontracts.Audit1.xml",
            r#"<property name="HeadSeq" type="t" access="read"/>"#,
            r#"<property name="HeadSeq" type="u" access="read"/>"#,
            "property org.learningcontracts.audit1.headseq changed",
        ),
        // A changed signal.
        (
            "org.learningcontracts.Boundary1.xml",
            r#"<arg name="reason" type="s"/>
    </signal>"#,
            r#"</signal>"#,
            "signal org.learningcontracts.boundary1.modeswitched changed its arguments",
        ),
    ];
    for (file, from, to, expected) in cases {
        let current = v1_edited(file, from, to);
        let broken = incompatibilities(&frozen, &errors, &current, &errors);
        assert!(
            broken
                .iter()
                .any(|line| line.to_lowercase().contains(expected)),
            "changing {from} to {to} in {file} was not caught: {broken:?}"
        );
    }

    // An addition passes.
    let added = v1_edited(
        "org.learningcontracts.Daemon1.xml",
        r#"<method name="Reload">"#,
        r#"<method name="Ping"/>
    <method name="Reload">"#,
    );
    assert!(incompatibilities(&frozen, &errors, &added, &errors).is_empty());

    // A removed error name.
    let mut fewer = errors.clone();
    assert!(fewer.remove("org.learningcontracts.Error.NotFound"));
    let broken = incompatibilities(&frozen, &errors, &frozen, &fewer);
    assert_eq!(
        broken,
        ["error org.learningcontracts.Error.NotFound was removed or renamed"]
    );
}

// ---- NEWS.md ----

/// A fingerprint of everything the frozen check compares: interfaces, members, arguments,
/// types and error names (documentation and layout do not count).
fn fingerprint(interfaces: &BTreeMap<String, Interface>, errors: &BTreeSet<String>) -> String {
    let mut text = String::new();
    for interface in interfaces.values() {
        let _ = writeln!(text, "interface {}", interface.name);
        let mut members: Vec<&Member> = interface.members.iter().collect();
        members.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        for member in members {
            let _ = writeln!(
                text,
                "{:?} {} {} {:?}",
                member.kind,
                member.name,
                show_args(&member.args),
                member.property
            );
        }
    }
    for error in errors {
        let _ = writeln!(text, "error {error}");
    }
    // FNV-1a, 64 bits: enough to notice a change, and no dependency.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[test]
fn every_interface_change_has_an_entry_in_news() {
    let current = fingerprint(
        &read_interfaces(&root().join("dbus")),
        &read_errors(&root().join("dbus/errors.txt")),
    );
    let news = std::fs::read_to_string(root().join("NEWS.md")).unwrap();
    let marker = format!("Interface fingerprint: `{current}`");
    assert!(
        news.contains(&marker),
        "the bus interface changed: add an entry to NEWS.md saying what changed for agents, and end it with the line\n{marker}"
    );
}

// ---- names and errors ----

const RUST_KEYWORDS: [&str; 51] = [
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

const PYTHON_KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

#[test]
fn no_member_or_argument_name_is_a_keyword_in_rust_or_python() {
    let mut found = Vec::new();
    for interface in read_interfaces(&root().join("dbus")).values() {
        for member in &interface.members {
            let names = std::iter::once(snake_case(&member.name))
                .chain(member.args.iter().map(|a| a.name.clone()));
            for name in names {
                if RUST_KEYWORDS.contains(&name.as_str())
                    || PYTHON_KEYWORDS.contains(&name.as_str())
                {
                    found.push(format!("{}.{}: {name}", interface.name, member.name));
                }
            }
        }
    }
    assert!(found.is_empty(), "names that are keywords: {found:?}");
}

/// The error names the daemon's code can answer with, read from its sources.
fn errors_in_daemon_sources() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("src/bus")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for prefix in [
            "org.learningcontracts.Error.",
            "org.freedesktop.DBus.Error.",
        ] {
            for (at, _) in text.match_indices(prefix) {
                let rest = &text[at + prefix.len()..];
                let end = rest
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(rest.len());
                if end > 0 {
                    names.insert(format!("{prefix}{}", &rest[..end]));
                }
            }
        }
    }
    // Names the daemon only recognizes from the bus itself, never sends.
    names.remove("org.freedesktop.DBus.Error.ServiceUnknown");
    names.remove("org.freedesktop.DBus.Error.NameHasNoOwner");
    names
}

#[test]
fn the_errors_file_lists_the_errors_the_daemon_sends_and_the_client_maps_them_all() {
    let listed = read_errors(&root().join("dbus/errors.txt"));
    let sent = errors_in_daemon_sources();
    assert_eq!(
        listed, sent,
        "dbus/errors.txt must list exactly the error names src/bus sends"
    );
    for name in &listed {
        let error = learning_contracts_client::Error::from_name(name, "message");
        assert_eq!(
            error.name(),
            Some(name.as_str()),
            "the client maps {name} to {error:?}, not to its own variant"
        );
        assert!(
            !matches!(error, learning_contracts_client::Error::Other { .. }),
            "the client has no variant for {name}"
        );
    }
}

/// The client cannot depend on the daemon, so it keeps its own copy of the batch limit and
/// the check names; they must be the daemon's.
#[test]
fn the_clients_batch_limit_and_check_names_are_the_daemons() {
    use learning_contracts_client::CheckKind as ClientKind;
    assert_eq!(
        learning_contracts_client::MAX_BATCH,
        learning_contracts::bus::args::BATCH_MAX
    );
    let kinds = [
        (
            ClientKind::MemoryCreation,
            learning_contracts::core::CheckKind::MemoryCreation,
        ),
        (
            ClientKind::Abstraction,
            learning_contracts::core::CheckKind::Abstraction,
        ),
        (
            ClientKind::Recall,
            learning_contracts::core::CheckKind::Recall,
        ),
        (
            ClientKind::Export,
            learning_contracts::core::CheckKind::Export,
        ),
    ];
    for (client, daemon) in kinds {
        assert_eq!(
            learning_contracts::core::CheckKind::from_name(client.batch_name()),
            Some(daemon),
            "{client:?}"
        );
    }
}
