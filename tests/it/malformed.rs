//! The malformed-input corpus: bad requests of every kind sent over HTTP to a running server.
//! Each gets its expected 4xx status and `{code, message}`, the server's database is byte for
//! byte the same dump afterwards, and the server keeps answering health checks throughout.

use std::path::Path;

use fit_core::Hlc;
use fit_core::ids::{CitizenId, DeviceId, GoalId, NoteId, ResponseId, TeamId, VisitId, WorkerId};
use fit_core::response::{MarkedBy, NotGivenReason, RawAnswer};
use fit_protocol::sync::BODY_BYTES_MAX;
use fit_protocol::{Change, ChangeBody, Entity, FieldName, ResponseContent, SCHEMA_VERSION};
use fit_server::rules::token::TokenPolicy;
use fit_server::secret_hash;
use fit_server::store::sqlite::SqliteStore;
use fit_server::store::{CitizenProfile, CodeRef, ServerStore};
use fit_tests::app::now_ms;
use fit_tests::server::{LiveServer, create_caseload, enrollment_code, new_id};
use serde_json::{Value, json};

/// Every row of every table, in order: what "the store is the same" means here.
fn dump(database: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut lines = Vec::new();
    for table in tables {
        let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1")).unwrap();
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                let values: Vec<String> = (0..columns).map(|i| value_text(row, i)).collect();
                Ok(values.join("|"))
            })
            .unwrap();
        for row in rows {
            lines.push(format!("{table}: {}", row.unwrap()));
        }
    }
    lines
}

fn value_text(row: &rusqlite::Row<'_>, index: usize) -> String {
    use rusqlite::types::ValueRef;
    match row.get_ref(index).unwrap() {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(i) => format!("i{i}"),
        ValueRef::Real(r) => format!("r{r}"),
        ValueRef::Text(t) => format!("t{}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("b{b:?}"),
    }
}

/// One bad request and what it must get.
struct Case {
    name: String,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

struct World {
    device: DeviceId,
    token: String,
    worker: WorkerId,
    citizen: CitizenId,
    stranger: CitizenId,
    /// The changes the device pushed already (seq 1 and 2): a visit and its ORS.
    pushed: Vec<Change>,
    visit: VisitId,
    other_worker: WorkerId,
    /// A visit to this worker's citizen by the other worker (who had the citizen for a while).
    their_visit: VisitId,
    /// The other worker's citizen's visit, response and goal.
    stranger_visit: VisitId,
    stranger_response: ResponseId,
    stranger_goal: GoalId,
    admin: Admin,
}

/// What the administrator's cases need: a revoked code, a deactivated worker's device and code,
/// and a token replaced by rotation whose grace period is over.
struct Admin {
    revoked_code: String,
    deactivated_token: String,
    deactivated_code: String,
    retired_token: String,
}

/// A change of `device` stamped now.
fn stamped(device: DeviceId, seq: u64, body: ChangeBody) -> Change {
    Change {
        id: new_id(),
        device,
        seq,
        hlc: Hlc::new(now_ms(), 0),
        device_time_ms: now_ms(),
        schema_version: SCHEMA_VERSION,
        body,
    }
}

impl World {
    fn change(&self, seq: u64, body: ChangeBody) -> Change {
        stamped(self.device, seq, body)
    }

    fn visit(&self, seq: u64, citizen: CitizenId) -> Change {
        self.change(
            seq,
            ChangeBody::VisitStarted {
                visit: new_id(),
                citizen,
                worker: self.worker,
                started_at_ms: now_ms(),
                group: None,
            },
        )
    }

    fn response(&self, seq: u64, scale: &str, answers: Value) -> Value {
        let visit: VisitId = new_id();
        let change = self.change(
            seq,
            ChangeBody::ResponseRecorded {
                response: new_id(),
                visit,
                citizen: self.citizen,
                scale: fit_core::ScaleCode::parse("ors").unwrap(),
                scale_version: "short-labels-1".into(),
                answered: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers: Vec::new() },
                recorded_at_ms: now_ms(),
                supersedes: None,
                correction: None,
            },
        );
        let mut json = serde_json::to_value(change).unwrap();
        json["body"]["scale"] = json!(scale);
        json["body"]["answered"] = json!({"given": {"marked_by": "citizen_on_device", "answers": answers}});
        json
    }

    fn field(&self, seq: u64, entity: Value, field: &str, value: Value) -> Value {
        let mut json = serde_json::to_value(self.visit(seq, self.citizen)).unwrap();
        json["body"] = json!({"type": "field_set", "entity": entity, "field": field, "value": value, "base": null});
        json
    }

    fn citizen_entity(&self) -> Value {
        json!({"kind": "citizen", "citizen": self.citizen})
    }
}

fn ors_answers(values: [Value; 4]) -> Value {
    let items = ["individually", "interpersonally", "socially", "overall"];
    Value::Array(items.iter().zip(values).map(|(item, value)| json!({"item": item, "value": value})).collect())
}

fn sync_body(push: Value) -> Vec<u8> {
    json!({"protocol": 1, "push": push, "cursor": 0, "pull_limit": 100}).to_string().into_bytes()
}

fn cases(w: &World, revoked_token: &str, expired_code: &str, used_code: &str) -> Vec<Case> {
    let auth = format!("Bearer {}", w.token);
    let json_headers = || vec![("authorization", auth.clone())];
    let mut cases = Vec::new();
    let mut sync = |name: &str, body: Vec<u8>, status: u16, code: &'static str| {
        cases.push(Case {
            name: name.to_owned(),
            method: "POST",
            path: "/api/v1/sync",
            headers: json_headers(),
            body,
            status,
            code,
        });
    };
    let next = 3; // seq 1 and 2 are on the server already
    let one = |change: Value| sync_body(json!([change]));
    let visit = serde_json::to_value(w.visit(next, w.citizen)).unwrap();
    let with = |path: &[&str], value: Value| {
        let mut change = visit.clone();
        let mut target = &mut change;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        one(change)
    };
    let without = |key: &str| {
        let mut change = visit.clone();
        change.as_object_mut().unwrap().remove(key);
        one(change)
    };

    // The envelope.
    sync("not JSON", b"{".to_vec(), 400, "request.malformed");
    sync("an empty body", Vec::new(), 400, "request.malformed");
    sync("an array, not an object", b"[]".to_vec(), 400, "request.malformed");
    sync("null", b"null".to_vec(), 400, "request.malformed");
    sync(
        "invalid UTF-8",
        b"{\"protocol\": 1, \"push\": [], \"cursor\": 0, \"x\": \"\xff\xfe\"}".to_vec(),
        400,
        "request.malformed",
    );
    sync(
        "protocol as a string",
        br#"{"protocol":"1","push":[],"cursor":0,"pull_limit":1}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync("no protocol", br#"{"push":[],"cursor":0,"pull_limit":1}"#.to_vec(), 400, "request.malformed");
    sync("no push", br#"{"protocol":1,"cursor":0,"pull_limit":1}"#.to_vec(), 400, "request.malformed");
    sync("no cursor", br#"{"protocol":1,"push":[],"pull_limit":1}"#.to_vec(), 400, "request.malformed");
    sync(
        "an unknown field",
        br#"{"protocol":1,"push":[],"cursor":0,"pull_limit":1,"since":5}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync(
        "push is not a list",
        br#"{"protocol":1,"push":{},"cursor":0,"pull_limit":1}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync(
        "a negative cursor",
        br#"{"protocol":1,"push":[],"cursor":-1,"pull_limit":1}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync(
        "a fractional cursor",
        br#"{"protocol":1,"push":[],"cursor":1.5,"pull_limit":1}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync(
        "pull_limit as text",
        br#"{"protocol":1,"push":[],"cursor":0,"pull_limit":"all"}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync("protocol 0", br#"{"protocol":0,"push":[],"cursor":0,"pull_limit":1}"#.to_vec(), 400, "protocol.unsupported");
    sync("protocol 2", br#"{"protocol":2,"push":[],"cursor":0,"pull_limit":1}"#.to_vec(), 400, "protocol.unsupported");
    sync(
        "a protocol past 32 bits",
        br#"{"protocol":4294967296,"push":[],"cursor":0,"pull_limit":1}"#.to_vec(),
        400,
        "request.malformed",
    );
    sync("a body of 50 MB", vec![b' '; 50 * 1024 * 1024], 413, "request.too_large");

    // A change's fields.
    sync("a change without an id", without("id"), 400, "request.malformed");
    sync("a change without a body", without("body"), 400, "request.malformed");
    sync("a change with an unknown field", with(&["cpr"], json!("0101011234")), 400, "request.malformed");
    sync("an id that is not a UUID", with(&["id"], json!("change-1")), 400, "request.malformed");
    sync(
        "an id that is UUIDv4",
        with(&["id"], json!("4b1d2c3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e")),
        422,
        "change.invalid_id",
    );
    sync("another device's change", with(&["device"], json!(new_id::<DeviceId>())), 422, "change.wrong_device");
    sync("seq 0", with(&["seq"], json!(0)), 422, "change.invalid_seq");
    sync("a gap before the batch", with(&["seq"], json!(5)), 422, "batch.sequence_gap");
    sync("schema version 2", with(&["schema_version"], json!(2)), 422, "change.schema_unsupported");
    sync(
        "a clock a year ahead",
        with(&["hlc", "wall_ms"], json!(now_ms() + 365 * 86_400_000)),
        422,
        "change.clock_ahead",
    );
    sync("a negative HLC counter", with(&["hlc", "counter"], json!(-1)), 400, "request.malformed");
    sync("an unknown kind of change", with(&["body", "type"], json!("visit_deleted")), 400, "request.malformed");
    sync("a citizen id that is not a UUID", with(&["body", "citizen"], json!("Anna")), 400, "request.malformed");
    let mut gap = visit.clone();
    gap["seq"] = json!(next + 2);
    sync("a gap inside the batch", sync_body(json!([visit.clone(), gap])), 422, "batch.sequence_gap");
    let mut last = visit.clone();
    last["seq"] = json!(u64::MAX);
    let mut after_last = serde_json::to_value(w.visit(next, w.citizen)).unwrap();
    after_last["seq"] = json!(0);
    sync("a batch that runs past the largest seq", sync_body(json!([last, after_last])), 422, "batch.sequence_gap");
    let many: Vec<Value> = (0..501).map(|i| serde_json::to_value(w.visit(next + i, w.citizen)).unwrap()).collect();
    sync("501 changes in one batch", sync_body(Value::Array(many)), 422, "batch.too_large");

    // Scores.
    let n = |v: i64| json!(v);
    sync(
        "an ORS mark of -1",
        one(w.response(next, "ors", ors_answers([n(-1), n(5), n(5), n(5)]))),
        422,
        "response.out_of_range",
    );
    sync(
        "an ORS mark of 101 tenths",
        one(w.response(next, "ors", ors_answers([n(101), n(5), n(5), n(5)]))),
        422,
        "response.out_of_range",
    );
    sync(
        "an ORS mark of 10.5 as a float",
        one(w.response(next, "ors", ors_answers([json!(10.5), n(5), n(5), n(5)]))),
        422,
        "response.not_an_integer",
    );
    sync(
        "an ORS mark as text",
        one(w.response(next, "ors", ors_answers([json!("50"), n(5), n(5), n(5)]))),
        422,
        "response.not_an_integer",
    );
    sync(
        "an ORS mark of null",
        one(w.response(next, "ors", ors_answers([Value::Null, n(5), n(5), n(5)]))),
        422,
        "response.not_an_integer",
    );
    let three = json!([{"item": "individually", "value": 5}, {"item": "interpersonally", "value": 5}, {"item": "socially", "value": 5}]);
    sync("an ORS with an item missing", one(w.response(next, "ors", three.clone())), 422, "response.missing_item");
    let mut twice = three.as_array().unwrap().clone();
    twice.push(json!({"item": "socially", "value": 5}));
    sync(
        "an ORS with an item twice",
        one(w.response(next, "ors", Value::Array(twice))),
        422,
        "response.duplicate_item",
    );
    let srs_items = ["relationship", "goals-and-topics", "approach-or-method", "overall"];
    let srs: Vec<Value> = srs_items.iter().map(|i| json!({"item": i, "value": 90})).collect();
    sync(
        "an SRS sent as an ORS",
        one(w.response(next, "ors", Value::Array(srs.clone()))),
        422,
        "response.unknown_item",
    );
    sync(
        "an ORS sent as an SRS",
        one(w.response(next, "srs", ors_answers([n(5), n(5), n(5), n(5)]))),
        422,
        "response.unknown_item",
    );
    sync(
        "an unknown scale",
        one(w.response(next, "phq9", ors_answers([n(5), n(5), n(5), n(5)]))),
        422,
        "response.unknown_scale",
    );
    let mut formula = w.response(next, "ors", ors_answers([n(5), n(5), n(5), n(5)]));
    formula["body"]["scale_version"] = json!("=HYPERLINK(\"http://x\")");
    sync("a scale version that is a spreadsheet formula", one(formula), 422, "response.invalid_scale_version");
    let mut huge = w.response(next, "ors", ors_answers([n(5), n(5), n(5), n(5)]));
    huge["body"]["scale_version"] = json!("v".repeat(65));
    sync("a scale version of 65 characters", one(huge), 422, "response.invalid_scale_version");
    sync("a scale code of 40 characters", one(w.response(next, &"x".repeat(40), json!([]))), 400, "request.malformed");
    let who5: Vec<Value> =
        ["cheerful", "calm", "active", "rested", "interest"].iter().map(|i| json!({"item": i, "value": 6})).collect();
    sync(
        "a WHO-5 answer that is no option",
        one(w.response(next, "who5", Value::Array(who5))),
        422,
        "response.not_an_option",
    );
    let mut not_given = w.response(next, "ors", json!([]));
    not_given["body"]["answered"] = json!({"not_given": {"reason": "bored"}});
    sync("a not-given reason not on the list", one(not_given), 400, "request.malformed");
    let mut marked = w.response(next, "ors", ors_answers([n(5), n(5), n(5), n(5)]));
    marked["body"]["answered"]["given"]["marked_by"] = json!("the_neighbour");
    sync("an unknown way of marking", one(marked), 400, "request.malformed");

    // Notes and fields.
    let note = |text: String| {
        let mut change = visit.clone();
        change["body"] = json!({"type": "note_written", "note": new_id::<VisitId>(), "citizen": w.citizen,
            "visit": null, "body": text, "written_at_ms": now_ms(), "supersedes": null});
        one(change)
    };
    sync("an empty note", note(String::new()), 422, "note.invalid");
    sync("a note of blanks", note("   \n ".into()), 422, "note.invalid");
    sync("a note of 10,001 characters", note("å".repeat(10_001)), 422, "note.invalid");
    sync("a note of 900 kB", note("x".repeat(900_000)), 422, "note.invalid");
    let citizen = w.citizen_entity();
    sync(
        "a name of 121 characters",
        one(w.field(next, citizen.clone(), "display_name", json!("n".repeat(121)))),
        422,
        "field.invalid",
    );
    sync("an empty name", one(w.field(next, citizen.clone(), "display_name", json!(""))), 422, "field.invalid");
    sync(
        "a name that is a number",
        one(w.field(next, citizen.clone(), "display_name", json!(7))),
        422,
        "field.invalid",
    );
    sync(
        "a name of only zero-width and direction marks",
        one(w.field(next, citizen.clone(), "display_name", json!("\u{200B}\u{200F}\u{2066}"))),
        422,
        "field.invalid",
    );
    sync(
        "a name reversed by a direction override",
        one(w.field(next, citizen.clone(), "display_name", json!("Anna \u{202E}nessuH"))),
        422,
        "field.invalid",
    );
    sync(
        "a name not in composed form",
        one(w.field(next, citizen.clone(), "display_name", json!("Bo\u{0308}rge"))),
        422,
        "field.invalid",
    );
    sync(
        "a CPR number as the case reference",
        one(w.field(next, citizen.clone(), "case_reference", json!("010190-1234"))),
        422,
        "field.invalid",
    );
    sync(
        "a CPR number as the name",
        one(w.field(next, citizen.clone(), "display_name", json!("0101901234"))),
        422,
        "field.invalid",
    );
    sync("a note of only a zero-width space", note("\u{200B}".into()), 422, "note.invalid");
    sync("a birth year of 1800", one(w.field(next, citizen.clone(), "birth_year", json!(1800))), 422, "field.invalid");
    sync(
        "an age band not on the list",
        one(w.field(next, citizen.clone(), "age_band", json!("elder"))),
        422,
        "field.invalid",
    );
    sync(
        "a goal's field on a citizen",
        one(w.field(next, citizen.clone(), "title", json!("Sove"))),
        422,
        "field.invalid",
    );
    let goal = json!({"kind": "goal", "goal": new_id::<VisitId>(), "citizen": w.citizen});
    sync(
        "a goal status not on the list",
        one(w.field(next, goal.clone(), "status", json!("paused"))),
        422,
        "field.invalid",
    );
    sync("a goal undeleted", one(w.field(next, goal.clone(), "deleted", json!(false))), 422, "field.invalid");
    sync(
        "a field not on the list",
        one(w.field(next, citizen.clone(), "cpr", json!("0101011234"))),
        400,
        "request.malformed",
    );

    // Scope and replays.
    sync(
        "another worker's citizen",
        one(serde_json::to_value(w.visit(next, w.stranger)).unwrap()),
        403,
        "citizen.out_of_scope",
    );
    sync(
        "a citizen who does not exist",
        one(serde_json::to_value(w.visit(next, new_id())).unwrap()),
        403,
        "citizen.out_of_scope",
    );
    let mut replay = serde_json::to_value(&w.pushed).unwrap();
    replay[1]["device_time_ms"] = json!(w.pushed[1].device_time_ms + 1);
    sync("a replayed batch with changed content", sync_body(replay), 409, "change.conflict");
    let mut reused = visit.clone();
    reused["id"] = json!(w.pushed[0].id);
    sync("a new change under a used id", one(reused), 409, "change.conflict");

    // References: what a change names must be held, be its citizen's, and (a visit it adds to or
    // closes) its worker's, or no device could apply it.
    let body = |body: ChangeBody| one(serde_json::to_value(w.change(next, body)).unwrap());
    let response_in = |visit: VisitId, citizen: CitizenId, supersedes: Option<ResponseId>| {
        body(ChangeBody::ResponseRecorded {
            response: new_id(),
            visit,
            citizen,
            scale: fit_core::ScaleCode::parse("ors").unwrap(),
            scale_version: "short-labels-1".into(),
            answered: ResponseContent::NotGiven { reason: NotGivenReason::Declined },
            recorded_at_ms: now_ms(),
            supersedes,
            // A correction names why, so what it supersedes is what the case is about.
            correction: supersedes.map(|_| fit_core::CorrectionReason::WrongMark),
        })
    };
    let note_on = |visit: Option<VisitId>, supersedes: Option<NoteId>| {
        body(ChangeBody::NoteWritten {
            note: new_id(),
            citizen: w.citizen,
            visit,
            body: "Godt besøg".into(),
            written_at_ms: now_ms(),
            supersedes,
        })
    };
    let close = |visit: VisitId| {
        body(ChangeBody::VisitClosed { visit, citizen: w.citizen, closed_at_ms: now_ms(), cancelled: false })
    };
    let start = |visit: VisitId, worker: WorkerId| {
        body(ChangeBody::VisitStarted { visit, citizen: w.citizen, worker, started_at_ms: now_ms(), group: None })
    };
    let (unknown, foreign) = ("reference.unknown", "reference.foreign");
    sync("closing a visit that does not exist", close(new_id()), 422, unknown);
    sync("a visit started in another worker's name", start(new_id(), w.other_worker), 422, "visit.wrong_worker");
    sync("a visit under the id of another citizen's visit", start(w.stranger_visit, w.worker), 422, foreign);
    sync("a visit under the id of another worker's visit", start(w.their_visit, w.worker), 422, foreign);
    sync("a response in a visit that does not exist", response_in(new_id(), w.citizen, None), 422, unknown);
    sync("a response in another citizen's visit", response_in(w.stranger_visit, w.citizen, None), 422, foreign);
    sync(
        "a response superseding another citizen's response",
        response_in(w.visit, w.citizen, Some(w.stranger_response)),
        422,
        foreign,
    );
    sync("a response superseding one never sent", response_in(w.visit, w.citizen, Some(new_id())), 422, unknown);
    sync("a note on another citizen's visit", note_on(Some(w.stranger_visit), None), 422, foreign);
    sync("closing another citizen's visit as one's own citizen's", close(w.stranger_visit), 422, foreign);
    sync("a note on a visit that does not exist", note_on(Some(new_id()), None), 422, unknown);
    sync("a note superseding one never sent", note_on(None, Some(new_id())), 422, unknown);
    let mut goal = w.change(
        next,
        ChangeBody::FieldSet {
            entity: Entity::Goal { goal: w.stranger_goal, citizen: w.citizen },
            field: FieldName::Title,
            value: json!("Overtaget mål"),
            base: None,
        },
    );
    goal.hlc = Hlc::new(now_ms() + 5 * 3_600_000, 0);
    sync(
        "another citizen's goal filed under one's own, 5 h ahead",
        one(serde_json::to_value(&goal).unwrap()),
        422,
        foreign,
    );
    let good_then_bad = json!([
        serde_json::to_value(w.visit(next, w.citizen)).unwrap(),
        serde_json::to_value(w.change(
            next + 1,
            ChangeBody::VisitClosed { visit: new_id(), citizen: w.citizen, closed_at_ms: now_ms(), cancelled: false }
        ))
        .unwrap(),
    ]);
    sync("a good change, then one naming a visit that does not exist", sync_body(good_then_bad), 422, unknown);

    // Times no clock explains.
    let implausible = "change.time_implausible";
    sync("a visit started at 2^63", with(&["body", "started_at_ms"], json!(1u64 << 63)), 422, implausible);
    sync("a visit started at 0", with(&["body", "started_at_ms"], json!(0)), 422, implausible);
    sync("a visit started in 2019", with(&["body", "started_at_ms"], json!(1_546_300_800_000u64)), 422, implausible);
    sync(
        "a visit started two years ahead",
        with(&["body", "started_at_ms"], json!(now_ms() + 2 * 365 * 86_400_000)),
        422,
        implausible,
    );
    sync("a device time of 0", with(&["device_time_ms"], json!(0)), 422, implausible);
    sync("a device time of 2^63 - 1", with(&["device_time_ms"], json!(i64::MAX)), 422, implausible);
    sync("an HLC at 0", with(&["hlc", "wall_ms"], json!(0)), 422, implausible);
    let mut closed = serde_json::to_value(w.change(
        next,
        ChangeBody::VisitClosed { visit: w.visit, citizen: w.citizen, closed_at_ms: now_ms(), cancelled: false },
    ))
    .unwrap();
    closed["body"]["closed_at_ms"] = json!(1);
    sync("a visit closed in 1970", one(closed), 422, implausible);
    let mut recorded = serde_json::from_slice::<Value>(&response_in(w.visit, w.citizen, None)).unwrap();
    recorded["push"][0]["body"]["recorded_at_ms"] = json!(0);
    sync("a response recorded at 0", recorded.to_string().into_bytes(), 422, implausible);
    let mut written = serde_json::from_slice::<Value>(&note_on(None, None)).unwrap();
    written["push"][0]["body"]["written_at_ms"] = json!(now_ms() + 3 * 365 * 86_400_000);
    sync("a note written three years ahead", written.to_string().into_bytes(), 422, implausible);

    // Cursors the server never gave.
    let cursor = |cursor: Value| {
        json!({"protocol": 1, "push": [], "cursor": cursor, "pull_limit": 100}).to_string().into_bytes()
    };
    sync("a cursor past the end of the log", cursor(json!(1_000_000)), 422, "sync.cursor_past_end");
    sync("a cursor at the largest number", cursor(json!(u64::MAX)), 422, "sync.cursor_past_end");

    // Reports of changes a device could not apply.
    let report = |reports: Value| {
        json!({"protocol": 1, "push": [], "cursor": 0, "pull_limit": 100, "quarantined": reports})
            .to_string()
            .into_bytes()
    };
    let many: Vec<Value> =
        (0..101).map(|_| json!({"change": new_id::<VisitId>(), "code": "reference.unknown"})).collect();
    sync("101 quarantined changes in one report", report(Value::Array(many)), 422, "batch.too_large");
    sync(
        "a quarantine report with its reason in full",
        report(json!([{"change": new_id::<VisitId>(), "code": "note.invalid", "reason": "Anna's note"}])),
        400,
        "request.malformed",
    );

    // Encodings.
    let zstd = |headers: &mut Vec<(&'static str, String)>| headers.push(("content-encoding", "zstd".into()));
    let bomb = fit_zstd(&vec![b' '; 64 * 1024 * 1024]);
    let mut encoded = vec![
        ("a zstd bomb", bomb, 413, "request.too_large"),
        ("zstd that is not zstd", b"\x28\xb5\x2f\xfd garbage".to_vec(), 400, "request.malformed"),
    ];
    for (name, body, status, code) in encoded.drain(..) {
        let mut headers = json_headers();
        zstd(&mut headers);
        cases.push(Case { name: name.into(), method: "POST", path: "/api/v1/sync", headers, body, status, code });
    }
    let mut brotli = json_headers();
    brotli.push(("content-encoding", "br".into()));
    cases.push(Case {
        name: "a body in brotli".into(),
        method: "POST",
        path: "/api/v1/sync",
        headers: brotli,
        body: sync_body(json!([])),
        status: 415,
        code: "request.encoding_unsupported",
    });

    // Who is asking.
    let mut who = |name: &str, authorization: Option<String>, status: u16, code: &'static str| {
        cases.push(Case {
            name: name.into(),
            method: "POST",
            path: "/api/v1/sync",
            headers: authorization.map(|a| vec![("authorization", a)]).unwrap_or_default(),
            body: sync_body(json!([])),
            status,
            code,
        });
    };
    who("no token", None, 401, "auth.required");
    who("a wrong token", Some("Bearer 00ff".into()), 401, "auth.required");
    who("an empty bearer", Some("Bearer ".into()), 401, "auth.required");
    who("basic authentication", Some("Basic Zml0OmZpZWxk".into()), 401, "auth.required");
    who("a revoked device", Some(format!("Bearer {revoked_token}")), 401, "device.revoked");

    // Enrollment.
    let mut enroll = |name: &str, body: Value, status: u16, code: &'static str| {
        cases.push(Case {
            name: name.into(),
            method: "POST",
            path: "/api/v1/enroll",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
            status,
            code,
        });
    };
    let device = new_id::<DeviceId>();
    enroll(
        "an expired code",
        json!({"protocol": 1, "code": expired_code, "device": device}),
        422,
        "enroll.code_expired",
    );
    enroll("a used code", json!({"protocol": 1, "code": used_code, "device": device}), 422, "enroll.code_used");
    enroll("an unknown code", json!({"protocol": 1, "code": "0000", "device": device}), 422, "enroll.code_invalid");
    enroll("an empty code", json!({"protocol": 1, "code": "", "device": device}), 422, "enroll.code_invalid");
    enroll(
        "a code of 10 kB",
        json!({"protocol": 1, "code": "7".repeat(10_000), "device": device}),
        422,
        "enroll.code_invalid",
    );
    enroll(
        "a device id that is UUIDv4",
        json!({"protocol": 1, "code": "0000", "device": "4b1d2c3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"}),
        422,
        "enroll.device_invalid",
    );
    enroll(
        "enrollment in protocol 9",
        json!({"protocol": 9, "code": "0000", "device": device}),
        400,
        "protocol.unsupported",
    );
    enroll("enrollment without a device", json!({"protocol": 1, "code": "0000"}), 400, "request.malformed");

    // Routes.
    for (name, method, path, status, code) in [
        ("a GET of the sync endpoint", "GET", "/api/v1/sync", 405, "route.method_not_allowed"),
        ("a path that does not exist", "GET", "/api/v2/sync", 404, "route.not_found"),
        ("the scale packs without a token", "GET", "/api/v1/scale-packs", 401, "auth.required"),
    ] {
        cases.push(Case { name: name.into(), method, path, headers: Vec::new(), body: Vec::new(), status, code });
    }
    admin_cases(w, &mut cases);
    cases
}

/// The administrator's cases: revoked and expired codes, a deactivated worker, a retired token.
fn admin_cases(w: &World, cases: &mut Vec<Case>) {
    let a = &w.admin;
    let enroll = |name: &str, code: &str| Case {
        name: name.into(),
        method: "POST",
        path: "/api/v1/enroll",
        headers: Vec::new(),
        body: json!({"protocol": 1, "code": code, "device": new_id::<DeviceId>()}).to_string().into_bytes(),
        status: 422,
        code: "",
    };
    let sync = |name: &str, token: &str, push: Value| Case {
        name: name.into(),
        method: "POST",
        path: "/api/v1/sync",
        headers: vec![("authorization", format!("Bearer {token}"))],
        body: sync_body(push),
        status: 401,
        code: "auth.required",
    };
    let packs = |name: &str, token: &str| Case {
        name: name.into(),
        method: "GET",
        path: "/api/v1/scale-packs",
        headers: vec![("authorization", format!("Bearer {token}"))],
        body: Vec::new(),
        status: 401,
        code: "auth.required",
    };
    let visit = serde_json::to_value(vec![w.visit(1, w.citizen)]).unwrap();
    cases.extend([
        Case { code: "enroll.code_revoked", ..enroll("a revoked code", &a.revoked_code) },
        Case { code: "enroll.code_expired", ..enroll("an expired code, for another new device", "expired-code") },
        Case {
            status: 403,
            code: "worker.deactivated",
            ..enroll("a code of a deactivated worker", &a.deactivated_code)
        },
        Case {
            status: 403,
            code: "worker.deactivated",
            ..sync("a deactivated worker's sync", &a.deactivated_token, json!([]))
        },
        Case {
            status: 403,
            code: "worker.deactivated",
            ..sync("a deactivated worker's push", &a.deactivated_token, visit.clone())
        },
        Case {
            status: 403,
            code: "worker.deactivated",
            ..packs("a deactivated worker's scale packs", &a.deactivated_token)
        },
        sync("a token past its grace period", &a.retired_token, json!([])),
        sync("a token past its grace period, pushing", &a.retired_token, visit),
        packs("a token past its grace period, for the scale packs", &a.retired_token),
    ]);
}

/// Sets up the administrator's cases: a revoked code; a second worker with an enrolled device
/// and an unused code, then deactivated; a device whose enrollment token was rotated away and
/// whose grace period is over.
async fn admin_world(server: &LiveServer<SqliteStore>, url: &str, team: TeamId, worker: WorkerId) -> Admin {
    let http = reqwest::Client::new();
    let enroll = |code: String| {
        let request = json!({"protocol": 1, "code": code, "device": new_id::<DeviceId>()});
        let answer = http.post(format!("{url}/api/v1/enroll")).json(&request).send();
        async move { answer.await.unwrap().json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned() }
    };
    let sync = |token: String| {
        let answer = http
            .post(format!("{url}/api/v1/sync"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(sync_body(json!([])))
            .send();
        async move { answer.await.unwrap().json::<Value>().await.unwrap() }
    };
    let store = &server.store;
    let revoked_code = enrollment_code(store, worker, now_ms()).await.unwrap();
    store.revoke_enrollment_code(CodeRef::Hash(secret_hash(&revoked_code)), now_ms()).await.unwrap();

    let leaver: WorkerId = new_id();
    store.create_worker(leaver, team, "Leaver".into()).await.unwrap();
    let deactivated_token = enroll(enrollment_code(store, leaver, now_ms()).await.unwrap()).await;
    let deactivated_code = enrollment_code(store, leaver, now_ms()).await.unwrap();
    store.set_worker_active(leaver, false, now_ms()).await.unwrap();

    let retired_token = enroll(enrollment_code(store, worker, now_ms()).await.unwrap()).await;
    let next = sync(retired_token.clone()).await["new_token"].as_str().unwrap().to_owned();
    assert_eq!(sync(next).await["code"], Value::Null, "the new token works");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    Admin { revoked_code, deactivated_token, deactivated_code, retired_token }
}

/// POSTs `case` over a plain TCP connection, writing the body in the background, and reads the
/// answer's status and JSON body.
async fn send_while_reading(addr: std::net::SocketAddr, case: &Case) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        case.method,
        case.path,
        case.body.len()
    );
    for (name, value) in &case.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    let body = case.body.clone();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
    });
    let mut answer = Vec::new();
    let _ = reader.read_to_end(&mut answer).await;
    writing.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, body)
}

/// The other worker's device records a visit, a response and a goal for its own citizen, and,
/// while it has `citizen` for a while, a visit to them: what forged references point at.
async fn other_workers_records<S: ServerStore>(
    server: &LiveServer<S>,
    http: &reqwest::Client,
    other: WorkerId,
    citizen: CitizenId,
    worker: WorkerId,
    stranger: CitizenId,
) -> (VisitId, VisitId, ResponseId, GoalId) {
    let code = enrollment_code(&server.store, other, now_ms()).await.unwrap();
    let device = new_id::<DeviceId>();
    let enrolled: Value = http
        .post(format!("{}/api/v1/enroll", server.url()))
        .json(&json!({"protocol": 1, "code": code, "device": device}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = enrolled["token"].as_str().unwrap().to_owned();
    server.store.assign(citizen, other, now_ms()).await.unwrap();
    let (their_visit, stranger_visit, stranger_response, stranger_goal) = (new_id(), new_id(), new_id(), new_id());
    let bodies = vec![
        ChangeBody::VisitStarted { visit: their_visit, citizen, worker: other, started_at_ms: now_ms(), group: None },
        ChangeBody::VisitStarted {
            visit: stranger_visit,
            citizen: stranger,
            worker: other,
            started_at_ms: now_ms(),
            group: None,
        },
        ChangeBody::ResponseRecorded {
            response: stranger_response,
            visit: stranger_visit,
            citizen: stranger,
            scale: fit_core::ScaleCode::parse("ors").unwrap(),
            scale_version: "short-labels-1".into(),
            answered: ResponseContent::NotGiven { reason: NotGivenReason::Declined },
            recorded_at_ms: now_ms(),
            supersedes: None,
            correction: None,
        },
        ChangeBody::FieldSet {
            entity: Entity::Goal { goal: stranger_goal, citizen: stranger },
            field: FieldName::Title,
            value: json!("Gå en tur hver dag"),
            base: None,
        },
    ];
    let push: Vec<Change> = bodies.into_iter().zip(1..).map(|(body, seq)| stamped(device, seq, body)).collect();
    let answer = http
        .post(format!("{}/api/v1/sync", server.url()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(sync_body(serde_json::to_value(&push).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    server.store.assign(citizen, worker, now_ms()).await.unwrap();
    (their_visit, stranger_visit, stranger_response, stranger_goal)
}

fn fit_zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 19).unwrap()
}

#[tokio::test]
async fn every_malformed_request_gets_its_code_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("server.db");
    let store = SqliteStore::open(&database).unwrap();
    // Tokens rotate at every sync and a replaced one dies a millisecond after its successor is
    // used, so the corpus holds a token past its grace period.
    let tokens = TokenPolicy { rotate_after_ms: 0, grace_ms: 1 };
    let server = LiveServer::start_with(store, None, None, move |state| state.tokens = tokens).await.unwrap();
    let http = reqwest::Client::new();
    let url = server.url();

    // A worker with a citizen and a device that has pushed a visit; another worker's citizen; a
    // revoked device; an expired and a used enrollment code.
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let other: WorkerId = new_id();
    let stranger: CitizenId = new_id();
    server.store.create_worker(other, caseload.team, "Jonas".into()).await.unwrap();
    server.store.create_citizen(stranger, caseload.team, CitizenProfile::adult("Carla"), now_ms()).await.unwrap();
    server.store.assign(stranger, other, now_ms()).await.unwrap();
    let enroll = |code: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let device = new_id::<DeviceId>();
            let answer: Value = http
                .post(format!("{url}/api/v1/enroll"))
                .json(&json!({"protocol": 1, "code": code, "device": device}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (device, answer["token"].as_str().unwrap().to_owned())
        }
    };
    let used_code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let (device, token) = enroll(used_code.clone()).await;
    let (revoked, revoked_token) =
        enroll(enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap()).await;
    server.store.revoke(revoked, now_ms()).await.unwrap();
    let expired_code = "expired-code".to_owned();
    server
        .store
        .create_enrollment_code(secret_hash(&expired_code), caseload.worker, now_ms() - 7_200_000, now_ms() - 3_600_000)
        .await
        .unwrap();
    let (their_visit, stranger_visit, stranger_response, stranger_goal) =
        other_workers_records(&server, &http, other, caseload.citizen, caseload.worker, stranger).await;
    let admin = admin_world(&server, &url, caseload.team, caseload.worker).await;
    let mut world = World {
        device,
        token,
        worker: caseload.worker,
        citizen: caseload.citizen,
        stranger,
        pushed: Vec::new(),
        visit: new_id(),
        other_worker: other,
        their_visit,
        stranger_visit,
        stranger_response,
        stranger_goal,
        admin,
    };
    let visit = world.visit(1, world.citizen);
    let ChangeBody::VisitStarted { visit: visit_id, .. } = visit.body else { unreachable!() };
    world.visit = visit_id;
    let answers: Vec<RawAnswer> = ["individually", "interpersonally", "socially", "overall"]
        .iter()
        .map(|i| RawAnswer { item: (*i).into(), value: json!(50) })
        .collect();
    let response = world.change(
        2,
        ChangeBody::ResponseRecorded {
            response: new_id(),
            visit: visit_id,
            citizen: world.citizen,
            scale: fit_core::ScaleCode::parse("ors").unwrap(),
            scale_version: "short-labels-1".into(),
            answered: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
            recorded_at_ms: now_ms(),
            supersedes: None,
            correction: None,
        },
    );
    world.pushed = vec![visit, response];
    let accepted = http
        .post(format!("{url}/api/v1/sync"))
        .bearer_auth(&world.token)
        .body(sync_body(serde_json::to_value(&world.pushed).unwrap()))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200, "{}", accepted.text().await.unwrap());

    let cases = cases(&world, &revoked_token, &expired_code, &used_code);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let before = dump(&database);
    let mut wrong = Vec::new();
    for case in &cases {
        let mut request = http
            .request(case.method.parse().unwrap(), format!("{url}{}", case.path))
            .header("content-type", "application/json")
            .body(case.body.clone());
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let (status, body) = if case.body.len() > 2 * BODY_BYTES_MAX {
            // The server answers before the body is in and closes; an HTTP client still sending
            // may lose the answer, so this one reads while it writes.
            send_while_reading(server.addr, case).await
        } else {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
        };
        let code = body["code"].as_str().unwrap_or("(no code)").to_owned();
        let has_message = body["message"].as_str().is_some_and(|m| !m.is_empty());
        if (status, code.as_str()) != (case.status, case.code) || !has_message {
            wrong.push(format!("{}: got {status} {code}, want {} {}: {body}", case.name, case.status, case.code));
        }
        let health = http.get(format!("{url}/api/v1/health")).send().await.unwrap();
        assert_eq!(health.status(), 200, "health after {}", case.name);
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    assert_eq!(dump(&database), before, "a refused request changed the store");
    println!("malformed corpus: {} cases, each refused with its code, store unchanged", cases.len());
}
