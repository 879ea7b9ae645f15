//! The packs in `scales/` are what devices and the server load: every file there must parse,
//! and the set built into the binaries must be exactly those files.

use fit_core::ScaleSet;
use fit_core::pack::{BUILT_IN_PACKS, parse_pack};
use fit_tests::read_scale_packs;

#[test]
fn every_pack_file_in_scales_parses() {
    let packs = read_scale_packs().unwrap();
    assert!(packs.len() >= 6, "{} packs", packs.len());
    for (file, bytes) in &packs {
        let scale = parse_pack(file, bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("scales/{}.json", scale.code), *file, "a pack's file is named by its scale code");
        for item in &scale.items {
            assert!(item.text.da.is_some(), "{file} {} has Danish text", item.id);
            assert!(item.text.en.is_some(), "{file} {} has English text", item.id);
        }
    }
}

#[test]
fn the_built_in_packs_are_exactly_the_files_in_scales() {
    let on_disk = read_scale_packs().unwrap();
    let mut built_in: Vec<(String, Vec<u8>)> =
        BUILT_IN_PACKS.iter().map(|(file, json)| (file.to_string(), json.as_bytes().to_vec())).collect();
    built_in.sort();
    assert_eq!(built_in, on_disk);
    let from_disk = ScaleSet::from_packs(on_disk.iter().map(|(f, b)| (f.as_str(), b.as_slice()))).unwrap();
    assert_eq!(from_disk, ScaleSet::built_in().unwrap());
}

#[test]
fn no_shipped_ors_like_pack_claims_full_text() {
    // ORS/SRS/CORS/CSRS/GSRS wording is licensed: the repository may ship short labels only.
    for scale in ScaleSet::built_in().unwrap().iter().filter(|s| s.code.as_str() != "who5") {
        assert!(!scale.full_text, "{} must ship short labels only", scale.code);
        assert!(scale.expected_trajectory.is_none(), "{} must not ship a vendor's trajectory", scale.code);
    }
}
