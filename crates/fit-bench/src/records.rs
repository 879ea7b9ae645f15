//! The records both sides move: a caseload's visits, each with an ORS, an SRS and a note, made
//! by `fit_protocol::demo` and recorded on a real device, so its outbox holds them as it would
//! after weeks of offline work. The same changes, as the device pushes them, are the peer's
//! documents.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use fit_core::ScaleSet;
use fit_core::hlc::Hlc;
use fit_core::ids::{CitizenId, DeviceId, NoteId, WorkerId};
use fit_device::{Device, DeviceConfig, SystemClock};
use fit_protocol::demo::{DemoSpec, WEEK_MS, demo_visits};
use fit_protocol::{Change, ChangeBody};
use fit_store::{KdfCost, UnlockPolicy};

/// The PIN of every benchmark device (the key derivation is not what is measured).
pub const PIN: &str = "246810";

const NOTES: &[&str] = &[
    "Talte om søvn og om at komme ud af lejligheden. Aftalte en gåtur til næste gang.",
    "Borgeren var træt, men mødte op. Vi gennemgik ugeplanen og ringede sammen til jobcentret.",
    "God samtale om familien. Borgeren vil selv tage kontakt til sin søster inden næste besøg.",
    "Svært med økonomien denne måned; vi lavede et budget og aftalte at følge op på huslejen.",
];

/// `n` changes of a caseload for `worker`'s `citizens` as if made on `device`, in order, with
/// sequence numbers 1..=n: per visit a start, an ORS, an SRS, a note and a close.
pub fn caseload_changes(
    n: usize,
    worker: WorkerId,
    device: DeviceId,
    citizens: &[CitizenId],
    seed: u64,
    now_ms: u64,
) -> Vec<Change> {
    let per_citizen = n.div_ceil(citizens.len().max(1)).div_ceil(5) + 1;
    let start_ms = now_ms.saturating_sub(per_citizen as u64 * WEEK_MS);
    let spec = DemoSpec { citizens: citizens.len(), visits_per_citizen: per_citizen, seed, start_ms };
    let mut changes = Vec::with_capacity(n + n / 4);
    for change in demo_visits(spec, worker, device, citizens) {
        if let ChangeBody::VisitClosed { visit, citizen, closed_at_ms, .. } = change.body {
            let written = closed_at_ms.saturating_sub(60_000);
            let note = NoteId::from(uuid::Uuid::now_v7());
            changes.push(Change {
                id: uuid::Uuid::now_v7().into(),
                hlc: Hlc::new(written, 0),
                device_time_ms: written,
                body: ChangeBody::NoteWritten {
                    note,
                    citizen,
                    visit: Some(visit),
                    body: NOTES[changes.len() % NOTES.len()].to_owned(),
                    written_at_ms: written,
                    supersedes: None,
                },
                ..change.clone()
            });
        }
        changes.push(change);
        if changes.len() >= n {
            break;
        }
    }
    changes.truncate(n);
    for (seq, change) in changes.iter_mut().enumerate() {
        change.seq = seq as u64 + 1;
    }
    changes
}

/// A device's files with `n` changes waiting in its outbox, and those changes as JSON lines.
#[derive(Debug)]
pub struct Template {
    pub n: usize,
    pub worker: WorkerId,
    pub citizens: Vec<CitizenId>,
    pub dir: tempfile::TempDir,
    pub records: PathBuf,
}

impl Template {
    /// Records `n` changes on a new device, one local transaction each, as a worker would.
    pub fn build(n: usize, now_ms: u64) -> anyhow::Result<Template> {
        let worker = WorkerId::from(uuid::Uuid::now_v7());
        let citizens: Vec<CitizenId> =
            (0..(n / 250).clamp(1, 200)).map(|_| CitizenId::from(uuid::Uuid::now_v7())).collect();
        let dir = tempfile::tempdir()?;
        let device_dir = dir.path().join("device");
        let mut device = Device::open(device_config(&device_dir), Arc::new(SystemClock))?;
        let device_id = device.set_up(PIN)?;
        let scales = ScaleSet::built_in()?;
        let store = device.store_mut()?;
        for change in caseload_changes(n, worker, device_id, &citizens, n as u64, now_ms) {
            store.commit_local(&scales, change.device_time_ms, change.id, change.body)?;
        }
        let outbox = store.outbox(0, u32::MAX)?;
        anyhow::ensure!(outbox.len() == n, "the outbox holds {} changes, not {n}", outbox.len());
        let records = dir.path().join("records.jsonl");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&records)?);
        for change in &outbox {
            serde_json::to_writer(&mut file, change)?;
            file.write_all(b"\n")?;
        }
        file.flush()?;
        drop(device);
        Ok(Template { n, worker, citizens, dir, records })
    }

    /// A copy of the device, unlocked, in `into` (its outbox full, not yet enrolled).
    pub fn copy_device(&self, into: &Path) -> anyhow::Result<Device> {
        let from = self.dir.path().join("device");
        std::fs::create_dir_all(into)?;
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            std::fs::copy(entry.path(), into.join(entry.file_name()))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
        let mut device = Device::open(device_config(into), Arc::new(SystemClock))?;
        device.unlock(PIN)?;
        Ok(device)
    }
}

/// A device in `dir` with the product's store settings and a cheap key derivation.
pub fn device_config(dir: &Path) -> DeviceConfig {
    DeviceConfig {
        unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() },
        ..DeviceConfig::new(dir)
    }
}

/// A new, set-up device in `dir`.
pub fn new_device(dir: &Path) -> anyhow::Result<Device> {
    let mut device = Device::open(device_config(dir), Arc::new(SystemClock))?;
    device.set_up(PIN)?;
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_are_numbered_in_order_and_include_notes_and_responses() {
        let citizens = [CitizenId::from(uuid::Uuid::now_v7())];
        let changes = caseload_changes(23, uuid::Uuid::now_v7().into(), uuid::Uuid::now_v7().into(), &citizens, 1, 0);
        assert_eq!(changes.len(), 23);
        assert!(changes.iter().enumerate().all(|(i, c)| c.seq == i as u64 + 1));
        let notes = changes.iter().filter(|c| matches!(c.body, ChangeBody::NoteWritten { .. })).count();
        let responses = changes.iter().filter(|c| matches!(c.body, ChangeBody::ResponseRecorded { .. })).count();
        assert_eq!((notes, responses), (4, 10), "4 whole visits of start, ORS, SRS, note, close, and a fifth begun");
    }
}
