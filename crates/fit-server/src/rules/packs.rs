//! Which scale packs a server serves, apart from any database: the built-in packs, each replaced
//! by the pack of its code installed last (`fit-server install-pack`), and their tag, which a
//! sync's last page carries and `GET /api/v1/scale-packs` sends as its ETag. Whether a pack may be
//! installed at all is fit-core's one rule (`ScaleSet::admit`), applied to what is served now.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use fit_core::pack::{BUILT_IN_PACKS, parse_pack};
use fit_core::{PackError, ScaleSet};
use sha2::{Digest, Sha256};

/// A pack as a backend stores it (`scale_packs`), in the order installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPack {
    pub code: String,
    pub version: String,
    /// The name it was installed under (the file's name), for errors.
    pub file: String,
    /// The pack file's content, as installed.
    pub pack: String,
}

/// What a server serves now: the scales it checks changes against, the pack files it sends, and
/// their tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub scales: ScaleSet,
    /// (file, content) of every current pack, by code.
    pub files: Vec<(String, String)>,
    pub tag: String,
}

/// The code and version of every built-in pack (they are compiled in and parse: a test holds
/// them to it).
static BUILT_IN_VERSIONS: LazyLock<BTreeMap<String, String>> = LazyLock::new(|| {
    ScaleSet::built_in()
        .map(|set| set.iter().map(|s| (s.code.to_string(), s.version.clone())).collect())
        .unwrap_or_default()
});

/// The current packs from those installed (oldest first): the built-in ones, each code replaced
/// by its pack installed last.
pub fn served(installed: &[StoredPack]) -> Result<Served, PackError> {
    let mut scales = ScaleSet::built_in()?;
    let mut files: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (file, text) in BUILT_IN_PACKS {
        let scale = parse_pack(file, text.as_bytes())?;
        files.insert(scale.code.to_string(), (file.to_owned(), text.to_owned()));
    }
    let mut current: BTreeMap<&str, &StoredPack> = BTreeMap::new();
    for pack in installed {
        current.insert(pack.code.as_str(), pack);
    }
    for pack in current.values() {
        scales.install(parse_pack(&pack.file, pack.pack.as_bytes())?);
        files.insert(pack.code.clone(), (pack.file.clone(), pack.pack.clone()));
    }
    let tag = tag(scales.iter().map(|s| (s.code.as_str(), s.version.as_str())));
    Ok(Served { scales, files: files.into_values().collect(), tag })
}

/// The tag of the current packs from the (code, version) of those installed, oldest first: what
/// a sync reads, without the packs themselves. Equal to `served(..).tag`.
pub fn current_tag<'a>(installed: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut versions: BTreeMap<&str, &str> =
        BUILT_IN_VERSIONS.iter().map(|(code, version)| (code.as_str(), version.as_str())).collect();
    for (code, version) in installed {
        versions.insert(code, version);
    }
    tag(versions.into_iter())
}

/// SHA-256 (hex) of the lines `code version`, sorted by code.
fn tag<'a>(versions: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut sorted: Vec<_> = versions.collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for (code, version) in sorted {
        hasher.update(code.as_bytes());
        hasher.update(b" ");
        hasher.update(version.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licensed_ors(version: &str, first_label: &str) -> StoredPack {
        let mut pack: serde_json::Value = serde_json::from_str(BUILT_IN_PACKS[0].1).unwrap();
        pack["version"] = serde_json::json!(version);
        pack["item"][0]["text"] = serde_json::json!(first_label);
        pack["extension"][2]["valueBoolean"] = serde_json::json!(true);
        StoredPack {
            code: "ors".into(),
            version: version.into(),
            file: "ors-licensed.json".into(),
            pack: pack.to_string(),
        }
    }

    #[test]
    fn with_nothing_installed_the_built_in_packs_are_served() {
        let served = served(&[]).unwrap();
        assert_eq!(served.scales, ScaleSet::built_in().unwrap());
        assert_eq!(served.files.len(), BUILT_IN_PACKS.len());
        assert_eq!(served.tag, current_tag([]));
    }

    #[test]
    fn the_pack_installed_last_replaces_its_code_and_changes_the_tag() {
        let first = licensed_ors("licensed-1", "Individuelt (1)");
        let second = licensed_ors("licensed-2", "Individuelt (2)");
        let served = served(&[first.clone(), second.clone()]).unwrap();
        let ors = served.scales.find("ors").unwrap();
        assert_eq!((ors.version.as_str(), ors.full_text), ("licensed-2", true));
        assert_eq!(served.files.len(), BUILT_IN_PACKS.len());
        assert!(served.files.iter().any(|(file, text)| file == "ors-licensed.json" && *text == second.pack));
        assert_eq!(served.tag, current_tag([("ors", "licensed-1"), ("ors", "licensed-2")]));
        assert_ne!(served.tag, current_tag([]));
        assert_ne!(served.tag, current_tag([("ors", "licensed-1")]));
    }
}
