// Made by src-tauri/src/bindings.rs from the Rust types; do not edit. To make it anew:
// FIT_BLESS=1 cargo test -p fit-app --lib bindings

export type ErrorCode = "route.not_found" | "route.method_not_allowed" | "request.malformed" | "request.too_large" | "request.encoding_unsupported" | "request.out_of_range" | "protocol.unsupported" | "auth.required" | "device.revoked" | "server.internal" | "server.busy" | "rate.limited" | "request.timeout" | "enroll.code_invalid" | "enroll.code_used" | "enroll.code_expired" | "enroll.code_revoked" | "enroll.device_exists" | "enroll.device_invalid" | "batch.too_large" | "batch.sequence_gap" | "change.wrong_device" | "change.invalid_seq" | "change.schema_unsupported" | "change.clock_ahead" | "change.invalid_id" | "change.conflict" | "citizen.out_of_scope" | "reference.unknown" | "reference.foreign" | "visit.wrong_worker" | "change.time_implausible" | "sync.cursor_past_end" | "note.invalid" | "field.invalid" | "response.unknown_scale" | "response.unknown_item" | "response.duplicate_item" | "response.missing_item" | "response.not_an_integer" | "response.out_of_range" | "response.not_an_option" | "response.invalid_scale_version" | "response.correction_invalid" | "response.not_correctable" | "paper.date_future" | "paper.date_too_old" | "paper.date_before_support" | "pack.invalid" | "pack.version_reused" | "pack.changed" | "admin.constraint" | "device.unknown" | "admin.code_validity" | "worker.unknown" | "team.unknown" | "worker.deactivated" | "sync.offline" | "sync.busy" | "sync.garbled_answer" | "sync.insecure_url" | "device.not_enrolled" | "device.locked" | "device.unavailable" | "citizen.not_in_caseload" | "visit.not_found" | "visit.closed" | "visit.not_empty" | "input.invalid" | "scale.unknown" | "store.not_set_up" | "store.already_set_up" | "store.wiped" | "store.damaged" | "store.io" | "store.wrong_key" | "store.database" | "store.invalid" | "store.not_found" | "store.rolled_back" | "pin.too_short" | "pin.wrong" | "pin.too_soon" | "citizen_mode.active" | "citizen_mode.off" | "citizen_mode.done" | "citizen_mode.locked" | "app.internal" | "speech.unavailable" | "app.ipc" | "unknown";

export type AppError = { code: ErrorCode, message: string, };

export type CitizenId = string;

export type WorkerId = string;

export type VisitId = string;

export type GroupId = string;

export type ResponseId = string;

export type NoteId = string;

export type GoalId = string;

export type Lang = "da" | "en";

export type Text = { da?: string, en?: string, };

export type ScaleCode = string;

export type ScaleKind = "outcome" | "alliance" | "wellbeing";

export type Population = "adult" | "child" | "group";

export type ItemId = string;

export type AnswerKind = { "type": "vas", min_tenths: number, max_tenths: number, } | { "type": "choice", options: Array<AnswerOption>, };

export type AnswerOption = { value: number, text: Text, };

export type Item = { id: ItemId, text: Text, 
/**
 * A short help in plain words under the item (the pack's nested `display` item of control
 * `help`): what the item is about, in the project's own words where the pack has no licence.
 */
help: Text | null, answer: AnswerKind, };

export type ExpectedTrajectory = { bands: Array<ExpectedBand>, };

export type ExpectedBand = { 
/**
 * First-visit totals from `intake_from_tenths` to `intake_to_tenths`, both included.
 */
intake_from_tenths: number, intake_to_tenths: number, 
/**
 * The expected total at the first, second, … measurement.
 */
expected_tenths: Array<number>, };

export type Coding = { system: string, code: string, };

export type Scale = { code: ScaleCode, 
/**
 * The pack's version: a licensed pack replaces the built-in short labels of the same code.
 */
version: string, title: Text, 
/**
 * Words shown before every item ("I de sidste 2 uger…"), when the scale has them.
 */
stem: Text | null, kind: ScaleKind, population: Population, items: Array<Item>, 
/**
 * The total score is the sum of the answers times this (WHO-5: 4, giving 0–100).
 */
score_multiplier: number, 
/**
 * True when the pack carries the scale's full wording, not only short labels.
 */
full_text: boolean, copyright: string | null, 
/**
 * After this many measurements without reliable improvement, the worker is alerted.
 */
no_improvement_after_visits: number, expected_trajectory: ExpectedTrajectory | null, total_code: Coding | null, };

export type MarkedBy = "citizen_on_device" | "read_aloud_verbal" | "transcribed_from_paper";

export type NotGivenReason = "declined" | "too_unwell" | "no_time" | "other";

export type CorrectionReason = "wrong_mark" | "wrong_citizen" | "entered_twice";

export type RawAnswer = { item: string, 
/**
 * Any JSON on the wire, so a wrong unit is refused with its own error; the UI sends a number.
 */
value: number, };

export type ResponseContent = { "given": { marked_by: MarkedBy, answers: Array<RawAnswer>, } } | { "not_given": { reason: NotGivenReason, } } | { "withdrawn": Record<symbol, never> };

export type ResponseInput = { scale: string, content: ResponseContent, };

export type Total = { raw: number, score: number, };

export type AgeBand = "child" | "adolescent" | "adult";

export type Answer = { item: ItemId, value: number, };

export type Measure = { "status": "given", scale: ScaleCode, total: Total, lowest_item: number, items: Array<Answer>, } | { "status": "not_given", scale: ScaleCode, reason: NotGivenReason, };

export type TrajectoryPoint = { visit: VisitId, 
/**
 * 1 for the first visit in the list.
 */
number: number, outcome: Measure | null, alliance: Measure | null, wellbeing: Measure | null, 
/**
 * From the pack's expected-trajectory table, when it has one that covers this point.
 */
expected_outcome_tenths: number | null, };

export type OutcomeChange = "reliable_improvement" | "reliable_deterioration" | "no_reliable_change";

export type OutcomeSummary = { scale: ScaleCode, cutoff_tenths: number, first_tenths: number, latest_tenths: number, change_tenths: number, 
/**
 * The reliable-change band around the first score, clipped to the scale: a later score
 * outside it is a reliable change.
 */
band_low_tenths: number, band_high_tenths: number, change: OutcomeChange, 
/**
 * A reliable improvement that crossed the cutoff from below.
 */
clinically_significant: boolean, 
/**
 * How many visits had the outcome scale given.
 */
measurements: number, };

export type AlertCode = "ors.below_cutoff" | "ors.reliable_deterioration" | "ors.no_reliable_improvement" | "ors.below_expected" | "srs.total_low" | "srs.item_low" | "srs.dropped" | "who5.poor_wellbeing" | "who5.likely_depression" | "who5.decline";

export type Severity = "notice" | "serious";

export type Alert = { code: AlertCode, 
/**
 * `code.severity()`, for the screens.
 */
severity: Severity, 
/**
 * The visit whose measurement raised it.
 */
visit: VisitId, text: Text, };

export type Trajectory = { points: Array<TrajectoryPoint>, outcome: OutcomeSummary | null, alerts: Array<Alert>, };

export type Trend = "up" | "down" | "flat";

export type CitizenMode = { visit: VisitId, 
/**
 * Whose visit: the worker's view returns to it when citizen mode ends.
 */
citizen: CitizenId, scale: ScaleCode, 
/**
 * True once the citizen's answer (or "not given") is recorded; only handing back is left.
 */
done: boolean, 
/**
 * Wrong PINs left at the hand-back before the app locks (`CITIZEN_MODE_PIN_TRIES`).
 */
pin_tries_left: number, };

export type AppStatus = { set_up: boolean, unlocked: boolean, enrolled: boolean, worker_name: string | null, team_name: string | null, citizen_mode: CitizenMode | null, 
/**
 * Wrong PINs left at the unlock screen before the local data (unsynced visits included) is
 * erased, for the unlock screen; None before set-up and while unlocked.
 */
pin_attempts_left: number | null, 
/**
 * The server withdrew this device and its store was erased: it must be enrolled again.
 */
withdrawn: boolean, };

export type CitizenInfo = { id: CitizenId, display_name: string, birth_year: number | null, age_band: AgeBand, case_reference: string | null, 
/**
 * The day the support started (`YYYY-MM-DD`), when the server has sent it.
 */
support_started: string | null, };

export type CaseloadLine = { citizen: CitizenInfo, last_ors_tenths: number | null, trend: Trend | null, 
/**
 * The most serious first.
 */
alerts: Array<AlertCode>, 
/**
 * The most serious of the alerts, if any: the caseload is ordered by it.
 */
attention: Severity | null, pending_changes: number, 
/**
 * When the well-being scale is next due (device time; at or before now: due at the next
 * visit). None where the citizen is not given one.
 */
wellbeing_due_ms: number | null, 
/**
 * A visit started and not closed yet, and the group session it is part of, if any: the
 * card offers to continue it.
 */
open_visit: VisitId | null, open_group: GroupId | null, };

export type VisitInfo = { id: VisitId, citizen: CitizenId, worker: WorkerId, started_at_ms: number, closed_at_ms: number | null, 
/**
 * The group session the visit was part of, if any.
 */
group: GroupId | null, };

export type NoteInfo = { id: NoteId, visit: VisitId | null, body: string, written_at_ms: number, };

export type ResponseStatus = "given" | "not_given" | "withdrawn";

export type ResponseInfo = { id: ResponseId, visit: VisitId, citizen: CitizenId, scale: ScaleCode, kind: ScaleKind, status: ResponseStatus, marked_by: MarkedBy | null, not_given_reason: NotGivenReason | null, total: Total | null, recorded_at_ms: number, supersedes: ResponseId | null, correction: CorrectionReason | null, 
/**
 * The response that corrects this one, if any: then this one is history, not in force.
 */
superseded_by: ResponseId | null, };

export type GoalStatus = "active" | "achieved" | "dropped";

export type GoalInfo = { id: GoalId, title: string, status: GoalStatus, };

export type PlannedScale = { scale: ScaleCode, title: Text, kind: ScaleKind, 
/**
 * True once a response (given or not) is recorded for it at this visit.
 */
done: boolean, };

export type VisitProgress = { visit: VisitId, 
/**
 * Given when the visit starts, before the worker and citizen look at the trajectory.
 */
start: Array<PlannedScale>, 
/**
 * Given at the end of the visit.
 */
end: Array<PlannedScale>, };

export type CitizenPage = { citizen: CitizenInfo, trajectory: Trajectory, visits: Array<VisitInfo>, notes: Array<NoteInfo>, goals: Array<GoalInfo>, 
/**
 * A visit started and not closed yet, if any: the page offers to continue it.
 */
open_visit: VisitId | null, 
/**
 * The scales of the open visit and which are recorded: the visit flow steps through them.
 */
visit_plan: VisitProgress | null, 
/**
 * When the well-being scale is next due, as on the caseload line.
 */
wellbeing_due_ms: number | null, 
/**
 * Every response, corrected ones included, by visit: the history with its corrections.
 */
responses: Array<ResponseInfo>, 
/**
 * The scales that apply to this citizen (a visit's plan with well-being), in the order a
 * visit gives them: what a paper form may be, and the titles of the responses.
 */
scales: Array<PlannedScale>, };

export type GroupMember = { citizen: CitizenId, display_name: string, visit: VisitId, 
/**
 * The scales of their visit and which are recorded; None once their visit is closed.
 */
plan: VisitProgress | null, 
/**
 * What this visit measured of them, once something is recorded.
 */
point: TrajectoryPoint | null, 
/**
 * Their current alerts.
 */
alerts: Array<Alert>, };

export type GroupPage = { group: GroupId, started_at_ms: number, 
/**
 * By name.
 */
members: Array<GroupMember>, };

export type CitizenAnswer = { "kind": "given", answers: Array<[string, number]>, } | { "kind": "not_given", reason: NotGivenReason, };

export type Correction = { "kind": "marks", answers: Array<[string, number]>, } | { "kind": "not_given", reason: NotGivenReason, } | { "kind": "withdraw", reason: CorrectionReason, };

export type SyncCounters = { pending_changes: number, 
/**
 * How long the oldest unsynced change has waited, if any.
 */
oldest_pending_age_ms: number | null, };

export type SyncProgress = { sent: number, 
/**
 * Pending changes when the run started.
 */
to_send: number, received: number, 
/**
 * Pending changes stamped again after the server said this device's clock is ahead.
 */
restamped: number, };

export type SyncStatus = { online: boolean, running: boolean, progress: SyncProgress, last_sync_ms: number | null, 
/**
 * The last run's failure: the UI shows the code's text.
 */
last_error: AppError | null, blocked: string | null, };

export type SyncView = { 
/**
 * None while the app is locked.
 */
pending_changes: number | null, oldest_pending_age_ms: number | null, online: boolean, running: boolean, progress: SyncProgress, last_sync_ms: number | null, 
/**
 * The last run's failure: the UI shows the code's text.
 */
last_error: AppError | null, blocked: string | null, };

export type NightlyWindow = { enabled: boolean, 
/**
 * Minutes after local midnight (120 = 02:00).
 */
minute_of_day: number, 
/**
 * The device's offset from UTC in minutes (Copenhagen: 60 in winter, 120 in summer), as
 * the UI read it when the window was saved.
 */
utc_offset_minutes: number, };

export type AppSettings = { lang: Lang, auto_lock_minutes: number, nightly: NightlyWindow, };

/** Every error code the app and the server can answer. */
export const ERROR_CODES: readonly ErrorCode[] = ['route.not_found', 'route.method_not_allowed', 'request.malformed', 'request.too_large', 'request.encoding_unsupported', 'request.out_of_range', 'protocol.unsupported', 'auth.required', 'device.revoked', 'server.internal', 'server.busy', 'rate.limited', 'request.timeout', 'enroll.code_invalid', 'enroll.code_used', 'enroll.code_expired', 'enroll.code_revoked', 'enroll.device_exists', 'enroll.device_invalid', 'batch.too_large', 'batch.sequence_gap', 'change.wrong_device', 'change.invalid_seq', 'change.schema_unsupported', 'change.clock_ahead', 'change.invalid_id', 'change.conflict', 'citizen.out_of_scope', 'reference.unknown', 'reference.foreign', 'visit.wrong_worker', 'change.time_implausible', 'sync.cursor_past_end', 'note.invalid', 'field.invalid', 'response.unknown_scale', 'response.unknown_item', 'response.duplicate_item', 'response.missing_item', 'response.not_an_integer', 'response.out_of_range', 'response.not_an_option', 'response.invalid_scale_version', 'response.correction_invalid', 'response.not_correctable', 'paper.date_future', 'paper.date_too_old', 'paper.date_before_support', 'pack.invalid', 'pack.version_reused', 'pack.changed', 'admin.constraint', 'device.unknown', 'admin.code_validity', 'worker.unknown', 'team.unknown', 'worker.deactivated', 'sync.offline', 'sync.busy', 'sync.garbled_answer', 'sync.insecure_url', 'device.not_enrolled', 'device.locked', 'device.unavailable', 'citizen.not_in_caseload', 'visit.not_found', 'visit.closed', 'visit.not_empty', 'input.invalid', 'scale.unknown', 'store.not_set_up', 'store.already_set_up', 'store.wiped', 'store.damaged', 'store.io', 'store.wrong_key', 'store.database', 'store.invalid', 'store.not_found', 'store.rolled_back', 'pin.too_short', 'pin.wrong', 'pin.too_soon', 'citizen_mode.active', 'citizen_mode.off', 'citizen_mode.done', 'citizen_mode.locked', 'app.internal', 'speech.unavailable', 'app.ipc'];

/** Every command the app's window may invoke. */
export const COMMANDS = ['get_status', 'set_up_device', 'enroll_device', 'unlock_app', 'lock_app', 'note_activity', 'change_pin', 'list_caseload', 'get_citizen', 'get_scale', 'start_visit', 'record_response', 'correct_response', 'record_paper', 'close_visit', 'cancel_visit', 'start_group_visit', 'get_group', 'close_group_visit', 'add_note', 'set_goal', 'delete_goal', 'enter_citizen_mode', 'record_citizen_answer', 'leave_citizen_mode', 'get_sync_status', 'sync_now', 'get_settings', 'save_settings', 'get_speech_available', 'speak_text', 'stop_speech'] as const;
export type Command = (typeof COMMANDS)[number];
