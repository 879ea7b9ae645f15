// The citizen-mode state machine: one item at a time on a line with no default mark, then a
// review to confirm or to change one item, then "hand the device back". Pure functions of the state, so the
// rules are tested without a screen. Leaving needs the worker's PIN, which the Rust side checks.

export type Phase = 'item' | 'review' | 'saving' | 'declining' | 'done';

export interface CitizenState {
  phase: Phase;
  /** The item on screen, while answering. */
  index: number;
  /** Tenths 0–100 per item; null until the citizen places a mark. */
  marks: (number | null)[];
  /** Where to return when the citizen changes their mind about declining. */
  resume: Phase;
  /** True while the citizen changes one item from the review: "next" returns to the review. */
  revisiting?: boolean;
}

export const VAS_MIN = 0;
export const VAS_MAX = 100;

export function start(items: number): CitizenState {
  return { phase: 'item', index: 0, marks: Array.from({ length: items }, () => null), resume: 'item' };
}

function clamp(tenths: number): number {
  return Math.min(VAS_MAX, Math.max(VAS_MIN, Math.round(tenths)));
}

/** The tenths at a tap or drag `x` pixels from the line's start, on a line `width` pixels long. */
export function tenthsAt(x: number, width: number): number {
  if (!(width > 0)) return VAS_MIN;
  return clamp((x / width) * VAS_MAX);
}

/** Places (or moves) the mark of the item on screen. */
export function place(state: CitizenState, tenths: number): CitizenState {
  if (state.phase !== 'item') return state;
  const marks = state.marks.slice();
  marks[state.index] = clamp(tenths);
  return { ...state, marks };
}

/** The ±0.1 buttons (and arrow keys) move a placed mark; without one they do nothing, so no
 * mark is ever placed by another door than the citizen's own tap (or Home and End, which place
 * it at an end on purpose). */
export function nudge(state: CitizenState, delta: number): CitizenState {
  const current = state.marks[state.index];
  if (current === null) return state;
  return place(state, current + delta);
}

export function canGoOn(state: CitizenState): boolean {
  return state.phase === 'item' && state.marks[state.index] !== null;
}

/** On to the next item, or to the review after the last; only with a mark placed. */
export function next(state: CitizenState): CitizenState {
  if (!canGoOn(state)) return state;
  if (state.revisiting) return { ...state, phase: 'review', revisiting: false };
  if (state.index + 1 < state.marks.length) return { ...state, index: state.index + 1 };
  return { ...state, phase: 'review' };
}

export function previous(state: CitizenState): CitizenState {
  if (state.phase === 'review') return { ...state, phase: 'item', index: state.marks.length - 1 };
  if (state.phase !== 'item' || state.index === 0) return state;
  return { ...state, index: state.index - 1 };
}

/** From the review, back to one item to change its mark (kept until the citizen moves it);
 *  "next" then returns to the review. The other marks stay as they are. */
export function revisit(state: CitizenState, index: number): CitizenState {
  if (state.phase !== 'review' || index < 0 || index >= state.marks.length) return state;
  return { ...state, phase: 'item', index, revisiting: true };
}

/** Confirm in the review: the answers go to the device. */
export function confirm(state: CitizenState): CitizenState {
  if (state.phase !== 'review' || state.marks.some((m) => m === null)) return state;
  return { ...state, phase: 'saving' };
}

export function saved(state: CitizenState): CitizenState {
  return state.phase === 'saving' ? { ...state, phase: 'done' } : state;
}

/** Saving failed: back to the review, with the marks kept. */
export function saveFailed(state: CitizenState): CitizenState {
  return state.phase === 'saving' ? { ...state, phase: 'review' } : state;
}

export function askDecline(state: CitizenState): CitizenState {
  if (state.phase !== 'item' && state.phase !== 'review') return state;
  return { ...state, phase: 'declining', resume: state.phase };
}

export function keepAnswering(state: CitizenState): CitizenState {
  return state.phase === 'declining' ? { ...state, phase: state.resume } : state;
}

/** The answers to record, item ids paired with tenths; null while any mark is missing. */
export function answers(state: CitizenState, itemIds: string[]): [string, number][] | null {
  if (state.marks.some((m) => m === null) || itemIds.length !== state.marks.length) return null;
  return itemIds.map((id, i) => [id, state.marks[i] as number]);
}
