//! The invariants at quiescence, checked against the server's change log (the record of
//! everything accepted) and what the simulation itself recorded on the devices.

use std::collections::{BTreeMap, BTreeSet};

use fit_core::ids::{ChangeId, CitizenId, DeviceId, GoalId, NoteId, ResponseId, VisitId, WorkerId};
use fit_core::merge::{FieldWrite, Version, merge_lww};
use fit_protocol::{Change, ChangeBody, Checked, Entity, FieldName, GoalStatus};
use fit_server::store::{Conflict, DeviceInfo, ServerStore};
use fit_store::{GoalRow, NoteRow, Store, VisitRow};

use crate::{Sim, SimResult, err};

/// A mutable field: (entity kind, entity id, field).
type FieldKey = (u8, uuid::Uuid, FieldName);

fn field_key(entity: &Entity, field: FieldName) -> FieldKey {
    match entity {
        Entity::Citizen { citizen } => (0, citizen.as_uuid(), field),
        Entity::Goal { goal, .. } => (1, goal.as_uuid(), field),
    }
}

/// The field writes in the log, replayed with the server's rule (last writer wins by
/// (HLC, device); a write whose `base` is not the version held is concurrent with it).
#[derive(Default)]
struct Fields {
    held: BTreeMap<FieldKey, (Version, ChangeId, serde_json::Value)>,
    /// Every write: its field, version, base and change.
    writes: Vec<(FieldKey, Version, Option<Version>, ChangeId)>,
    /// (winner, loser, field) of every concurrent write.
    conflicts: Vec<(String, String, String)>,
}

impl Fields {
    fn replay(log: &[Change]) -> Fields {
        let mut fields = Fields::default();
        for change in log {
            let ChangeBody::FieldSet { entity, field, value, base } = &change.body else { continue };
            let key = field_key(entity, *field);
            let version = Version { hlc: change.hlc, device: change.device };
            let current = fields.held.get(&key).map(|(v, id, _)| (*v, *id));
            let merge = merge_lww(current.map(|(v, _)| v), FieldWrite { version, base: *base });
            if merge.is_concurrent()
                && let Some((_, current_id)) = current
            {
                let (winner, loser) = if merge.applies() { (change.id, current_id) } else { (current_id, change.id) };
                fields.conflicts.push((winner.to_string(), loser.to_string(), field.as_str().to_owned()));
            }
            if merge.applies() {
                fields.held.insert(key, (version, change.id, value.clone()));
            }
            fields.writes.push((key, version, *base, change.id));
        }
        fields
    }

    fn value(&self, key: FieldKey) -> Option<&serde_json::Value> {
        self.held.get(&key).map(|(_, _, value)| value).filter(|v| !v.is_null())
    }
}

/// What a replica of one citizen must hold, folded from the log.
#[derive(Default)]
struct Expected {
    visits: BTreeMap<VisitId, VisitRow>,
    /// Every version of every response: (id, visit, response as checked and scored as text
    /// for comparing, the response it supersedes, withdrawn).
    responses: Vec<(ResponseId, VisitId, String, Option<ResponseId>, bool)>,
    notes: BTreeMap<NoteId, (NoteRow, Option<NoteId>)>,
    goals: BTreeSet<GoalId>,
    /// Ids of every response, visit and note row.
    ids: Vec<String>,
}

fn compare<T: std::fmt::Debug + PartialEq>(what: &str, device: usize, held: &T, expected: &T) -> SimResult<()> {
    if held == expected {
        return Ok(());
    }
    Err(format!("device {device}: its {what} differ from the server's log\n  device: {held:?}\n  server: {expected:?}"))
}

impl Sim {
    pub(crate) async fn check(&mut self) -> SimResult<()> {
        let (faults, round_trips, store) = {
            let net = self.net();
            (net.faults, net.round_trips, net.server.store()?.clone())
        };
        self.report.faults = faults;
        self.report.round_trips = round_trips;
        let log = store.changes().await.map_err(err)?;
        let conflicts = store.conflicts().await.map_err(err)?;
        let enrolled = store.devices().await.map_err(err)?;
        self.report.log_changes = log.len();
        self.report.conflicts = conflicts.len();
        self.report.responses = self.responses.len();
        self.report.local_writes = self.devices.iter().map(|d| d.writes).sum();

        // A former worker's changes stamped after a citizen moved are acknowledged but set aside,
        // not logged: kept once, with the log, and sent to no device.
        let set_aside = store.set_aside().await.map_err(err)?;
        self.report.set_aside = set_aside.len();
        let kept: Vec<Change> = log.iter().cloned().chain(set_aside.into_iter().map(|aside| aside.change)).collect();

        let device_ids = self.check_acknowledged(&enrolled)?;
        self.check_sequences(&kept, &device_ids)?;
        self.check_exactly_once(&kept)?;
        let fields = Fields::replay(&log);
        check_conflicts(&fields, &conflicts)?;
        check_no_edit_lost(&fields, &device_ids)?;

        // Each replica holds exactly the server's log for its worker's caseload.
        let per_citizen = self.fold(&log)?;
        for d in 0..self.devices.len() {
            self.check_replica(d, &per_citizen, &fields, &log)?;
        }
        self.check_packs()
    }

    /// Every device uses the last pack the server was given.
    fn check_packs(&mut self) -> SimResult<()> {
        if self.packs_installed == 0 {
            return Ok(());
        }
        let expected = format!("licensed-sim-{}", self.packs_installed);
        for d in 0..self.devices.len() {
            let held = self.devices[d].device().scales().find("ors").map(|s| s.version.clone());
            if held.as_deref() != Some(expected.as_str()) {
                return Err(format!("device {d} uses the ORS pack {held:?}, the server's is {expected}"));
            }
        }
        Ok(())
    }

    /// Nothing is pending anywhere, and every device's whole sequence is acknowledged: the
    /// devices by id.
    fn check_acknowledged(&mut self, enrolled: &[DeviceInfo]) -> SimResult<BTreeMap<DeviceId, usize>> {
        let mut device_ids = BTreeMap::<DeviceId, usize>::new();
        for (d, device) in self.devices.iter_mut().enumerate() {
            let pending = device.pending()?;
            if pending != 0 {
                return Err(format!("device {d} still has {pending} changes pending"));
            }
            let id = device.store()?.device_id();
            let info = enrolled.iter().find(|i| i.device == id).ok_or(format!("device {d} is not enrolled"))?;
            if info.last_seq != device.writes {
                return Err(format!(
                    "device {d} made {} local writes; the server acknowledged up to seq {}",
                    device.writes, info.last_seq
                ));
            }
            device_ids.insert(id, d);
        }
        Ok(device_ids)
    }

    /// Every change a device made is kept (logged or set aside) exactly once, and nothing else a
    /// device made.
    fn check_sequences(&self, log: &[Change], device_ids: &BTreeMap<DeviceId, usize>) -> SimResult<()> {
        let mut from_devices = BTreeMap::<DeviceId, Vec<u64>>::new();
        for change in log {
            if device_ids.contains_key(&change.device) {
                from_devices.entry(change.device).or_default().push(change.seq);
            }
        }
        for (id, d) in device_ids {
            let mut seqs = from_devices.remove(id).unwrap_or_default();
            seqs.sort_unstable();
            let expected: Vec<u64> = (1..=self.devices[*d].writes).collect();
            if seqs != expected {
                return Err(format!(
                    "device {d}: the log holds {} of its changes (seqs {:?}…); it made {}",
                    seqs.len(),
                    seqs.iter().take(10).collect::<Vec<_>>(),
                    expected.len()
                ));
            }
        }
        Ok(())
    }

    /// Every response, visit and note recorded on a device is in the log exactly once, and no
    /// other is.
    fn check_exactly_once(&self, log: &[Change]) -> SimResult<()> {
        let mut counts = BTreeMap::<String, usize>::new();
        let mut logged = [0usize; 3];
        for change in log {
            let (kind, id) = match &change.body {
                ChangeBody::ResponseRecorded { response, .. } => (0, response.to_string()),
                ChangeBody::VisitStarted { visit, .. } => (1, visit.to_string()),
                ChangeBody::NoteWritten { note, .. } => (2, note.to_string()),
                _ => continue,
            };
            logged[kind] += 1;
            *counts.entry(id).or_default() += 1;
        }
        let recorded = [
            self.responses.iter().map(ToString::to_string).collect::<Vec<_>>(),
            self.visits.iter().map(|(v, _)| v.to_string()).collect(),
            self.notes.iter().map(|(n, _)| n.to_string()).collect(),
        ];
        for (kind, (ids, what)) in recorded.iter().zip(["response", "visit", "note"]).enumerate() {
            for id in ids {
                let count = counts.get(id).copied().unwrap_or(0);
                if count != 1 {
                    return Err(format!("a {what} recorded on a device is in the server's log {count} times"));
                }
            }
            if logged[kind] != ids.len() {
                return Err(format!("the log holds {} {what}s; devices recorded {}", logged[kind], ids.len()));
            }
        }
        Ok(())
    }

    /// Folds the log into what each citizen's replica must hold (apart from mutable fields).
    fn fold(&self, log: &[Change]) -> SimResult<BTreeMap<uuid::Uuid, Expected>> {
        let mut out = BTreeMap::<uuid::Uuid, Expected>::new();
        for change in log {
            let citizen = out.entry(change.citizen().as_uuid()).or_default();
            match &change.body {
                ChangeBody::VisitStarted { visit, citizen: c, worker, started_at_ms, group } => {
                    citizen.visits.insert(
                        *visit,
                        VisitRow {
                            id: *visit,
                            citizen: *c,
                            worker: *worker,
                            started_at_ms: *started_at_ms,
                            closed_at_ms: None,
                            group: *group,
                        },
                    );
                    citizen.ids.push(visit.to_string());
                }
                ChangeBody::VisitClosed { visit, closed_at_ms, .. } => {
                    let row = citizen.visits.get_mut(visit).ok_or("a visit closed before it started, in the log")?;
                    // The earliest close holds, whichever arrived first.
                    row.closed_at_ms = Some(row.closed_at_ms.map_or(*closed_at_ms, |t| t.min(*closed_at_ms)));
                }
                ChangeBody::ResponseRecorded { response, visit, supersedes, .. } => {
                    let Checked::Response(valid) = change.check(&self.scales).map_err(err)? else {
                        return Err(format!("response {response} checks as another kind of change"));
                    };
                    let withdrawn = valid.is_withdrawn();
                    citizen.responses.push((*response, *visit, format!("{valid:?}"), *supersedes, withdrawn));
                    citizen.ids.push(response.to_string());
                }
                ChangeBody::NoteWritten { note, visit, body, written_at_ms, supersedes, .. } => {
                    let row = NoteRow { id: *note, visit: *visit, body: body.clone(), written_at_ms: *written_at_ms };
                    citizen.notes.insert(*note, (row, *supersedes));
                    citizen.ids.push(note.to_string());
                }
                ChangeBody::FieldSet { entity: Entity::Goal { goal, .. }, .. } => {
                    citizen.goals.insert(*goal);
                }
                ChangeBody::FieldSet { .. } => {}
            }
        }
        Ok(out)
    }

    /// Names a response, visit or note row by what made it, for a failure message.
    fn describe_row(&self, log: &[Change], id: &str) -> String {
        let device = |change: &Change| {
            self.devices
                .iter()
                .position(|d| d.id == change.device)
                .map_or("the server".to_owned(), |d| format!("device {d}"))
        };
        for change in log {
            let (kind, row) = match &change.body {
                ChangeBody::ResponseRecorded { response, .. } => ("response", response.to_string()),
                ChangeBody::VisitStarted { visit, .. } => ("visit", visit.to_string()),
                ChangeBody::NoteWritten { note, .. } => ("note", note.to_string()),
                _ => continue,
            };
            if row == id {
                let citizen = self.citizens.iter().position(|c| *c == change.citizen());
                return format!("{kind} {id} of citizen {citizen:?} by {} seq {}", device(change), change.seq);
            }
        }
        format!("{id} (not in the log)")
    }

    fn check_replica(
        &mut self,
        d: usize,
        per_citizen: &BTreeMap<uuid::Uuid, Expected>,
        fields: &Fields,
        log: &[Change],
    ) -> SimResult<()> {
        let worker_index = self.devices[d].worker;
        let worker = self.workers[worker_index];
        let caseload: Vec<usize> = (0..self.citizens.len()).filter(|c| self.assignment[*c] == worker_index).collect();
        let citizens: Vec<_> = caseload.iter().map(|c| self.citizens[*c]).collect();
        let empty = Expected::default();
        let store = self.devices[d].store()?;

        let mut held: Vec<_> = store.caseload(worker).map_err(err)?.into_iter().map(|c| c.id).collect();
        held.sort();
        let mut expected = citizens.clone();
        expected.sort();
        compare("caseload", d, &held, &expected)?;

        let mut held_ids = store.domain_ids().map_err(err)?;
        held_ids.sort();
        let mut expected_ids: Vec<String> =
            citizens.iter().flat_map(|c| per_citizen.get(&c.as_uuid()).unwrap_or(&empty).ids.iter().cloned()).collect();
        expected_ids.sort();
        if held_ids != expected_ids {
            let extra: Vec<_> = held_ids.iter().filter(|id| !expected_ids.contains(id)).collect();
            let missing: Vec<_> = expected_ids.iter().filter(|id| !held_ids.contains(id)).collect();
            let describe = |id: &String| self.describe_row(log, id);
            let extra: Vec<String> = extra.into_iter().map(describe).collect();
            let missing: Vec<String> = missing.into_iter().map(describe).collect();
            return Err(format!(
                "device {d}: its response, visit and note rows differ from the server's log for its caseload: \
                 {} rows it should not hold {extra:?}, {} missing {missing:?}",
                extra.len(),
                missing.len()
            ));
        }

        for citizen in citizens {
            let expected = per_citizen.get(&citizen.as_uuid()).unwrap_or(&empty);
            check_citizen(d, store, worker, citizen, expected, fields)?;
        }
        Ok(())
    }
}

/// Device `d` holds what the server's log says of `citizen`: profile, visits, responses, notes
/// in force and goals.
fn check_citizen(
    d: usize,
    store: &Store,
    worker: WorkerId,
    citizen: CitizenId,
    log: &Expected,
    fields: &Fields,
) -> SimResult<()> {
    let profile = store.citizen(citizen).map_err(err)?.ok_or(format!("device {d} lacks a citizen"))?;
    let text = |field| fields.value(field_key(&Entity::Citizen { citizen }, field)).cloned();
    let expected_profile = (
        text(FieldName::DisplayName).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        text(FieldName::BirthYear).and_then(|v| v.as_i64()),
        text(FieldName::AgeBand).unwrap_or(serde_json::json!("adult")),
        text(FieldName::CaseReference).and_then(|v| v.as_str().map(str::to_owned)),
    );
    let held_profile = (
        profile.display_name,
        profile.birth_year,
        serde_json::to_value(profile.age_band).map_err(err)?,
        profile.case_reference,
    );
    compare("profile fields", d, &held_profile, &expected_profile)?;

    let mut visits = store.visits(citizen).map_err(err)?;
    visits.sort_by_key(|v| v.id);
    let expected_visits: Vec<VisitRow> = log.visits.values().cloned().collect();
    compare("visits", d, &visits, &expected_visits)?;

    // The current version of every response: the ones no correction supersedes, unless withdrawn.
    let mut responses: Vec<(VisitId, String)> = store
        .history(worker, Some(citizen))
        .map_err(err)?
        .into_iter()
        .map(|row| (row.visit, format!("{:?}", row.response)))
        .collect();
    responses.sort();
    let superseded: BTreeSet<ResponseId> = log.responses.iter().filter_map(|r| r.3).collect();
    let mut expected_responses: Vec<(VisitId, String)> = log
        .responses
        .iter()
        .filter(|(id, _, _, _, withdrawn)| !superseded.contains(id) && !withdrawn)
        .map(|(_, visit, text, _, _)| (*visit, text.clone()))
        .collect();
    expected_responses.sort();
    compare("current responses", d, &responses, &expected_responses)?;
    // And the trail: every version, each with the one it supersedes.
    let mut versions: Vec<(ResponseId, Option<ResponseId>)> =
        store.responses(citizen).map_err(err)?.into_iter().map(|r| (r.id, r.supersedes)).collect();
    versions.sort();
    let mut expected_versions: Vec<(ResponseId, Option<ResponseId>)> =
        log.responses.iter().map(|(id, _, _, supersedes, _)| (*id, *supersedes)).collect();
    expected_versions.sort();
    compare("response versions", d, &versions, &expected_versions)?;

    let mut notes = store.notes(citizen).map_err(err)?;
    notes.sort_by_key(|n| n.id);
    let superseded: BTreeSet<NoteId> = log.notes.values().filter_map(|(_, s)| *s).collect();
    let expected_notes: Vec<NoteRow> =
        log.notes.values().filter(|(n, _)| !superseded.contains(&n.id)).map(|(n, _)| n.clone()).collect();
    compare("notes", d, &notes, &expected_notes)?;

    let mut goals = store.goals(citizen).map_err(err)?;
    goals.sort_by_key(|g| g.id);
    let expected_goals = expected_goals(citizen, log, fields);
    compare("goals", d, &goals, &expected_goals)?;
    Ok(())
}

/// The goals of `citizen` the log leaves: not deleted, with their last title and status.
fn expected_goals(citizen: CitizenId, log: &Expected, fields: &Fields) -> Vec<GoalRow> {
    log.goals
        .iter()
        .filter_map(|goal| {
            let entity = Entity::Goal { goal: *goal, citizen };
            let value = |field| fields.value(field_key(&entity, field));
            if value(FieldName::Deleted).and_then(|v| v.as_bool()) == Some(true) {
                return None;
            }
            let text = |field, default: &str| value(field).and_then(|v| v.as_str()).unwrap_or(default).to_owned();
            Some(GoalRow {
                id: *goal,
                title: text(FieldName::Title, ""),
                status: value(FieldName::Status)
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or(GoalStatus::Active),
            })
        })
        .collect()
}

/// The conflict log holds exactly the concurrent edits by the `base` rule.
fn check_conflicts(fields: &Fields, conflicts: &[Conflict]) -> SimResult<()> {
    let mut expected_conflicts = fields.conflicts.clone();
    expected_conflicts.sort();
    let mut held_conflicts: Vec<_> =
        conflicts.iter().map(|c| (c.winner.clone(), c.loser.clone(), c.field.clone())).collect();
    held_conflicts.sort();
    if held_conflicts != expected_conflicts {
        return Err(format!(
            "the conflict log holds {} entries; the base rule finds {} concurrent edits\n  log: {held_conflicts:?}\n  \
                 expected: {expected_conflicts:?}",
            held_conflicts.len(),
            expected_conflicts.len()
        ));
    }
    Ok(())
}

/// Every base names a write of the same field the log holds (a device that stamped its changes
/// again pointed its later edits at the new stamps), and no edit is lost silently: each is
/// held, knowingly overwritten, or in the conflict log.
fn check_no_edit_lost(fields: &Fields, device_ids: &BTreeMap<DeviceId, usize>) -> SimResult<()> {
    let versions: BTreeSet<(FieldKey, Version)> = fields.writes.iter().map(|(key, v, _, _)| (*key, *v)).collect();
    for (key, version, base, _) in &fields.writes {
        if let Some(base) = base
            && !versions.contains(&(*key, *base))
        {
            return Err(format!(
                "an edit of {} (HLC {:?}) is based on HLC {:?} of {:?}, which no write in the log has",
                key.2.as_str(),
                version.hlc,
                base.hlc,
                base.device
            ));
        }
    }
    let in_conflicts: BTreeSet<&str> = fields.conflicts.iter().flat_map(|(w, l, _)| [w.as_str(), l.as_str()]).collect();
    let bases: BTreeSet<(FieldKey, Version)> =
        fields.writes.iter().filter_map(|(key, _, base, _)| base.map(|b| (*key, b))).collect();
    for (key, version, base, id) in &fields.writes {
        let held = fields.held.get(key).is_some_and(|(v, _, _)| v == version);
        let overwritten_knowingly = bases.contains(&(*key, *version));
        if !held && !overwritten_knowingly && !in_conflicts.contains(id.to_string().as_str()) {
            let writer = device_ids.get(&version.device).map_or("the server".to_owned(), |d| format!("device {d}"));
            let held_by = fields.held.get(key).map(|(v, _, _)| v.hlc);
            return Err(format!(
                "an edit of {} by {writer} (HLC {:?}, based on {:?}) was lost silently: the field holds HLC \
                     {held_by:?}, no edit was based on it, and it is not in the conflict log",
                key.2.as_str(),
                version.hlc,
                base.map(|b| b.hlc)
            ));
        }
    }
    Ok(())
}
