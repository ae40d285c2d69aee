//! The import rules, tested: every `crate::` and `super::` path in the library's non-test code
//! (inline paths included) is checked against the layers drawn in `ARCHITECTURE.md`.
//!
//! The layers are read from the block after the `<!-- import-rules -->` marker in
//! ARCHITECTURE.md, so the drawing and the test cannot disagree. A module may import its own
//! row and the rows below it, never a row above; and no two top-level modules may import
//! each other (directly or through others). `app` never imports `fakes` (the app runs against
//! real services too: what it shares with the fakes is in the leaves `sql` and `wire`). Inside
//! `app`, the reference never imports the catalogue, and the traits and clients import neither.
//!
//! Test code may import anything (the simulator's tests run the reference in the world): a
//! module declared under `#[cfg(test)]` (its file, or its directory), and everything after a
//! `#[cfg(test)]` in a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Breach {
    file: String,
    line: usize,
    from: String,
    to: String,
    why: String,
}

/// The layers, top row first: each a list of top-level module names.
fn layers_from_architecture(text: &str) -> Result<Vec<Vec<String>>, String> {
    let start = text
        .find("<!-- import-rules -->")
        .ok_or("ARCHITECTURE.md has no `<!-- import-rules -->` marker")?;
    let rest = &text[start..];
    let open = rest
        .find("```")
        .ok_or("no code block after the import-rules marker")?;
    let body = &rest[open + 3..];
    let body = &body[body.find('\n').ok_or("unterminated block")? + 1..];
    let close = body.find("```").ok_or("unterminated import-rules block")?;
    let mut layers = Vec::new();
    for line in body[..close].lines() {
        let modules = line.split("  ").next().unwrap_or("").trim();
        if modules.is_empty() {
            continue;
        }
        layers.push(modules.split(',').map(|m| m.trim().to_string()).collect());
    }
    if layers.len() < 3 {
        return Err(format!(
            "the import-rules block has {} rows; expected the layers",
            layers.len()
        ));
    }
    Ok(layers)
}

/// The module path of a source file: `sim/world.rs` → `[sim, world]`, `sim/mod.rs` → `[sim]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The unit a rule talks about: the top-level module, or `app::<child>` inside `app`.
fn unit_of(path: &[String]) -> Option<String> {
    let top = path.first()?;
    if top == "app" {
        return Some(match path.get(1) {
            Some(child) => format!("app::{child}"),
            None => "app".to_string(),
        });
    }
    Some(top.clone())
}

fn top_of(unit: &str) -> &str {
    unit.split("::").next().unwrap_or(unit)
}

/// The files of modules declared under `#[cfg(test)]` (`#[cfg(test)] mod tests;` in
/// `sim/mod.rs` → `sim/tests.rs` or `sim/tests/`), relative to `src/`.
fn test_module_paths(files: &[(PathBuf, String)]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (relative, source) in files {
        let own = module_path(relative);
        let dir: PathBuf = own.iter().collect();
        let mut after_cfg_test = false;
        for line in source.lines() {
            let line = line.trim();
            if line.starts_with("#[cfg(test)]") {
                after_cfg_test = true;
                continue;
            }
            if after_cfg_test {
                let declared = line
                    .strip_prefix("pub mod ")
                    .or_else(|| line.strip_prefix("pub(crate) mod "))
                    .or_else(|| line.strip_prefix("mod "))
                    .and_then(|rest| rest.strip_suffix(';'));
                if let Some(name) = declared {
                    out.push(dir.join(format!("{name}.rs")));
                    out.push(dir.join(name));
                }
            }
            after_cfg_test = false;
        }
    }
    out
}

fn is_test_file(relative: &Path, test_modules: &[PathBuf]) -> bool {
    relative == Path::new("import_rules.rs") || test_modules.iter().any(|m| relative.starts_with(m))
}

/// Every (line, target module path) the file's non-test code imports.
fn imports(source: &str, own: &[String]) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (index, raw) in source.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("");
        if raw.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        for (at, _) in line.match_indices("crate::") {
            if at > 0 && line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `racehound_crate::`, `$crate::`
            }
            let path = idents(&line[at + "crate::".len()..]);
            if !path.is_empty() {
                found.push((index + 1, path));
            }
        }
        for (at, _) in line.match_indices("super::") {
            if at > 0 && line[..at].ends_with("super::") {
                continue; // counted from the first `super::`
            }
            if at > 0 && line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut rest = &line[at..];
            let mut base = own.to_vec();
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            let mut path = base;
            path.extend(idents(rest));
            found.push((index + 1, path));
        }
    }
    found
}

/// The leading `a::b::c` identifiers of `text`.
fn idents(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    out
}

/// Checks `files` (path relative to `src/`, source) against `layers` (top row first).
fn check(files: &[(PathBuf, String)], layers: &[Vec<String>]) -> Vec<Breach> {
    let row_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(row, modules)| modules.iter().map(move |m| (m.as_str(), layers.len() - row)))
        .collect();
    let mut breaches = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut first_site: BTreeMap<(String, String), (String, usize)> = BTreeMap::new();
    let test_modules = test_module_paths(files);
    for (relative, source) in files {
        if is_test_file(relative, &test_modules) {
            continue;
        }
        let own = module_path(relative);
        let Some(from) = unit_of(&own) else { continue };
        let file = relative.display().to_string();
        if !row_of.contains_key(top_of(&from)) {
            breaches.push(Breach {
                file: file.clone(),
                line: 0,
                from: from.clone(),
                to: String::new(),
                why: "this module is in no layer of ARCHITECTURE.md's import rules".to_string(),
            });
            continue;
        }
        for (line, target) in imports(source, &own) {
            let Some(to) = unit_of(&target) else { continue };
            let (from_top, to_top) = (top_of(&from), top_of(&to));
            let Some(&to_row) = row_of.get(to_top) else {
                continue;
            }; // a local item, not a module
            let from_row = row_of[from_top];
            let mut breach = |why: String| {
                breaches.push(Breach {
                    file: file.clone(),
                    line,
                    from: from.clone(),
                    to: to.clone(),
                    why,
                })
            };
            if to_row > from_row {
                breach(format!(
                    "`{from_top}` may not import `{to_top}`, a layer above it"
                ));
            }
            if from_top == "app" && to_top == "fakes" {
                breach(
                    "`app` may not import `fakes`: it runs against real services too (hint: share the \
                        type through the leaves `sql` or `wire`)"
                        .to_string(),
                );
            }
            if from_top == "app" && from != to {
                let forbidden = match from.as_str() {
                    "app::reference" => to == "app::strategies",
                    "app::kit" => to == "app::strategies" || to == "app::reference",
                    "app::api" | "app::clients" => {
                        to == "app::strategies" || to == "app::reference" || to == "app::kit"
                    }
                    _ => false,
                };
                if forbidden {
                    breach(format!("`{from}` may not import `{to}`"));
                }
            }
            if from_top != to_top {
                edges
                    .entry(from_top.to_string())
                    .or_default()
                    .insert(to_top.to_string());
                first_site
                    .entry((from_top.to_string(), to_top.to_string()))
                    .or_insert((file.clone(), line));
            }
        }
    }
    // No cycle between top-level modules, even inside one row.
    for (from, tos) in &edges {
        for to in tos {
            if reaches(&edges, to, from) {
                let (file, line) = first_site[&(from.clone(), to.clone())].clone();
                breaches.push(Breach {
                    file,
                    line,
                    from: from.clone(),
                    to: to.clone(),
                    why: format!("`{from}` and `{to}` import each other (a cycle)"),
                });
            }
        }
    }
    breaches.sort();
    breaches.dedup();
    breaches
}

/// Whether `to` is reachable from `from` along `edges` (bounded by the number of modules).
fn reaches(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(at) = stack.pop() {
        if at == to {
            return true;
        }
        if !seen.insert(at.clone()) || seen.len() > 1_000 {
            continue;
        }
        if let Some(next) = edges.get(&at) {
            stack.extend(next.iter().cloned());
        }
    }
    false
}

/// Every `.rs` file under `dir`, relative to `root`, sorted.
fn sources(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).expect("under src/").to_path_buf();
            out.push((relative, std::fs::read_to_string(&path).expect("read source")));
        }
    }
}

fn render(breaches: &[Breach]) -> String {
    breaches
        .iter()
        .map(|b| format!("src/{}:{}: {} → {}: {}", b.file, b.line, b.from, b.to, b.why))
        .collect::<Vec<_>>()
        .join("\n")
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture_layers() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(manifest_dir().join("ARCHITECTURE.md")).expect("read ARCHITECTURE.md");
    layers_from_architecture(&text).expect("ARCHITECTURE.md's import rules")
}

#[test]
fn every_import_in_the_library_follows_the_layers_of_architecture_md() {
    let src = manifest_dir().join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    // The binary's files (`main.rs`, `cli.rs`) are another crate: `crate::` there is the binary.
    files.retain(|(path, _)| path != Path::new("main.rs") && path != Path::new("cli.rs"));
    assert!(files.len() > 100, "found only {} source files", files.len());
    let breaches = check(&files, &architecture_layers());
    assert!(
        breaches.is_empty(),
        "imports that break ARCHITECTURE.md's rules (hint: move the shared item down a layer, or \
         change the drawing if the design changed):\n{}",
        render(&breaches)
    );
}

/// Every `pub` struct, enum or type alias name and the files that define it (`sync.rs`
/// defines its locks twice on purpose: std or loom, one per build).
fn public_type_definitions(files: &[(PathBuf, String)]) -> BTreeMap<String, Vec<String>> {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (relative, source) in files {
        if relative == Path::new("sync.rs") {
            continue;
        }
        for line in source.lines() {
            let line = line.trim_start();
            let rest = [
                "pub struct ",
                "pub enum ",
                "pub type ",
                "pub(crate) struct ",
                "pub(crate) enum ",
            ]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix));
            if let Some(rest) = rest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names
                    .entry(name)
                    .or_default()
                    .push(relative.display().to_string());
            }
        }
    }
    names
}

#[test]
fn no_type_name_is_defined_twice() {
    let src = manifest_dir().join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    let twice: Vec<String> = public_type_definitions(&files)
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(name, at)| format!("{name}: {}", at.join(", ")))
        .collect();
    assert!(
        twice.is_empty(),
        "type names defined more than once (hint: one vocabulary type, or a name that says whose it is):\n{}",
        twice.join("\n")
    );
}

#[test]
fn a_type_defined_in_two_files_is_found() {
    let files = vec![
        (PathBuf::from("a.rs"), "pub enum Service {\n}\n".to_string()),
        (
            PathBuf::from("b/c.rs"),
            "    pub struct Service(u8);\npub struct Other;\n".to_string(),
        ),
    ];
    let names = public_type_definitions(&files);
    assert_eq!(names["Service"], vec!["a.rs".to_string(), "b/c.rs".to_string()]);
    assert_eq!(names["Other"].len(), 1);
}

#[test]
fn a_forbidden_import_in_the_fixture_is_reported_with_its_line() {
    let fixture = std::fs::read_to_string(manifest_dir().join("tests/fixtures/import_rules/forbidden.rs"))
        .expect("read the fixture");
    let files = vec![(PathBuf::from("fakes/stripe/forbidden.rs"), fixture)];
    let breaches = check(&files, &architecture_layers());
    let text = render(&breaches);
    assert!(
        text.contains(
            "src/fakes/stripe/forbidden.rs:6: fakes → sim: `fakes` may not import `sim`, a layer above it"
        ),
        "{text}"
    );
    assert!(
        text.contains("src/fakes/stripe/forbidden.rs:9: fakes → explore"),
        "the inline path is read too: {text}"
    );
    // Below the `#[cfg(test)]`, test code may import anything.
    assert_eq!(breaches.len(), 2, "{text}");
}

#[test]
fn the_reference_may_not_import_the_catalogue() {
    let files = vec![(
        PathBuf::from("app/reference/mod.rs"),
        "use crate::app::strategies::registry;\nuse super::kit::ensure_customer;\n".to_string(),
    )];
    let text = render(&check(&files, &architecture_layers()));
    assert!(text.contains("app::reference → app::strategies"), "{text}");
    assert!(!text.contains("app::kit"), "the kit is allowed: {text}");
}

#[test]
fn the_app_may_not_import_the_fakes_but_its_tests_may() {
    let files = vec![
        (
            PathBuf::from("app/clients.rs"),
            "use crate::fakes::stripe::webhook;\nuse crate::wire::svix;\n".to_string(),
        ),
        (
            PathBuf::from("app/mod.rs"),
            "#[cfg(test)]\nmod tests;\npub mod clients;\n".to_string(),
        ),
        (
            PathBuf::from("app/tests.rs"),
            "use crate::fakes::stripe::Stripe;\n".to_string(),
        ),
    ];
    let breaches = check(&files, &architecture_layers());
    let text = render(&breaches);
    assert!(
        text.contains("src/app/clients.rs:1: app::clients → fakes: `app` may not import `fakes`"),
        "{text}"
    );
    assert_eq!(breaches.len(), 1, "{text}");
}

#[test]
fn two_modules_importing_each_other_are_a_cycle_even_in_one_row() {
    let layers = vec![vec!["a".to_string(), "b".to_string()], vec!["leaf".to_string()]];
    let files = vec![
        (
            PathBuf::from("a/mod.rs"),
            "use crate::b::x;\nuse crate::leaf::y;\n".to_string(),
        ),
        (
            PathBuf::from("b/mod.rs"),
            "fn f() { crate::a::z(); }\n".to_string(),
        ),
    ];
    let text = render(&check(&files, &layers));
    assert!(text.contains("`a` and `b` import each other"), "{text}");
    assert!(text.contains("`b` and `a` import each other"), "{text}");
    assert!(!text.contains("leaf"), "{text}");
}

#[test]
fn super_paths_resolve_from_the_files_module() {
    assert_eq!(
        imports(
            "use super::faults::Fault;\n",
            &module_path(Path::new("sim/world.rs"))
        ),
        vec![(
            1,
            vec!["sim".to_string(), "faults".to_string(), "Fault".to_string()]
        )]
    );
    assert_eq!(
        imports("use super::sim::x;\n", &module_path(Path::new("explore/mod.rs"))),
        vec![(1, vec!["sim".to_string(), "x".to_string()])]
    );
}
