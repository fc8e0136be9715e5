//! The policy loader's public entry point, `Policies::load`, on a file whose content is the input: the first
//! byte picks `.json` (`j`) or `.yaml` (anything else), the rest is the file. This covers reading spanned YAML and
//! JSON (`signoff::source`), the expression parser (`policy::parse`) and every `rule_v2` condition in the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signoff::policy::Policies;

/// One folder for the whole run; each input overwrites the file.
fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&format, text)) = data.split_first() else { return };
    let path: PathBuf = dir().path().join(if format == b'j' { "policies.json" } else { "policies.yaml" });
    std::fs::write(&path, text).expect("write the policy file");
    match Policies::load(Some(&path)) {
        Ok(policies) => {
            for workflow in policies.iter() {
                let _ = format!("{:?}", workflow.expr);
            }
        }
        Err(diags) => {
            let shown = diags.to_string();
            assert!(!shown.is_empty(), "an error that says nothing");
        }
    }
});
