use std::sync::Arc;

use fit_core::ids::{TeamId, WorkerId};
use fit_core::pack::BUILT_IN_PACKS;
use fit_store::{KdfCost, UnlockPolicy};
use serde_json::{Value, json};

use crate::demo::DemoSpec;
use crate::{Device, DeviceConfig, ManualClock};

const NOW: u64 = 1_795_392_000_000;
const PIN: &str = "135790";

/// A set-up, unlocked device with one citizen in its caseload, and its worker.
fn device() -> (tempfile::TempDir, Device, WorkerId) {
    let dir = tempfile::tempdir().unwrap();
    let config = DeviceConfig {
        unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() },
        ..DeviceConfig::new(dir.path())
    };
    let mut device = Device::open(config, Arc::new(ManualClock::new(NOW))).unwrap();
    device.set_up(PIN).unwrap();
    let (team, worker): (TeamId, WorkerId) = (device.ids.next(NOW), device.ids.next(NOW));
    device.store_mut().unwrap().set_worker(team, "Team Syd", worker, "Worker").unwrap();
    let spec = DemoSpec { citizens: 1, visits_per_citizen: 2, seed: 1, start_ms: NOW - 30 * 86_400_000 };
    device.load_demo(spec).unwrap();
    (dir, device, worker)
}

fn pack(index: usize) -> Value {
    serde_json::from_str(BUILT_IN_PACKS[index].1).unwrap()
}

fn licensed_ors(version: &str, first_label: &str) -> Value {
    let mut ors = pack(0);
    ors["version"] = json!(version);
    ors["item"][0]["text"] = json!(first_label);
    ors["extension"][2]["valueBoolean"] = json!(true);
    ors
}

/// What the server sends: every built-in pack, with `ors` in place of the built-in ORS.
fn served(ors: Value) -> Vec<Value> {
    let mut packs: Vec<Value> = (0..BUILT_IN_PACKS.len()).map(pack).collect();
    packs[0] = ors;
    packs
}

#[test]
fn a_licensed_pack_is_used_at_once_and_after_every_unlock_and_clears_the_caseload_cache() {
    let (_dir, mut device, worker) = device();
    device.caseload_overview().unwrap();
    assert_eq!(device.store().unwrap().summaries(worker).unwrap().len(), 1, "the caseload line is cached");

    let report =
        device.install_packs("tag-1", &served(licensed_ors("licensed-1", "Individuelt (fuld tekst)"))).unwrap();
    assert_eq!(report.installed.iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["ors"]);
    assert!(report.refused.is_empty());
    let ors = device.scales().find("ors").unwrap();
    assert!(ors.full_text);
    assert_eq!(ors.items[0].text.da.as_deref(), Some("Individuelt (fuld tekst)"));
    assert!(device.store().unwrap().summaries(worker).unwrap().is_empty(), "the cached lines are forgotten");
    assert_eq!(device.packs_tag().unwrap().as_deref(), Some("tag-1"));

    device.close();
    device.unlock(PIN).unwrap();
    let ors = device.scales().find("ors").unwrap();
    assert_eq!((ors.version.as_str(), ors.full_text), ("licensed-1", true), "the stored pack is used after unlock");
    assert_eq!(device.scales().find("srs").unwrap().version, "short-labels-1");
}

#[test]
fn an_update_replaces_the_licensed_pack_and_the_same_packs_again_change_nothing() {
    let (_dir, mut device, worker) = device();
    device.install_packs("tag-1", &served(licensed_ors("licensed-1", "Individuelt (1)"))).unwrap();
    let report = device.install_packs("tag-2", &served(licensed_ors("licensed-2", "Individuelt (2)"))).unwrap();
    assert_eq!(report.installed.len(), 1);
    assert_eq!(device.scales().find("ors").unwrap().items[0].text.da.as_deref(), Some("Individuelt (2)"));

    device.caseload_overview().unwrap();
    let report = device.install_packs("tag-2", &served(licensed_ors("licensed-2", "Individuelt (2)"))).unwrap();
    assert_eq!(report, Default::default(), "nothing new");
    assert_eq!(device.store().unwrap().summaries(worker).unwrap().len(), 1, "nothing to forget");
}

/// Broken packs of every kind, as a server might send them: each is refused with its place in
/// the answer and its field, and the device goes on using the packs it had.
#[test]
fn a_pack_the_device_cannot_admit_is_skipped_and_the_one_it_had_stays() {
    let (_dir, mut device, _) = device();
    device.install_packs("tag-1", &served(licensed_ors("licensed-1", "Individuelt (1)"))).unwrap();
    let before = device.scales().clone();
    let corpus: Vec<(Value, &str)> = vec![
        (json!("not a pack"), "."),
        (json!({"resourceType": "Patient"}), "id"),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["id"] = json!("ORS 2");
                p
            },
            "id",
        ),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["language"] = json!("sv");
                p
            },
            "language",
        ),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["item"][0]["text"] = json!("");
                p
            },
            "item[0].text",
        ),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["item"][3]["linkId"] = json!("individually");
                p
            },
            "item[3].linkId",
        ),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["item"].as_array_mut().unwrap().pop();
                p
            },
            "item",
        ),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["item"][1]["type"] = json!("string");
                p
            },
            "item[1].type",
        ),
        (licensed_ors("licensed-1", "Individuelt (other content)"), "version"),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["extension"][1]["valueCode"] = json!("child");
                p
            },
            "extension[urn:fit-field:extension:population]",
        ),
        (
            {
                let mut p = licensed_ors("licensed-2", "x");
                p["item"][2]["linkId"] = json!("social");
                p
            },
            "item[2].linkId",
        ),
    ];
    assert!(corpus.len() >= 10);
    for (broken, field) in &corpus {
        let report = device.install_packs("tag-2", &served(broken.clone())).unwrap();
        assert!(report.installed.is_empty(), "{broken}");
        let refused: Vec<_> = report.refused.iter().map(|e| (e.file.as_str(), e.field.as_str())).collect();
        assert_eq!(refused, [("scale-packs[0]", *field)], "{broken}");
        assert_eq!(*device.scales(), before, "{broken} changed the packs in use");
    }
    device.close();
    device.unlock(PIN).unwrap();
    assert_eq!(*device.scales(), before, "and the stored ones");
}
