import { describe, expect, it } from 'vitest';
import type { GroupMember, PlannedScale, VisitProgress } from '../api/bindings';
import { groupStep, stepChips, visitStep } from '../lib/visitStep';

function scale(code: string, kind: PlannedScale['kind'], done: boolean): PlannedScale {
  return { scale: code, title: { da: code, en: code }, kind, done };
}

function plan(start: PlannedScale[], end: PlannedScale[]): VisitProgress {
  return { visit: 'v', start, end };
}

describe('the visit flow', () => {
  it('steps through the plan in order: the start, then the end, then close', () => {
    const a = (done: boolean) => scale('a', 'outcome', done);
    const w = (done: boolean) => scale('w', 'wellbeing', done);
    const z = (done: boolean) => scale('z', 'alliance', done);
    expect(visitStep(plan([a(false), w(false)], [z(false)]))).toEqual({ kind: 'start', scale: a(false) });
    expect(visitStep(plan([a(true), w(false)], [z(false)]))).toEqual({ kind: 'start', scale: w(false) });
    // A scale recorded out of order (on another device) leaves the one before it to do.
    expect(visitStep(plan([a(false), w(true)], [z(false)]))).toEqual({ kind: 'start', scale: a(false) });
    expect(visitStep(plan([a(true), w(true)], [z(false)]))).toEqual({ kind: 'end', scale: z(false) });
    expect(visitStep(plan([a(true)], [z(true)]))).toEqual({ kind: 'close' });
  });

  it('goes straight to the review when the plan has nothing at the start, and to close with nothing at all', () => {
    expect(visitStep(plan([], [scale('z', 'alliance', false)])).kind).toBe('end');
    expect(visitStep(plan([], []))).toEqual({ kind: 'close' });
  });

  it('lists every scale, the review and the close, marking the current step', () => {
    const chips = stepChips(plan([scale('a', 'outcome', true), scale('w', 'wellbeing', false)], [scale('z', 'alliance', false)]));
    expect(chips.map((c) => c.key)).toEqual(['a', 'w', 'review', 'z', 'close']);
    expect(chips.filter((c) => c.current).map((c) => c.key)).toEqual(['w']);
    expect(chips.filter((c) => c.done).map((c) => c.key)).toEqual(['a']);
    const atEnd = stepChips(plan([scale('a', 'outcome', true)], [scale('z', 'alliance', false)]));
    expect(atEnd.filter((c) => c.current).map((c) => c.key)).toEqual(['review']);
    expect(atEnd.filter((c) => c.done).map((c) => c.key)).toEqual(['a']);
    // With two scales at the end, the review is behind once the first is given.
    const second = stepChips(plan([scale('a', 'outcome', true)], [scale('z', 'alliance', true), scale('y', 'alliance', false)]));
    expect(second.filter((c) => c.current).map((c) => c.key)).toEqual(['y']);
    expect(second.filter((c) => c.done).map((c) => c.key)).toEqual(['a', 'review', 'z']);
    const closing = stepChips(plan([scale('a', 'outcome', true)], [scale('z', 'alliance', true)]));
    expect(closing.filter((c) => c.current).map((c) => c.key)).toEqual(['close']);
    expect(closing.filter((c) => c.done).map((c) => c.key)).toEqual(['a', 'review', 'z']);
  });
});

describe('the group session', () => {
  const member = (name: string, start: boolean, end: boolean, open = true): GroupMember => ({
    citizen: name,
    display_name: name,
    visit: `visit-${name}`,
    plan: open ? { visit: `visit-${name}`, start: [scale('a', 'outcome', start)], end: [scale('g', 'alliance', end)] } : null,
    point: null,
    alerts: [],
  });

  it('gives every start scale in turn before any end scale, then closes', () => {
    const step = (members: GroupMember[]) => {
      const s = groupStep(members);
      return s.kind === 'close' ? 'close' : `${s.kind}:${s.member.display_name}:${s.scale.scale}`;
    };
    expect(step([member('Anna', false, false), member('Bo', false, false)])).toBe('start:Anna:a');
    expect(step([member('Anna', true, false), member('Bo', false, false)])).toBe('start:Bo:a');
    // Anna's end scale waits until everyone has given the start.
    expect(step([member('Anna', true, false), member('Bo', false, true)])).toBe('start:Bo:a');
    expect(step([member('Anna', true, false), member('Bo', true, false)])).toBe('end:Anna:g');
    expect(step([member('Anna', true, true), member('Bo', true, false)])).toBe('end:Bo:g');
    expect(step([member('Anna', true, true), member('Bo', true, true)])).toBe('close');
    // A member whose visit is closed takes no turn.
    expect(step([member('Anna', false, false, false), member('Bo', true, true)])).toBe('close');
  });
});
