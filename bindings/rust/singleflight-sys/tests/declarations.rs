//! Checks that these declarations cover the installed `singleflight.h` and
//! `singleflight_binding.h`: every function the headers export (`SF_EXTERN(...) sf_name(`) has a
//! `pub fn sf_name(` here, and nothing is declared here that the header
//! does not export.

use std::collections::BTreeSet;

/// The names of the functions the header declares with `SF_EXTERN`.
fn header_functions(header: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = header;
    while let Some(at) = rest.find("SF_EXTERN(") {
        rest = &rest[at + "SF_EXTERN(".len()..];
        // The return type's closing parenthesis, then the name up to `(`.
        let Some(close) = rest.find(')') else { break };
        let after = rest[close + 1..].trim_start();
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if name.starts_with("sf_") {
            names.insert(name);
        }
    }
    names
}

/// The names of the functions declared in this crate's `extern "C"` block.
fn declared_functions(source: &str) -> BTreeSet<String> {
    source
        .split("pub fn ")
        .skip(1)
        .map(|s| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
        .filter(|n| n.starts_with("sf_"))
        .collect()
}

#[test]
fn every_header_function_is_declared() {
    let dir = std::path::Path::new(env!("SINGLEFLIGHT_HEADER_DIR"));
    let mut exported = BTreeSet::new();
    for name in ["singleflight.h", "singleflight_binding.h"] {
        let path = dir.join(name);
        let header = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        exported.extend(header_functions(&header));
    }
    let path = dir.join("singleflight.h and singleflight_binding.h");
    assert!(exported.contains("sf_join") && exported.len() > 20, "the header parse found {exported:?}");
    let declared = declared_functions(include_str!("../src/lib.rs"));
    let missing: Vec<_> = exported.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&exported).collect();
    assert!(missing.is_empty(), "declared in {} but not here: {missing:?}", path.display());
    assert!(extra.is_empty(), "declared here but not in {}: {extra:?}", path.display());
}
