//! Reads: the caseload, a citizen's history, the outbox, and the audit of who read what.

use std::collections::BTreeMap;

use fit_core::hlc::Hlc;
use fit_core::ids::{CitizenId, GoalId, GroupId, NoteId, ResponseId, VisitId, WorkerId};
use fit_core::interpret::AgeBand;
use fit_core::response::{Answer, CorrectionReason, MarkedBy, NotGivenReason, ResponseValue, Total, ValidResponse};
use fit_core::scale::{ScaleCode, ScaleKind};
use fit_protocol::sync::QuarantineReport;
use fit_protocol::{Change, ChangeBody, ErrorCode, GoalStatus};
use rusqlite::{OptionalExtension, Row, params};

use crate::write::sql_u64;
use crate::{Store, StoreError};

/// A pulled change this device could not apply, as the quarantine holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedChange {
    pub change: Change,
    pub code: ErrorCode,
    pub reason: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(rename = "CitizenInfo")]
pub struct CitizenRow {
    pub id: CitizenId,
    pub display_name: String,
    pub birth_year: Option<i64>,
    pub age_band: AgeBand,
    pub case_reference: Option<String>,
    /// The day the support started (`YYYY-MM-DD`), when the server has sent it.
    pub support_started: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(rename = "VisitInfo")]
pub struct VisitRow {
    pub id: VisitId,
    pub citizen: CitizenId,
    pub worker: WorkerId,
    pub started_at_ms: u64,
    pub closed_at_ms: Option<u64>,
    /// The group session the visit was part of, if any.
    pub group: Option<GroupId>,
}

/// One response in a citizen's history, with the visit it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub citizen: CitizenId,
    pub visit: VisitId,
    pub response: ValidResponse,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(rename = "NoteInfo")]
pub struct NoteRow {
    pub id: NoteId,
    pub visit: Option<VisitId>,
    pub body: String,
    pub written_at_ms: u64,
}

/// A citizen's line on the caseload screen, cached until the next change about the citizen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CitizenSummary {
    pub last_outcome_tenths: Option<i64>,
    pub previous_outcome_tenths: Option<i64>,
    pub alerts: Vec<fit_core::AlertCode>,
    /// What the well-being schedule counts from; the due date follows from the team's schedule
    /// when the line is shown, so a new schedule needs no recomputation.
    pub measured: fit_core::Measured,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(rename = "GoalInfo")]
pub struct GoalRow {
    pub id: GoalId,
    pub title: String,
    pub status: GoalStatus,
}

fn parse<T: std::str::FromStr>(text: String, what: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| StoreError::Damaged(format!("{what} {text:?}")))
}

fn from_enum_text<T: serde::de::DeserializeOwned>(text: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| StoreError::Damaged(format!("unknown value {text:?}")))
}

fn ms(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Damaged(format!("negative time {value}")))
}

type CitizenColumns = (String, String, Option<i64>, String, Option<String>, Option<String>);

fn citizen_row(row: &Row<'_>) -> rusqlite::Result<CitizenColumns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn to_citizen(raw: CitizenColumns) -> Result<CitizenRow, StoreError> {
    let (id, display_name, birth_year, age_band, case_reference, support_started) = raw;
    Ok(CitizenRow {
        id: parse(id, "citizen id")?,
        display_name,
        birth_year,
        age_band: from_enum_text(age_band)?,
        case_reference,
        support_started,
    })
}

type ResponseColumns =
    (String, String, String, String, Option<String>, Option<String>, Option<String>, Option<i64>, Option<i64>, String);

const RESPONSE_COLUMNS: &str = "r.citizen_id, r.visit_id, r.scale, r.kind, r.marked_by, r.not_given_reason, r.answers, \
     r.total_raw, r.total_score, r.status";

fn response_columns(row: &Row<'_>) -> rusqlite::Result<ResponseColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn to_history(raw: ResponseColumns) -> Result<HistoryRow, StoreError> {
    let (citizen, visit, scale, kind, marked_by, reason, answers, total_raw, total_score, status) = raw;
    let scale = ScaleCode::parse(&scale).ok_or_else(|| StoreError::Damaged(format!("scale {scale:?}")))?;
    let value = match (marked_by, answers, total_raw, total_score, reason) {
        (None, None, None, None, None) if status == "withdrawn" => ResponseValue::Withdrawn,
        (Some(marked_by), Some(answers), Some(raw), Some(score), None) => ResponseValue::Given {
            marked_by: from_enum_text(marked_by)?,
            answers: serde_json::from_str::<Vec<Answer>>(&answers).map_err(|e| StoreError::Damaged(e.to_string()))?,
            total: Total { raw, score },
        },
        (None, None, None, None, Some(reason)) => ResponseValue::NotGiven { reason: from_enum_text(reason)? },
        _ => return Err(StoreError::Damaged("a response is neither given, not given nor withdrawn".into())),
    };
    Ok(HistoryRow {
        citizen: parse(citizen, "citizen id")?,
        visit: parse(visit, "visit id")?,
        response: ValidResponse { scale, kind: from_enum_text(kind)?, value },
    })
}

/// One response as the history shows it: its value, who marked it, and its place in a chain of
/// corrections (the response it supersedes and why, and whether a later one supersedes it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(rename = "ResponseInfo")]
pub struct ResponseRow {
    pub id: ResponseId,
    pub visit: VisitId,
    pub citizen: CitizenId,
    pub scale: ScaleCode,
    pub kind: ScaleKind,
    pub status: ResponseStatus,
    pub marked_by: Option<MarkedBy>,
    pub not_given_reason: Option<NotGivenReason>,
    pub total: Option<Total>,
    pub recorded_at_ms: u64,
    pub supersedes: Option<ResponseId>,
    pub correction: Option<CorrectionReason>,
    /// The response that corrects this one, if any: then this one is history, not in force.
    pub superseded_by: Option<ResponseId>,
}

/// Whether a response was given, not given, or withdrawn by a correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    Given,
    NotGiven,
    Withdrawn,
}

// The latest correction of a response names it in `superseded_by`; two corrections of one
// response (made on two devices at once) both stay, and the one recorded last is named.
const RESPONSE_ROW_SELECT: &str = "SELECT r.id, r.visit_id, r.citizen_id, r.scale, r.kind, r.status, r.marked_by, \
     r.not_given_reason, r.total_raw, r.total_score, r.recorded_at_ms, r.supersedes, r.correction, \
     (SELECT s.id FROM responses s WHERE s.supersedes = r.id ORDER BY s.hlc_wall_ms DESC, s.hlc_counter DESC LIMIT 1) \
     FROM responses r JOIN visits v ON v.id = r.visit_id";

type ResponseRowColumns = (
    [String; 6],
    (Option<String>, Option<String>, Option<i64>, Option<i64>, i64),
    (Option<String>, Option<String>, Option<String>),
);

fn response_row_columns(row: &Row<'_>) -> rusqlite::Result<ResponseRowColumns> {
    Ok((
        [row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?],
        (row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?),
        (row.get(11)?, row.get(12)?, row.get(13)?),
    ))
}

fn to_response_row(raw: ResponseRowColumns) -> Result<ResponseRow, StoreError> {
    let ([id, visit, citizen, scale, kind, status], (marked_by, reason, raw_total, score, recorded_at_ms), later) = raw;
    let (supersedes, correction, superseded_by) = later;
    let total = match (raw_total, score) {
        (Some(raw), Some(score)) => Some(Total { raw, score }),
        _ => None,
    };
    Ok(ResponseRow {
        id: parse(id, "response id")?,
        visit: parse(visit, "visit id")?,
        citizen: parse(citizen, "citizen id")?,
        scale: ScaleCode::parse(&scale).ok_or_else(|| StoreError::Damaged(format!("scale {scale:?}")))?,
        kind: from_enum_text(kind)?,
        status: from_enum_text(status)?,
        marked_by: marked_by.map(from_enum_text).transpose()?,
        not_given_reason: reason.map(from_enum_text).transpose()?,
        total,
        recorded_at_ms: ms(recorded_at_ms)?,
        supersedes: supersedes.map(|s| parse(s, "response id")).transpose()?,
        correction: correction.map(from_enum_text).transpose()?,
        superseded_by: superseded_by.map(|s| parse(s, "response id")).transpose()?,
    })
}

impl Store {
    /// The pulled changes set aside as ones this device cannot apply, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT change_json, code, reason, quarantined_at_ms FROM quarantine ORDER BY quarantined_at_ms, rowid",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (json, code, reason, at_ms) = row?;
            let change = serde_json::from_str(&json).map_err(|e| StoreError::Damaged(format!("quarantine: {e}")))?;
            let code = serde_json::from_value(serde_json::Value::String(code)).unwrap_or(ErrorCode::Unknown);
            let at_ms = u64::try_from(at_ms).map_err(|_| StoreError::Damaged("quarantine time".into()))?;
            out.push(QuarantinedChange { change, code, reason, at_ms });
        }
        Ok(out)
    }

    /// Up to `limit` quarantined changes not yet reported to the server: their ids and codes.
    pub fn quarantine_unreported(&self, limit: usize) -> Result<Vec<QuarantineReport>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT change_id, code FROM quarantine WHERE reported_at_ms IS NULL
              ORDER BY quarantined_at_ms, rowid LIMIT ?1",
        )?;
        let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, code) = row?;
            let change = id.parse().map_err(|_| StoreError::Damaged("quarantine change id".into()))?;
            let code = serde_json::from_value(serde_json::Value::String(code)).unwrap_or(ErrorCode::Unknown);
            out.push(QuarantineReport { change, code });
        }
        Ok(out)
    }

    /// The citizens assigned to `worker`, by display name.
    pub fn caseload(&self, worker: WorkerId) -> Result<Vec<CitizenRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT c.id, c.display_name, c.birth_year, c.age_band, c.case_reference, c.support_started
             FROM caseload l JOIN citizens c ON c.id = l.citizen_id
             WHERE l.worker_id = ?1 ORDER BY c.display_name, c.id",
        )?;
        let rows = statement.query_map([worker.to_string()], citizen_row)?;
        rows.map(|r| to_citizen(r?)).collect()
    }

    pub fn citizen(&self, citizen: CitizenId) -> Result<Option<CitizenRow>, StoreError> {
        let raw = self
            .conn
            .query_row(
                "SELECT id, display_name, birth_year, age_band, case_reference, support_started FROM citizens WHERE id = ?1",
                [citizen.to_string()],
                citizen_row,
            )
            .optional()?;
        raw.map(to_citizen).transpose()
    }

    pub fn is_in_caseload(&self, worker: WorkerId, citizen: CitizenId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM caseload WHERE worker_id = ?1 AND citizen_id = ?2",
                params![worker.to_string(), citizen.to_string()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn visit(&self, visit: VisitId) -> Result<Option<VisitRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, citizen_id, worker_id, started_at_ms, closed_at_ms, group_id FROM visits WHERE id = ?1",
        )?;
        let raw = statement.query_row([visit.to_string()], visit_columns).optional()?;
        raw.map(to_visit).transpose()
    }

    /// A citizen's visits, oldest first; a cancelled one (started by mistake) is no visit.
    pub fn visits(&self, citizen: CitizenId) -> Result<Vec<VisitRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, citizen_id, worker_id, started_at_ms, closed_at_ms, group_id FROM visits
             WHERE citizen_id = ?1 AND NOT cancelled ORDER BY started_at_ms, id",
        )?;
        let rows = statement.query_map([citizen.to_string()], visit_columns)?;
        rows.map(|r| to_visit(r?)).collect()
    }

    /// The visits of one group session, by the citizens' names (none once it is cancelled).
    pub fn group_visits(&self, group: GroupId) -> Result<Vec<VisitRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT v.id, v.citizen_id, v.worker_id, v.started_at_ms, v.closed_at_ms, v.group_id
             FROM visits v JOIN citizens c ON c.id = v.citizen_id
             WHERE v.group_id = ?1 AND NOT v.cancelled ORDER BY c.display_name, v.id",
        )?;
        let rows = statement.query_map([group.to_string()], visit_columns)?;
        rows.map(|r| to_visit(r?)).collect()
    }

    /// Whether anything was recorded at a visit: a response (given, not given or corrected) or a note.
    pub fn visit_has_records(&self, visit: VisitId) -> Result<bool, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM responses WHERE visit_id = ?1)
                 OR EXISTS (SELECT 1 FROM notes WHERE visit_id = ?1)",
        )?;
        Ok(statement.query_row([visit.to_string()], |row| row.get(0))?)
    }

    /// The responses in force (not superseded, not withdrawn) of one citizen, or of every citizen
    /// in `worker`'s caseload, ordered by citizen, then visit, then the order they were recorded in.
    pub fn history(&self, worker: WorkerId, citizen: Option<CitizenId>) -> Result<Vec<HistoryRow>, StoreError> {
        // Two statements rather than `?2 IS NULL OR …`, so the one-citizen query uses its index.
        let citizen_filter = if citizen.is_some() { "r.citizen_id = ?2" } else { "?2 IS NULL" };
        let sql = format!(
            "SELECT {RESPONSE_COLUMNS}
             FROM responses r
             JOIN visits v ON v.id = r.visit_id
             JOIN caseload l ON l.citizen_id = r.citizen_id AND l.worker_id = ?1
             WHERE {citizen_filter}
               AND r.status <> 'withdrawn'
               AND NOT EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id)
             ORDER BY r.citizen_id, v.started_at_ms, v.id, r.hlc_wall_ms, r.hlc_counter"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows =
            statement.query_map(params![worker.to_string(), citizen.map(|c| c.to_string())], response_columns)?;
        rows.map(|r| to_history(r?)).collect()
    }

    /// Every response of a citizen, corrected ones included, by visit and then the order they
    /// were recorded in: the history with its trail of corrections.
    pub fn responses(&self, citizen: CitizenId) -> Result<Vec<ResponseRow>, StoreError> {
        let sql = format!(
            "{RESPONSE_ROW_SELECT} WHERE r.citizen_id = ?1 ORDER BY v.started_at_ms, v.id, r.hlc_wall_ms, r.hlc_counter"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([citizen.to_string()], response_row_columns)?;
        rows.map(|r| to_response_row(r?)).collect()
    }

    /// One response, corrected or not.
    pub fn response(&self, response: ResponseId) -> Result<Option<ResponseRow>, StoreError> {
        let sql = format!("{RESPONSE_ROW_SELECT} WHERE r.id = ?1");
        let raw = self.conn.prepare_cached(&sql)?.query_row([response.to_string()], response_row_columns).optional()?;
        raw.map(to_response_row).transpose()
    }

    /// A citizen's notes in force (the latest version of each), newest first.
    pub fn notes(&self, citizen: CitizenId) -> Result<Vec<NoteRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT n.id, n.visit_id, n.body, n.written_at_ms FROM notes n
             WHERE n.citizen_id = ?1 AND NOT EXISTS (SELECT 1 FROM notes s WHERE s.supersedes = n.id)
             ORDER BY n.written_at_ms DESC, n.id",
        )?;
        let rows = statement.query_map([citizen.to_string()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, String>(2)?, row.get(3)?))
        })?;
        rows.map(|r| {
            let (id, visit, body, written_at_ms) = r?;
            Ok(NoteRow {
                id: parse(id, "note id")?,
                visit: visit.map(|v| parse(v, "visit id")).transpose()?,
                body,
                written_at_ms: ms(written_at_ms)?,
            })
        })
        .collect()
    }

    /// A citizen's goals that are not deleted.
    pub fn goals(&self, citizen: CitizenId) -> Result<Vec<GoalRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, title, status FROM goals WHERE citizen_id = ?1 AND deleted = 0 ORDER BY id")?;
        let rows = statement.query_map([citizen.to_string()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        rows.map(|r| {
            let (id, title, status) = r?;
            Ok(GoalRow { id: parse(id, "goal id")?, title, status: from_enum_text(status)? })
        })
        .collect()
    }

    /// Changes not yet acknowledged by the server.
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self.conn.query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))?;
        Ok(count.unsigned_abs())
    }

    /// Pending changes per citizen.
    pub fn pending_by_citizen(&self) -> Result<BTreeMap<CitizenId, u64>, StoreError> {
        let mut statement = self.conn.prepare_cached("SELECT citizen_id, count(*) FROM outbox GROUP BY citizen_id")?;
        let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (citizen, count) = r?;
            Ok((parse(citizen, "citizen id")?, count.unsigned_abs()))
        })
        .collect()
    }

    /// Each citizen's latest visit that is not closed, with the session it belongs to, if any.
    pub fn open_visits(&self) -> Result<BTreeMap<CitizenId, (VisitId, Option<GroupId>)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT citizen_id, id, group_id FROM visits WHERE closed_at_ms IS NULL ORDER BY started_at_ms, id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Option<String>>(2)?))
        })?;
        rows.map(|r| {
            let (citizen, visit, group) = r?;
            let group = group.map(|g| parse(g, "group id")).transpose()?;
            Ok((parse(citizen, "citizen id")?, (parse(visit, "visit id")?, group)))
        })
        .collect()
    }

    /// When the oldest change not yet acknowledged was recorded (device time).
    pub fn oldest_pending_ms(&self) -> Result<Option<u64>, StoreError> {
        let oldest: Option<i64> =
            self.conn.query_row("SELECT min(device_time_ms) FROM outbox", [], |row| row.get(0))?;
        oldest.map(ms).transpose()
    }

    /// Outbox entries after `after_seq`, in sequence order, at most `limit`.
    pub fn outbox(&self, after_seq: u64, limit: u32) -> Result<Vec<Change>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, change_id, hlc_wall_ms, hlc_counter, device_time_ms, schema_version, body
             FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![sql_u64(after_seq)?, limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, u32>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, u32>(5)?,
                row.get::<_, String>(6)?,
            ))
        })?;
        rows.map(|r| {
            let (seq, id, wall, counter, device_time, schema_version, body) = r?;
            Ok(Change {
                id: parse(id, "change id")?,
                device: self.device,
                seq: ms(seq)?,
                hlc: Hlc::new(ms(wall)?, counter),
                device_time_ms: ms(device_time)?,
                schema_version,
                body: serde_json::from_str::<ChangeBody>(&body).map_err(|e| StoreError::Damaged(e.to_string()))?,
            })
        })
        .collect()
    }

    /// Records that `worker` read `what` of a citizen's record.
    pub fn audit_read(
        &self,
        citizen: CitizenId,
        worker: Option<WorkerId>,
        what: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO read_audit (citizen_id, worker_id, what, read_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![citizen.to_string(), worker.map(|w| w.to_string()), what, sql_u64(now_ms)?],
        )?;
        Ok(())
    }

    /// The read audit, oldest first: (citizen, what, when).
    pub fn read_audit(&self) -> Result<Vec<(CitizenId, String, u64)>, StoreError> {
        let mut statement =
            self.conn.prepare_cached("SELECT citizen_id, what, read_at_ms FROM read_audit ORDER BY id")?;
        let rows =
            statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get(2)?)))?;
        rows.map(|r| {
            let (citizen, what, at) = r?;
            Ok((parse(citizen, "citizen id")?, what, ms(at)?))
        })
        .collect()
    }

    /// The cached caseload lines of `worker`'s citizens that are still current.
    pub fn summaries(&self, worker: WorkerId) -> Result<BTreeMap<CitizenId, CitizenSummary>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT s.citizen_id, s.summary FROM citizen_summaries s
             JOIN caseload l ON l.citizen_id = s.citizen_id AND l.worker_id = ?1",
        )?;
        let rows = statement
            .query_map([worker.to_string()], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        rows.map(|r| {
            let (citizen, summary) = r?;
            let summary = serde_json::from_str(&summary).map_err(|e| StoreError::Damaged(e.to_string()))?;
            Ok((parse(citizen, "citizen id")?, summary))
        })
        .collect()
    }

    /// Caches caseload lines, in one transaction.
    pub fn save_summaries(&self, summaries: &[(CitizenId, CitizenSummary)]) -> Result<(), StoreError> {
        if summaries.is_empty() {
            return Ok(());
        }
        // `&self`: the cache is written while reading, and a transaction makes the writes one fsync.
        let tx = self.conn.unchecked_transaction()?;
        for (citizen, summary) in summaries {
            let json = serde_json::to_string(summary).map_err(|e| StoreError::Invalid(e.to_string()))?;
            tx.execute(
                "INSERT INTO citizen_summaries (citizen_id, summary) VALUES (?1, ?2)
                 ON CONFLICT (citizen_id) DO UPDATE SET summary = excluded.summary",
                params![citizen.to_string(), json],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The server URL and device token, once enrolled.
    pub fn sync_settings(&self) -> Result<Option<(String, String)>, StoreError> {
        Ok(self.meta("server_url")?.zip(self.meta("device_token")?))
    }

    /// The server certificate (PEM) this device was enrolled with, if it was pinned.
    pub fn server_certificate(&self) -> Result<Option<String>, StoreError> {
        self.meta("server_certificate")
    }

    /// Why sync is blocked (the app must be updated), if it is.
    pub fn sync_blocked(&self) -> Result<Option<String>, StoreError> {
        self.meta("sync_blocked")
    }

    pub fn last_sync_ms(&self) -> Result<Option<u64>, StoreError> {
        self.meta("last_sync_ms")?
            .map(|t| t.parse().map_err(|_| StoreError::Damaged("last_sync_ms".into())))
            .transpose()
    }

    /// The position in the server's log this device has applied up to.
    pub fn cursor(&self, stream: &str) -> Result<u64, StoreError> {
        let position: Option<i64> = self
            .conn
            .query_row("SELECT position FROM sync_cursors WHERE stream = ?1", [stream], |row| row.get(0))
            .optional()?;
        position.map(ms).transpose().map(|p| p.unwrap_or(0))
    }

    /// Ids of every response, visit and note row, for checks that the outbox matches the domain.
    pub fn domain_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id FROM responses UNION ALL SELECT id FROM visits UNION ALL SELECT id FROM notes ORDER BY 1",
        )?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

type VisitColumns = (String, String, String, i64, Option<i64>, Option<String>);

fn visit_columns(row: &Row<'_>) -> rusqlite::Result<VisitColumns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn to_visit(raw: VisitColumns) -> Result<VisitRow, StoreError> {
    let (id, citizen, worker, started, closed, group) = raw;
    Ok(VisitRow {
        id: parse(id, "visit id")?,
        citizen: parse(citizen, "citizen id")?,
        worker: parse(worker, "worker id")?,
        started_at_ms: ms(started)?,
        closed_at_ms: closed.map(ms).transpose()?,
        group: group.map(|g| parse(g, "group id")).transpose()?,
    })
}
