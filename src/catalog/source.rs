//! What a catalog was built from, kept as text: content-addressed snapshots (DESIGN 7.3).
//!
//! The engine reads the catalog at every step (a sequential step starts later and asks whoever the directory
//! names then; an escalation reads a manager), so replaying an item's events checks nothing unless it runs on
//! the catalog the item really ran under. At start the runtime's catalog is captured as a [`CatalogSource`]:
//! every directory and policy file's name and text, the built-in workflows' text (a later build may change
//! them) and the `[policies]` settings. Its canonical JSON ([`Snapshot::json`]) is stored in the `catalogs`
//! table under its SHA-256 ([`Snapshot::id`]), and every audit row that starts or changes an item names that
//! id. `signoff audit verify` rebuilds the catalog from the stored text with [`Catalog::from_source`] after
//! checking that the text still hashes to its id, so an edited snapshot is caught like an edited row.
//!
//! The id is one string on purpose: when people provisioned through SCIM live in the database (DESIGN 7.5), a
//! directory revision can be folded into the same id without changing what audit rows record.
//!
//! [`Catalog::from_source`]: super::Catalog::from_source

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Settings;

/// The format of [`CatalogSource`]; a snapshot of another version is refused rather than misread.
pub const SOURCE_VERSION: u32 = 1;

/// Everything a [`Catalog`](super::Catalog) is built from, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSource {
    /// [`SOURCE_VERSION`].
    pub version: u32,
    /// The directory files, in the order they were loaded.
    pub directory: Vec<SourceFile>,
    /// The policy files, in the order they were loaded.
    pub policies: Vec<SourceFile>,
    /// The built-in workflows (YAML) of the build that made the catalog.
    pub builtin: String,
    /// The `[policies]` settings that pick workflows.
    pub settings: SourceSettings,
}

/// One file: its name (YAML or JSON is told by its extension) and its whole text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// The path as it was loaded; positions in errors name it.
    pub name: String,
    /// The content.
    pub text: String,
}

/// The `[policies]` settings the engine reads: the default workflow, the risk mapping and the default timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// `[policies] default`.
    pub default: String,
    /// `[policies.risk]` 0..4.
    pub risk: [String; 5],
    /// `[policies] default_timeout` as written back (`72h`), `None` for never.
    pub default_timeout: Option<String>,
    /// `[directory] scim`: references to nobody were warnings. Left out when false, so catalogs without SCIM keep
    /// the ids they had before the key existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisioning: bool,
}

impl From<&Settings> for SourceSettings {
    fn from(s: &Settings) -> SourceSettings {
        SourceSettings {
            default: s.default_workflow.clone(),
            risk: s.risk.clone(),
            default_timeout: s.default_timeout.map(|d| d.to_string()),
            provisioning: s.provisioning,
        }
    }
}

impl CatalogSource {
    /// A source of this version from files, built-ins and settings.
    pub fn new(
        directory: Vec<(String, String)>,
        policies: Vec<(String, String)>,
        builtin: &str,
        settings: &Settings,
    ) -> CatalogSource {
        let files =
            |v: Vec<(String, String)>| v.into_iter().map(|(name, text)| SourceFile { name, text }).collect::<Vec<_>>();
        CatalogSource {
            version: SOURCE_VERSION,
            directory: files(directory),
            policies: files(policies),
            builtin: builtin.to_owned(),
            settings: SourceSettings::from(settings),
        }
    }
}

/// A [`CatalogSource`] as stored: its canonical JSON and the id that addresses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    id: String,
    json: String,
    /// What goes in `catalogs.source`: the JSON itself, or for a large one [`DEFLATED`] and the base64 of its
    /// raw DEFLATE stream. Computed once, where the snapshot is made (off the request path).
    stored: String,
}

/// The prefix of a stored snapshot that is compressed. JSON never starts with it.
pub const DEFLATED: &str = "deflate:";

/// Snapshots larger than this are stored deflated; smaller ones (catalogs of files alone, usually) stay readable
/// JSON in the database.
const DEFLATE_ABOVE: usize = 64 * 1024;

/// The largest snapshot JSON a stored one may inflate to: far above any real catalog, and a bound on what an
/// edited row can make `audit verify` allocate.
const MAX_INFLATED: u64 = 1 << 30;

impl fmt::Debug for Snapshot {
    /// The id only: the text is the whole directory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Why a stored snapshot cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The stored text does not hash to its id: it was edited after it was stored.
    #[error("its text does not hash to its id (SHA-256 {actual}): the snapshot was edited")]
    Edited {
        /// What the text hashes to.
        actual: String,
    },
    /// The text is not a catalog source this build understands.
    #[error("it is not a catalog snapshot this version of signoff can read: {0}")]
    Unreadable(String),
}

impl Snapshot {
    /// The snapshot of `source`: its JSON, fields in declaration order (serde's output for a struct is fixed,
    /// so the same catalog always gets the same id), and the hex SHA-256 of that JSON.
    pub fn of(source: &CatalogSource) -> Snapshot {
        // Serializing strings, arrays and structs cannot fail.
        let json = serde_json::to_string(source).unwrap_or_default();
        let stored = if json.len() > DEFLATE_ABOVE { deflate(&json) } else { json.clone() };
        Snapshot { id: content_id(&json), json, stored }
    }

    /// The text to store in `catalogs.source` (see [`Snapshot::read`]).
    pub fn stored(&self) -> &str {
        &self.stored
    }

    /// The id: hex SHA-256 of [`json`](Self::json).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The canonical JSON, as stored in `catalogs.source`.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Reads a stored snapshot back (its JSON, or the deflated form [`Snapshot::stored`] gives), first checking
    /// that the JSON still hashes to `id`.
    pub fn read(id: &str, stored: &str) -> Result<CatalogSource, SnapshotError> {
        let inflated;
        let json = match stored.strip_prefix(DEFLATED) {
            Some(packed) => {
                inflated = inflate(packed).map_err(SnapshotError::Unreadable)?;
                inflated.as_str()
            }
            None => stored,
        };
        let actual = content_id(json);
        if actual != id {
            return Err(SnapshotError::Edited { actual });
        }
        let source: CatalogSource = serde_json::from_str(json).map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
        if source.version != SOURCE_VERSION {
            return Err(SnapshotError::Unreadable(format!(
                "format version {} (this build reads {SOURCE_VERSION})",
                source.version
            )));
        }
        Ok(source)
    }
}

/// [`DEFLATED`] and the base64 of `json`'s raw DEFLATE stream.
fn deflate(json: &str) -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(json.as_bytes());
    let packed = encoder.finish().unwrap_or_default();
    format!("{DEFLATED}{}", base64::engine::general_purpose::STANDARD.encode(packed))
}

/// The JSON of a deflated snapshot, at most [`MAX_INFLATED`] bytes.
fn inflate(packed: &str) -> Result<String, String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed.trim())
        .map_err(|e| format!("its deflated text is not base64: {e}"))?;
    let mut json = String::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .take(MAX_INFLATED)
        .read_to_string(&mut json)
        .map_err(|e| format!("its deflated text does not inflate to JSON: {e}"))?;
    Ok(json)
}

/// Hex SHA-256 of a snapshot's text.
pub fn content_id(json: &str) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(directory_text: &str) -> CatalogSource {
        CatalogSource::new(
            vec![("dir/people.yaml".to_owned(), directory_text.to_owned())],
            Vec::new(),
            "workflows: {}\n",
            &Settings::default(),
        )
    }

    #[test]
    fn the_same_source_always_gets_the_same_id_and_another_source_another() {
        let a = Snapshot::of(&source("users: []\n"));
        assert_eq!(a, Snapshot::of(&source("users: []\n")));
        assert_eq!(a.id().len(), 64);
        assert_eq!(a.id(), content_id(a.json()));
        assert_ne!(a.id(), Snapshot::of(&source("users: [] \n")).id());
    }

    #[test]
    fn a_large_snapshot_is_stored_deflated_and_reads_back_the_same() {
        let big: String = (0..5_000).map(|i| format!("  - id: user{i}@example.com\n")).collect();
        let s = Snapshot::of(&source(&format!("users:\n{big}")));
        assert!(s.stored().starts_with(DEFLATED), "a large snapshot is deflated");
        assert!(s.stored().len() * 5 < s.json().len(), "{} -> {}", s.json().len(), s.stored().len());
        assert_eq!(Snapshot::read(s.id(), s.stored()).unwrap(), Snapshot::read(s.id(), s.json()).unwrap());
        let small = Snapshot::of(&source("users: []\n"));
        assert_eq!(small.stored(), small.json(), "a small one stays readable JSON");
        // An edit of the deflated text is caught: it no longer inflates, or no longer hashes to the id.
        let mut edited = s.stored().to_owned();
        edited.insert_str(DEFLATED.len() + 40, "AAAA");
        assert!(Snapshot::read(s.id(), &edited).is_err());
    }

    #[test]
    fn a_stored_snapshot_reads_back_unless_its_text_was_edited() {
        let s = Snapshot::of(&source("users: []\n"));
        assert_eq!(Snapshot::read(s.id(), s.json()).unwrap(), source("users: []\n"));
        let edited = s.json().replace("users: []", "users: [{id: mallory}]");
        assert!(matches!(Snapshot::read(s.id(), &edited), Err(SnapshotError::Edited { .. })));
        let other_version = s.json().replacen("\"version\":1", "\"version\":2", 1);
        let e = Snapshot::read(&content_id(&other_version), &other_version).unwrap_err();
        assert!(e.to_string().contains("format version 2"), "{e}");
    }

    /// The quickstart catalog (every feature of the policy language) rebuilt from its stored snapshot starts
    /// every resource's items exactly as the catalog loaded from the files does.
    #[test]
    fn a_catalog_rebuilt_from_its_snapshot_starts_items_exactly_as_the_loaded_one() {
        use crate::catalog::Catalog;
        use crate::request::RequestSpec;
        let config = crate::config::Config::load(Some(std::path::Path::new("examples/signoff.toml"))).unwrap();
        let loaded = Catalog::load(&config).unwrap();
        let snapshot = loaded.snapshot.clone().expect("a loaded catalog has a snapshot");
        assert!(snapshot.json().contains("examples/directory/people.yaml"), "file names are kept");
        let rebuilt = Catalog::from_source(&Snapshot::read(snapshot.id(), snapshot.json()).unwrap()).unwrap();
        assert_eq!(rebuilt.snapshot_id(), Some(snapshot.id()), "rebuilding gives the same snapshot back");
        let now: crate::time::Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let requester = loaded.directory.users()[0].id.clone();
        let mut started = 0;
        for r in loaded.directory.resources() {
            let roles: Vec<Option<String>> =
                std::iter::once(None).chain(r.roles.iter().map(|role| Some(role.name.clone()))).collect();
            for role in roles {
                let spec = RequestSpec {
                    id: format!("req_{}", r.id),
                    requester: requester.clone(),
                    resource: r.id.clone(),
                    roles: role.into_iter().collect(),
                    beneficiaries: Vec::new(),
                    justification: None,
                    duration: None,
                };
                let item = spec.items().remove(0);
                let a = crate::engine::start(&loaded, item.clone(), now).map(|s| (s.item, s.effects));
                let b = crate::engine::start(&rebuilt, item, now).map(|s| (s.item, s.effects));
                assert_eq!(a, b, "{} {:?}", r.id, spec.roles);
                started += usize::from(a.is_ok());
            }
        }
        assert!(started > 5, "the examples start items: {started}");
    }
}
