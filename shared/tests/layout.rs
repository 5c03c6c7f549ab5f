//! The layout of `shared/src` is the architecture, and this test holds it:
//!
//! - `ingress/` (the producer's side) never uses `crate::delivery`;
//! - `delivery/` (the consumer's side) never uses `crate::ingress`;
//! - `contract/` (the queue message and dead letters, shared by both) and the plain helpers at the
//!   top (`text.rs`, `logging.rs`, `sentry.rs`) use neither side.
//!
//! Every `.rs` file is read line by line; comments are skipped, and any `crate::` path in code
//! counts (`use` lines, grouped `use crate::{…}` imports, and paths written inline), as well as
//! `super::` chains that climb to the crate root.

use std::path::{Path, PathBuf};

/// (folder or file under `shared/src`, the sides it must not use)
const RULES: &[(&str, &[&str])] = &[
    ("ingress", &["delivery"]),
    ("delivery", &["ingress"]),
    ("contract", &["ingress", "delivery"]),
    ("text.rs", &["ingress", "delivery"]),
    ("logging.rs", &["ingress", "delivery"]),
    ("sentry.rs", &["ingress", "delivery"]),
];

#[test]
fn each_side_uses_only_the_contract_and_the_helpers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut files_read = 0;
    for (place, forbidden) in RULES {
        for file in rust_files(&src.join(place)) {
            files_read += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            let module = module_path(&src, &file);
            for (line, side) in crossings(&text, &module, forbidden) {
                let shown =
                    Path::new("shared").join(file.strip_prefix(src.parent().unwrap()).unwrap());
                let shown = shown.display();
                problems.push(format!("{shown}:{line}: uses crate::{side}"));
            }
        }
    }
    assert!(
        files_read >= 20,
        "only {files_read} files found under {src:?}"
    );
    assert!(
        problems.is_empty(),
        "the sides of shared/src must meet only in contract/ and the helpers:\n{}",
        problems.join("\n")
    );
}

/// The scanner itself: it must catch every way of writing a crossing, and nothing else.
#[test]
fn the_scanner_catches_crossings() {
    let module = ["ingress".to_owned(), "envelope".to_owned()];
    let forbidden: &[&str] = &["delivery"];
    let lines = |text: &str| -> Vec<usize> {
        crossings(text, &module, forbidden)
            .into_iter()
            .map(|(line, _)| line)
            .collect()
    };
    assert_eq!(lines("use crate::delivery::policy::Decision;"), [1]);
    assert_eq!(lines("use crate::delivery;"), [1]);
    assert_eq!(
        lines("\n    let d = crate::delivery::policy::decide(r);"),
        [2]
    );
    assert_eq!(
        lines("use crate::{contract::message, delivery::email};"),
        [1]
    );
    assert_eq!(lines("use crate::{\n    contract,\n    delivery,\n};"), [3]);
    assert_eq!(lines("use super::super::delivery::when;"), [1]);
    assert_eq!(lines("pub(crate) use crate :: delivery :: when;"), [1]);
    // Allowed, or not code.
    assert!(lines("use crate::contract::message::BookingMessage;").is_empty());
    assert!(lines("use crate::contract::calcom::payload;").is_empty());
    assert!(lines("use crate::text::{hex_lower, truncate_bytes};").is_empty());
    assert!(lines("//! See [`crate::delivery`].\n/// crate::delivery::policy").is_empty());
    assert!(lines("let s = crate::deliveryman::x(); // crate::delivery").is_empty());
    assert!(lines("use super::delivery_note;").is_empty());
    assert!(
        lines("use super::delivery;").is_empty(),
        "ingress::delivery"
    );
}

/// Every `.rs` file at `path` (a file or a folder, recursively).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The module a file is, as path segments below the crate root (`contract/calcom/payload/mod.rs` →
/// `["ingress", "payload"]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut segments: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    segments
}

/// The 1-based lines of `text` whose code names one of the `forbidden` top-level modules.
fn crossings(text: &str, module: &[String], forbidden: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Inside a grouped `use crate::{ … }` spanning lines: the brace depth still open.
    let mut group_depth = 0usize;
    for (index, raw) in text.lines().enumerate() {
        let code = strip_comment(raw);
        let code: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
        let code = code
            .replace(" :: ", "::")
            .replace(":: ", "::")
            .replace(" ::", "::");
        let mut hit = |side: &str| {
            if forbidden.contains(&side) {
                found.push((index + 1, side.to_owned()));
            }
        };
        if group_depth > 0 {
            // Top-level names in the group: at depth 1, each item starts the line or follows `,`.
            for item in top_level_items(&code, &mut group_depth) {
                hit(&item);
            }
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            if at > 0 && is_ident_char(code[..at].chars().next_back().unwrap()) {
                continue; // e.g. `$crate::` is not ours, `my_crate::` is not a path to the root
            }
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                group_depth = 1;
                for item in top_level_items(group, &mut group_depth) {
                    hit(&item);
                }
            } else {
                hit(&leading_ident(rest));
            }
        }
        for (at, _) in code.match_indices("super::") {
            if at > 0 && is_ident_char(code[..at].chars().next_back().unwrap()) {
                continue;
            }
            let mut rest = &code[at..];
            let mut climbs = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                climbs += 1;
                rest = r;
            }
            if climbs >= module.len() {
                hit(&leading_ident(rest));
            }
        }
    }
    found
}

/// The names at brace depth 1 of a `use` group, reading `code` from inside the group; updates the
/// open depth (0 once the group closes).
fn top_level_items(code: &str, depth: &mut usize) -> Vec<String> {
    let mut items = Vec::new();
    let mut expecting = true;
    for (i, c) in code.char_indices() {
        match c {
            '{' => *depth += 1,
            '}' => {
                *depth -= 1;
                if *depth == 0 {
                    return items;
                }
            }
            ',' if *depth == 1 => expecting = true,
            c if c.is_whitespace() => {}
            _ if expecting && *depth == 1 => {
                items.push(leading_ident(&code[i..]));
                expecting = false;
            }
            _ => {}
        }
    }
    items
}

fn leading_ident(s: &str) -> String {
    s.chars().take_while(|&c| is_ident_char(c)).collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The line without its `//` comment (a `//` inside a string literal, such as a URL, is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            return &line[..i];
        }
    }
    line
}
