//! A catalog built in memory from a directory and a policy text, for the criterion benchmarks that run the engine.

use std::path::Path;
use std::sync::Arc;

use signoff::catalog::{Catalog, Settings};
use signoff::diag::Diagnostics;
use signoff::directory;
use signoff::policy::Policies;
use signoff::source::{self, Format};

fn or_panic<T>(r: Result<T, Diagnostics>) -> T {
    r.unwrap_or_else(|d| panic!("benchmark input is invalid:\n{d}"))
}

/// The built-in workflows plus `policies_yaml`, over the directory `directory_yaml`; panics on invalid input.
pub fn catalog(directory_yaml: &str, policies_yaml: &str) -> Catalog {
    let file: Arc<Path> = Arc::from(Path::new("bench-directory.yaml"));
    let doc = source::parse_str(file, directory_yaml, Format::Yaml).expect("directory YAML parses");
    let directory = or_panic(directory::load_documents(&[doc]));
    let mut policies = Policies::builtin();
    let file: Arc<Path> = Arc::from(Path::new("bench-policies.yaml"));
    let doc = source::parse_str(file, policies_yaml, Format::Yaml).expect("policy YAML parses");
    let mut diags = Diagnostics::new();
    policies.add_document(&doc, false, &mut diags);
    or_panic(diags.into_result(()));
    or_panic(Catalog::new(directory, policies, Settings::default()))
}
