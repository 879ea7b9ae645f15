//! Demo, benchmark and test data: citizens with a plausible history of visits, ORS and SRS, made
//! as the changes a device would have recorded, so they enter a store the way real data does;
//! and single changes for tests (`change`, `visit_with_ors`).

use fit_core::hlc::Hlc;
use fit_core::ids::{CitizenId, DeviceId, VisitId, WorkerId};
use fit_core::response::{MarkedBy, RawAnswer, ResponseContent};
use fit_core::{IdGenerator, ScaleCode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::{Change, ChangeBody, Entity, FieldName, SCHEMA_VERSION};

/// A change of `device` with sequence number `seq`, stamped at `at_ms` (the HLC's counter is the
/// sequence number, so a device's changes are in order) and a fresh id.
pub fn change(device: DeviceId, seq: u64, at_ms: u64, body: ChangeBody) -> Change {
    Change {
        id: uuid::Uuid::now_v7().into(),
        device,
        seq,
        hlc: Hlc::new(at_ms, u32::try_from(seq).unwrap_or(u32::MAX)),
        device_time_ms: at_ms,
        schema_version: SCHEMA_VERSION,
        body,
    }
}

/// A visit started at `at_ms` and its ORS with every item at `score`: two changes of `device`
/// from sequence number `first_seq`.
pub fn visit_with_ors(
    device: DeviceId,
    citizen: CitizenId,
    worker: WorkerId,
    (first_seq, at_ms): (u64, u64),
    score: i64,
) -> Vec<Change> {
    let visit: VisitId = uuid::Uuid::now_v7().into();
    let items = ["individually", "interpersonally", "socially", "overall"];
    let answers = items.iter().map(|i| RawAnswer { item: (*i).into(), value: score.into() }).collect();
    let ors = ChangeBody::ResponseRecorded {
        response: uuid::Uuid::now_v7().into(),
        visit,
        citizen,
        scale: ScaleCode::parse("ors").expect("a valid scale code"),
        scale_version: "short-labels-1".into(),
        answered: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
        recorded_at_ms: at_ms,
        supersedes: None,
        correction: None,
    };
    vec![
        change(
            device,
            first_seq,
            at_ms,
            ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: at_ms, group: None },
        ),
        change(device, first_seq + 1, at_ms, ors),
    ]
}

/// How much history to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSpec {
    pub citizens: usize,
    pub visits_per_citizen: usize,
    pub seed: u64,
    /// The first visit; visits follow a week apart.
    pub start_ms: u64,
}

pub const WEEK_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Makes the changes of a demo caseload for `worker`, as if recorded on device `origin`: each
/// citizen's display name, then its visits.
pub fn demo_changes(spec: DemoSpec, worker: WorkerId, origin: DeviceId) -> (Vec<CitizenId>, Vec<Change>) {
    let mut ids = IdGenerator::new(StdRng::seed_from_u64(spec.seed ^ 0x5eed));
    let citizens: Vec<CitizenId> = (0..spec.citizens).map(|_| ids.next(spec.start_ms)).collect();
    let changes = generate(spec, worker, origin, &citizens, true, &mut ids);
    (citizens, changes)
}

/// Makes only the visits of `citizens` (whose profiles exist already), as recorded on `origin`.
pub fn demo_visits(spec: DemoSpec, worker: WorkerId, origin: DeviceId, citizens: &[CitizenId]) -> Vec<Change> {
    let mut ids = IdGenerator::new(StdRng::seed_from_u64(spec.seed ^ 0x5eed));
    generate(spec, worker, origin, citizens, false, &mut ids)
}

fn generate(
    spec: DemoSpec,
    worker: WorkerId,
    origin: DeviceId,
    citizens: &[CitizenId],
    names: bool,
    ids: &mut IdGenerator<StdRng>,
) -> Vec<Change> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut log = Recorder { origin, ids, changes: Vec::new() };
    for (n, &citizen) in citizens.iter().enumerate() {
        if names {
            let entity = Entity::Citizen { citizen };
            let name = serde_json::Value::String(format!("Borger {:03}", n + 1));
            log.push(
                spec.start_ms,
                ChangeBody::FieldSet { entity, field: FieldName::DisplayName, value: name, base: None },
            );
        }
        // A random walk that drifts up for most and down for some, as caseloads do.
        let mut ors_total: i64 = rng.random_range(120..300);
        let drift: i64 = rng.random_range(-3..6);
        for v in 0..spec.visits_per_citizen {
            let start = spec.start_ms + v as u64 * WEEK_MS + n as u64 * 1_000;
            ors_total = (ors_total + drift + rng.random_range(-15..16)).clamp(0, 400);
            let srs_total: i64 = rng.random_range(330..=400);
            log.visit(worker, citizen, start, ors_total, srs_total);
        }
    }
    log.changes
}

/// Records changes as one device would: each with the next sequence number.
struct Recorder<'a> {
    origin: DeviceId,
    ids: &'a mut IdGenerator<StdRng>,
    changes: Vec<Change>,
}

const ORS_ITEMS: [&str; 4] = ["individually", "interpersonally", "socially", "overall"];
const SRS_ITEMS: [&str; 4] = ["relationship", "goals-and-topics", "approach-or-method", "overall"];

impl Recorder<'_> {
    fn push(&mut self, at_ms: u64, body: ChangeBody) {
        self.changes.push(Change {
            id: self.ids.next(at_ms),
            device: self.origin,
            seq: self.changes.len() as u64 + 1,
            hlc: Hlc::new(at_ms, 0),
            device_time_ms: at_ms,
            schema_version: SCHEMA_VERSION,
            body,
        });
    }

    /// One visit: started, an ORS a minute in, an SRS at the end, closed after an hour.
    fn visit(&mut self, worker: WorkerId, citizen: CitizenId, start: u64, ors_total: i64, srs_total: i64) {
        let visit = self.ids.next(start);
        self.push(start, ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: start, group: None });
        for (scale, total, items, at) in
            [("ors", ors_total, ORS_ITEMS, start + 60_000), ("srs", srs_total, SRS_ITEMS, start + 3_000_000)]
        {
            let (base, remainder) = (total / 4, total % 4);
            let answers = items
                .iter()
                .enumerate()
                .map(|(i, item)| RawAnswer {
                    item: (*item).into(),
                    value: (base + i64::from((i as i64) < remainder)).into(),
                })
                .collect();
            let response = self.ids.next(at);
            self.push(
                at,
                ChangeBody::ResponseRecorded {
                    response,
                    visit,
                    citizen,
                    scale: ScaleCode::parse(scale).expect("a valid code"),
                    scale_version: "short-labels-1".into(),
                    answered: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
                    recorded_at_ms: at,
                    supersedes: None,
                    correction: None,
                },
            );
        }
        let closed = start + 3_600_000;
        self.push(closed, ChangeBody::VisitClosed { visit, citizen, closed_at_ms: closed, cancelled: false });
    }
}

/// A licence holder's ORS pack, made from the built-in one: a new `version`, and the first item's
/// text replaced by `first_label` (in English with " (en)" after it), marked as full text. For
/// tests, the simulation and the demo of installing a pack.
pub fn licensed_ors(version: &str, first_label: &str) -> Vec<u8> {
    let ors = fit_core::pack::BUILT_IN_PACKS.iter().find(|(file, _)| *file == "scales/ors.json");
    let mut pack: serde_json::Value = serde_json::from_str(ors.map_or("{}", |(_, json)| json)).unwrap_or_default();
    pack["version"] = serde_json::json!(version);
    pack["item"][0]["text"] = serde_json::json!(first_label);
    pack["item"][0]["_text"]["extension"][0]["extension"][1]["valueString"] =
        serde_json::json!(format!("{first_label} (en)"));
    pack["extension"][2]["valueBoolean"] = serde_json::json!(true);
    serde_json::to_vec_pretty(&pack).unwrap_or_default()
}
