// Where a visit stands, from its plan (the device decides which scales a visit offers, from the
// packs' data) and what is recorded: the first scale of the start not yet recorded; once the
// start is done, the review (the worker and the citizen look at the trajectory) together with the
// first scale of the end not yet recorded; once everything is recorded, the note and close. No
// scale is named here.

import type { GroupMember, PlannedScale, VisitProgress } from '../api/bindings';

export type VisitStep =
  | { kind: 'start'; scale: PlannedScale }
  | { kind: 'end'; scale: PlannedScale }
  | { kind: 'close' };

export function visitStep(plan: VisitProgress): VisitStep {
  const start = plan.start.find((s) => !s.done);
  if (start) return { kind: 'start', scale: start };
  const end = plan.end.find((s) => !s.done);
  if (end) return { kind: 'end', scale: end };
  return { kind: 'close' };
}

/** The steps of the whole visit, for the step list: each scale, the review, the close. Exactly
 *  one is current, the one the screen is at: the review from the start's last scale until the
 *  first scale of the end is given (the worker and the citizen look at the chart, then hand over). */
export type StepChip = { key: string; scale: PlannedScale | null; done: boolean; current: boolean };

export function stepChips(plan: VisitProgress): StepChip[] {
  const step = visitStep(plan);
  const startDone = plan.start.every((s) => s.done);
  const reviewing = step.kind === 'end' && plan.end.every((s) => !s.done);
  const isCurrent = (s: PlannedScale) => !reviewing && step.kind !== 'close' && step.scale.scale === s.scale;
  const scaleChip = (s: PlannedScale): StepChip => ({ key: s.scale, scale: s, done: s.done, current: isCurrent(s) });
  return [
    ...plan.start.map(scaleChip),
    { key: 'review', scale: null, done: startDone && !reviewing, current: reviewing },
    ...plan.end.map(scaleChip),
    { key: 'close', scale: null, done: false, current: step.kind === 'close' },
  ];
}

/** Where a group session stands: each citizen present gives the scales of the start in turn,
 *  then (after the session) each gives the scales of the end in turn, then the worker closes. A
 *  member whose visit is closed has no plan and takes no turn. */
export type GroupStep =
  | { kind: 'start' | 'end'; member: GroupMember; scale: PlannedScale }
  | { kind: 'close' };

export function groupStep(members: GroupMember[]): GroupStep {
  const steps = members.flatMap((member) => (member.plan ? [{ member, step: visitStep(member.plan) }] : []));
  for (const kind of ['start', 'end'] as const) {
    const next = steps.find(({ step }) => step.kind === kind);
    if (next && next.step.kind !== 'close') return { kind, member: next.member, scale: next.step.scale };
  }
  return { kind: 'close' };
}
