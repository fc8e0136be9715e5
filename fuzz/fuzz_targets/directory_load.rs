//! The directory loader: `directory::load` on a file whose content is the input (the first byte picks `.json`
//! for `j`, `.yaml` otherwise), and, for a first byte `p`, the rest as the SCIM-provisioned people document
//! (`load_documents_with`, `[directory] scim = true`) on top of the example directory.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use signoff::directory::{PROVISIONED, load, load_documents_with};
use signoff::source::{self, Format};

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
}

/// A small directory file for the provisioned document to override and refer to.
const BASE: &str = "users:\n  - id: ana@example.com\n    manager: raj@example.com\n  - id: raj@example.com\ngroups:\n  - id: ops\n    members: [ana@example.com]\nresources:\n  - id: db\n    admins: [ops]\n";

fuzz_target!(|data: &[u8]| {
    let Some((&format, rest)) = data.split_first() else { return };
    let result = if format == b'p' {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let base = source::parse_str(Arc::from(Path::new("base.yaml")), BASE, Format::Yaml).expect("the base parses");
        match source::parse_str(Arc::from(Path::new(PROVISIONED)), text, Format::Json) {
            Ok(doc) => load_documents_with(&[base, doc], true),
            Err(d) => Err(d.into()),
        }
    } else {
        let path: PathBuf = dir().path().join(if format == b'j' { "directory.json" } else { "directory.yaml" });
        std::fs::write(&path, rest).expect("write the directory file");
        load(&path)
    };
    match result {
        Ok(directory) => {
            let _ = format!("{directory:?}");
        }
        Err(diags) => assert!(!diags.to_string().is_empty(), "an error that says nothing"),
    }
});
