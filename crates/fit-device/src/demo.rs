//! Demo and benchmark data: citizens with a plausible history of visits, ORS and SRS, made as
//! the changes another device would have synced, so they enter the store the way real data does.

use fit_core::hlc::Hlc;
use fit_core::ids::{CitizenId, DeviceId, WorkerId};
use fit_core::response::{MarkedBy, RawAnswer};
use fit_core::{IdGenerator, ScaleCode};
use fit_protocol::{Answered, Change, ChangeBody, Entity, FieldName, SCHEMA_VERSION};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::{Device, DeviceError};

/// How much history to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSpec {
    pub citizens: usize,
    pub visits_per_citizen: usize,
    pub seed: u64,
    /// The first visit; visits follow a week apart.
    pub start_ms: u64,
}

const WEEK_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Changes per transaction when loading: large enough to be fast, small enough to bound memory.
const LOAD_CHUNK: usize = 5_000;

/// Makes the changes of a demo caseload for `worker`, as if recorded on device `origin`.
pub fn demo_changes(spec: DemoSpec, worker: WorkerId, origin: DeviceId) -> (Vec<CitizenId>, Vec<Change>) {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut ids = IdGenerator::new(StdRng::seed_from_u64(spec.seed ^ 0x5eed));
    let mut changes = Vec::new();
    let mut citizens = Vec::new();
    let mut seq = 0;
    let ors = ScaleCode::parse("ors").expect("a valid code");
    let srs = ScaleCode::parse("srs").expect("a valid code");
    for n in 0..spec.citizens {
        let citizen: CitizenId = ids.next(spec.start_ms);
        citizens.push(citizen);
        let mut push = |ids: &mut IdGenerator<StdRng>, at_ms: u64, body| {
            seq += 1;
            changes.push(Change {
                id: ids.next(at_ms),
                device: origin,
                seq,
                hlc: Hlc::new(at_ms, 0),
                device_time_ms: at_ms,
                schema_version: SCHEMA_VERSION,
                body,
            });
        };
        let entity = Entity::Citizen { citizen };
        let name = serde_json::Value::String(format!("Borger {:03}", n + 1));
        push(
            &mut ids,
            spec.start_ms,
            ChangeBody::FieldSet { entity, field: FieldName::DisplayName, value: name, base: None },
        );
        // A random walk that drifts up for most and down for some, as caseloads do.
        let mut ors_total: i64 = rng.random_range(120..300);
        let drift: i64 = rng.random_range(-3..6);
        for v in 0..spec.visits_per_citizen {
            let start = spec.start_ms + v as u64 * WEEK_MS + n as u64 * 1_000;
            ors_total = (ors_total + drift + rng.random_range(-15..16)).clamp(0, 400);
            let srs_total: i64 = rng.random_range(330..=400);
            let visit = ids.next(start);
            push(&mut ids, start, ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: start });
            for (scale, total, items, at) in [
                (&ors, ors_total, ["individually", "interpersonally", "socially", "overall"], start + 60_000),
                (
                    &srs,
                    srs_total,
                    ["relationship", "goals-and-topics", "approach-or-method", "overall"],
                    start + 3_000_000,
                ),
            ] {
                let (base, remainder) = (total / 4, total % 4);
                let answers = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| RawAnswer {
                        item: (*item).into(),
                        value: (base + i64::from((i as i64) < remainder)).into(),
                    })
                    .collect();
                let response = ids.next(at);
                push(
                    &mut ids,
                    at,
                    ChangeBody::ResponseRecorded {
                        response,
                        visit,
                        citizen,
                        scale: scale.clone(),
                        scale_version: "short-labels-1".into(),
                        answered: Answered::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
                        recorded_at_ms: at,
                        supersedes: None,
                    },
                );
            }
            let closed = start + 3_600_000;
            push(&mut ids, closed, ChangeBody::VisitClosed { visit, citizen, closed_at_ms: closed });
        }
    }
    (citizens, changes)
}

impl Device {
    /// Loads a demo caseload into this device for its worker, as if it had been synced.
    pub fn load_demo(&mut self, spec: DemoSpec) -> Result<Vec<CitizenId>, DeviceError> {
        let worker = self.worker()?;
        let origin: DeviceId = self.ids.next(spec.start_ms);
        let (citizens, changes) = demo_changes(spec, worker, origin);
        let now = self.clock.now_ms();
        let store = self.store.as_mut().ok_or(DeviceError::Locked)?;
        for citizen in &citizens {
            store.assign_citizen(worker, *citizen)?;
        }
        for chunk in changes.chunks(LOAD_CHUNK) {
            store.apply_pulled(&self.scales, now, chunk, None)?;
        }
        Ok(citizens)
    }
}
