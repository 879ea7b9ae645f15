// The citizen-mode state machine. On a screen large enough every item shows at once (the sheet):
// one mark per item, then one confirm. On a phone one item at a time, then a review to confirm or
// to change one item. Either way no line has a default mark, then "hand the device back". Pure
// functions of the state, so the rules are tested without a screen. Leaving needs the worker's
// PIN, which the Rust side checks.

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
  /** Every item on one screen, confirmed from there (no review): the screen is large enough. */
  sheet: boolean;
}

export const VAS_MIN = 0;
export const VAS_MAX = 100;

export function start(items: number, sheet = false): CitizenState {
  return { phase: 'item', index: 0, marks: Array.from({ length: items }, () => null), resume: 'item', sheet };
}

/** The screen changed size (a rotation, a window made narrower): the marks stay, and the citizen
 *  goes on where they were: on the sheet, or at the first item without a mark (the review once
 *  every item has one). */
export function withSheet(state: CitizenState, sheet: boolean): CitizenState {
  if (state.sheet === sheet) return state;
  const resume = state.resume === 'review' && sheet ? 'item' : state.resume;
  if (state.phase === 'review' && sheet) return { ...state, sheet, phase: 'item', revisiting: false, resume };
  if (state.phase === 'item' && !sheet) {
    const open = state.marks.findIndex((m) => m === null);
    if (open < 0 && state.marks.length > 0) return { ...state, sheet, phase: 'review', resume };
    return { ...state, sheet, index: Math.max(0, open), resume };
  }
  return { ...state, sheet, resume };
}

function clamp(tenths: number): number {
  return Math.min(VAS_MAX, Math.max(VAS_MIN, Math.round(tenths)));
}

/** The tenths at a tap or drag `x` pixels from the line's start, on a line `width` pixels long. */
export function tenthsAt(x: number, width: number): number {
  if (!(width > 0)) return VAS_MIN;
  return clamp((x / width) * VAS_MAX);
}

/** Places (or moves) the mark of item `index` (on the sheet; one at a time, only the item on screen). */
export function placeAt(state: CitizenState, index: number, tenths: number): CitizenState {
  if (state.phase !== 'item' || index < 0 || index >= state.marks.length) return state;
  if (!state.sheet && index !== state.index) return state;
  const marks = state.marks.slice();
  marks[index] = clamp(tenths);
  return { ...state, marks };
}

/** Places (or moves) the mark of the item on screen. */
export function place(state: CitizenState, tenths: number): CitizenState {
  return placeAt(state, state.index, tenths);
}

/** The ±0.1 buttons (and arrow keys) move a placed mark; without one they do nothing, so no
 * mark is ever placed by another door than the citizen's own tap (or Home and End, which place
 * it at an end on purpose). */
export function nudgeAt(state: CitizenState, index: number, delta: number): CitizenState {
  const current = state.marks[index];
  if (current === null || current === undefined) return state;
  return placeAt(state, index, current + delta);
}

export function nudge(state: CitizenState, delta: number): CitizenState {
  return nudgeAt(state, state.index, delta);
}

export function canGoOn(state: CitizenState): boolean {
  return state.phase === 'item' && !state.sheet && state.marks[state.index] !== null;
}

/** On to the next item, or to the review after the last; only with a mark placed. */
export function next(state: CitizenState): CitizenState {
  if (!canGoOn(state)) return state;
  if (state.revisiting) return { ...state, phase: 'review', revisiting: false };
  if (state.index + 1 < state.marks.length) return { ...state, index: state.index + 1 };
  return { ...state, phase: 'review' };
}

export function previous(state: CitizenState): CitizenState {
  if (state.sheet) return state;
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

/** Whether the answers can be confirmed: in the review, or on the sheet, once every item has a mark. */
export function canConfirm(state: CitizenState): boolean {
  const here = state.phase === 'review' || (state.phase === 'item' && state.sheet);
  return here && state.marks.length > 0 && state.marks.every((m) => m !== null);
}

/** Confirm: the answers go to the device. */
export function confirm(state: CitizenState): CitizenState {
  return canConfirm(state) ? { ...state, phase: 'saving' } : state;
}

export function saved(state: CitizenState): CitizenState {
  return state.phase === 'saving' ? { ...state, phase: 'done' } : state;
}

/** Saving failed: back to where it was confirmed, with the marks kept. */
export function saveFailed(state: CitizenState): CitizenState {
  if (state.phase !== 'saving') return state;
  return { ...state, phase: state.sheet ? 'item' : 'review' };
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
