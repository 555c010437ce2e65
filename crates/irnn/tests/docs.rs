//! The documentation does not drift from the repository: every relative
//! Markdown link and every repository path cited in a Markdown file or a
//! Rust comment names a file or folder that exists, and nothing cites the
//! founders' design note, which is not in the repository.

use std::path::{Path, PathBuf};

/// Folders a repository path can start with.
const ROOTS: [&str; 6] = [
    "crates/",
    "docs/",
    "bench/",
    "fixtures/",
    "examples/",
    ".ci/",
];

/// Generated or local folders: cited (as outputs), never committed.
const GENERATED: [&str; 4] = ["bench/.venv", "target", "checkpoints", "logs"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.md` and `.rs` file of the repository, outside generated folders.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !(name.starts_with('.') && name != ".ci") && name != "target" {
                sources(&path, out);
            }
        } else if name.ends_with(".md") || name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The targets of `[text](target)` links.
fn markdown_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            links.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    links
}

/// Repository paths cited in `text`: a token starting with one of
/// [`ROOTS`] at a word boundary, up to the first character that cannot be
/// part of a path.
fn cited_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let bytes = text.as_bytes();
    for root in ROOTS {
        let mut from = 0;
        while let Some(i) = text[from..].find(root) {
            let at = from + i;
            from = at + root.len();
            let before = at.checked_sub(1).map(|j| bytes[j]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)) {
                continue;
            }
            let end = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "/._-+".contains(c)))
                .map_or(text.len(), |e| at + e);
            let path = text[at..end].trim_end_matches(['.', '/']);
            if path.len() > root.len() {
                paths.push(path.to_string());
            }
        }
    }
    paths
}

#[test]
fn every_link_and_cited_file_exists() {
    let root = repo();
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 50, "found only {} sources", files.len());
    let mut missing = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        // The founders' design note lives outside the repository.
        let outside = concat!("DESIGN", ".md");
        if text.contains(outside) {
            missing.push(format!(
                "{shown}: cites {outside}, which is not in the repository"
            ));
        }
        if shown.ends_with(".md") {
            for link in markdown_links(&text) {
                let target = link.split('#').next().unwrap_or_default();
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                if !file.parent().unwrap().join(target).exists() {
                    missing.push(format!("{shown}: link to {link}"));
                }
            }
        }
        for path in cited_paths(&text) {
            if GENERATED.iter().any(|g| path.starts_with(g)) {
                continue;
            }
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!("{shown}: cites {path}"));
            }
        }
    }
    println!(
        "checked {checked} links and cited paths in {} files",
        files.len()
    );
    assert!(checked > 20, "only {checked} links and paths found");
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}

#[test]
fn the_scanners_find_what_they_should() {
    assert_eq!(
        markdown_links("see [a](docs/NUMERICS.md) and [b](https://x.y/z)"),
        ["docs/NUMERICS.md", "https://x.y/z"]
    );
    assert_eq!(
        cited_paths("in `crates/irnn/src/main.rs`, docs/FORMAT.md. not target/crates/x"),
        ["crates/irnn/src/main.rs", "docs/FORMAT.md"]
    );
}
