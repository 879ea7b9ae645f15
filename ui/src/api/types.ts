// The shapes the app's commands return, as the Rust side serialises them (snake_case).

export type Lang = 'da' | 'en';
export interface Text { da?: string; en?: string }

export interface AppError { code: string; message: string }

export interface CitizenMode { visit: string; citizen: string; scale: string; done: boolean }

export interface AppStatus {
  set_up: boolean;
  unlocked: boolean;
  enrolled: boolean;
  worker_name: string | null;
  team_name: string | null;
  citizen_mode: CitizenMode | null;
}

export type AgeBand = 'child' | 'adolescent' | 'adult';
export type Trend = 'up' | 'down' | 'flat';
export type NotGivenReason = 'declined' | 'too_unwell' | 'no_time' | 'other';

export interface CitizenInfo {
  id: string;
  display_name: string;
  birth_year: number | null;
  age_band: AgeBand;
  case_reference: string | null;
}

export interface CaseloadLine {
  citizen: CitizenInfo;
  last_ors_tenths: number | null;
  trend: Trend | null;
  alerts: string[];
  pending_changes: number;
}

export interface Total { raw: number; score: number }

export type Measure =
  | { status: 'given'; scale: string; total: Total; lowest_item: number }
  | { status: 'not_given'; scale: string; reason: NotGivenReason };

export interface TrajectoryPoint {
  visit: string;
  number: number;
  outcome: Measure | null;
  alliance: Measure | null;
  wellbeing: Measure | null;
  expected_outcome_tenths: number | null;
}

export interface OutcomeSummary {
  scale: string;
  cutoff_tenths: number;
  first_tenths: number;
  latest_tenths: number;
  change_tenths: number;
  band_low_tenths: number;
  band_high_tenths: number;
  change: 'reliable_improvement' | 'reliable_deterioration' | 'no_reliable_change';
  clinically_significant: boolean;
  measurements: number;
}

export interface Alert { code: string; visit: string; text: Text }

export interface Trajectory {
  points: TrajectoryPoint[];
  outcome: OutcomeSummary | null;
  alerts: Alert[];
}

export interface VisitInfo { id: string; started_at_ms: number; closed_at_ms: number | null }
export interface NoteInfo { id: string; visit: string | null; body: string; written_at_ms: number }
export type GoalStatus = 'active' | 'achieved' | 'dropped';
export interface GoalInfo { id: string; title: string; status: GoalStatus }

export interface CitizenPage {
  citizen: CitizenInfo;
  trajectory: Trajectory;
  visits: VisitInfo[];
  notes: NoteInfo[];
  goals: GoalInfo[];
  open_visit: string | null;
}

export type AnswerKind =
  | { type: 'vas'; min_tenths: number; max_tenths: number }
  | { type: 'choice'; options: { value: number; text: Text }[] };

export interface ScaleItem { id: string; text: Text; answer: AnswerKind }

export interface Scale {
  code: string;
  version: string;
  title: Text;
  stem: Text | null;
  kind: 'outcome' | 'alliance' | 'wellbeing';
  items: ScaleItem[];
  full_text: boolean;
}

export type CitizenAnswer =
  | { kind: 'given'; answers: [string, number][] }
  | { kind: 'not_given'; reason: NotGivenReason };

export interface SyncProgress { sent: number; to_send: number; received: number }

export interface SyncView {
  online: boolean;
  running: boolean;
  progress: SyncProgress;
  last_sync_ms: number | null;
  last_error: AppError | null;
  blocked: string | null;
  pending_changes: number | null;
  oldest_pending_age_ms: number | null;
}

export interface NightlyWindow { enabled: boolean; minute_of_day: number; utc_offset_minutes: number }
export interface AppSettings { lang: Lang; auto_lock_minutes: number; nightly: NightlyWindow }
