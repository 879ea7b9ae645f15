import { describe, expect, it } from 'vitest';
import * as cm from '../lib/citizenMode';

describe('citizen mode', () => {
  it('starts with no mark on any item and cannot go on without one', () => {
    const s = cm.start(4);
    expect(s.marks).toEqual([null, null, null, null]);
    expect(cm.canGoOn(s)).toBe(false);
    expect(cm.next(s)).toBe(s);
  });

  it('places a mark where the line is tapped, in tenths, clamped to the line', () => {
    expect(cm.tenthsAt(0, 400)).toBe(0);
    expect(cm.tenthsAt(400, 400)).toBe(100);
    expect(cm.tenthsAt(250, 400)).toBe(63);
    expect(cm.tenthsAt(-20, 400)).toBe(0);
    expect(cm.tenthsAt(500, 400)).toBe(100);
    expect(cm.tenthsAt(10, 0)).toBe(0);
    expect(cm.place(cm.start(4), 72).marks[0]).toBe(72);
  });

  it('nudges a placed mark by a tenth and never places one', () => {
    const s = cm.start(2);
    expect(cm.nudge(s, 1).marks[0]).toBeNull();
    expect(cm.nudge(s, -1).marks[0]).toBeNull();
    expect(cm.canGoOn(cm.nudge(s, 1))).toBe(false);
    const placed = cm.place(s, 50);
    expect(cm.nudge(placed, 1).marks[0]).toBe(51);
    expect(cm.nudge(cm.place(s, 100), 1).marks[0]).toBe(100);
    expect(cm.nudge(cm.place(s, 0), -1).marks[0]).toBe(0);
  });

  it('walks the items, reviews, and confirms only with every mark', () => {
    let s = cm.start(2);
    s = cm.next(cm.place(s, 30));
    expect(s.index).toBe(1);
    expect(cm.previous(s).index).toBe(0);
    s = cm.next(cm.place(s, 80));
    expect(s.phase).toBe('review');
    expect(cm.answers(s, ['a', 'b'])).toEqual([['a', 30], ['b', 80]]);
    s = cm.confirm(s);
    expect(s.phase).toBe('saving');
    expect(cm.saved(s).phase).toBe('done');
    expect(cm.saveFailed(s).phase).toBe('review');
  });

  it('changes one item from the review and comes back to it, the other marks kept', () => {
    let s = cm.start(3);
    s = cm.next(cm.place(cm.next(cm.place(cm.next(cm.place(s, 30)), 80)), 50));
    expect(s.phase).toBe('review');
    const changing = cm.revisit(s, 1);
    expect(changing).toMatchObject({ phase: 'item', index: 1, marks: [30, 80, 50] });
    const back = cm.next(cm.place(changing, 20));
    expect(back).toMatchObject({ phase: 'review', marks: [30, 20, 50] });
    // Then "next" walks on as usual again.
    expect(cm.next(cm.revisit(back, 0)).phase).toBe('review');
    expect(cm.revisit(cm.start(3), 1).phase).toBe('item');
    expect(cm.revisit(s, 7)).toBe(s);
  });

  it('declining can be taken back, to where the citizen was', () => {
    const s = cm.place(cm.start(4), 40);
    const asking = cm.askDecline(s);
    expect(asking.phase).toBe('declining');
    expect(cm.keepAnswering(asking)).toMatchObject({ phase: 'item', marks: [40, null, null, null] });
    expect(cm.askDecline({ ...s, phase: 'done' }).phase).toBe('done');
  });

  it('does not pair answers while a mark is missing', () => {
    expect(cm.answers(cm.place(cm.start(2), 10), ['a', 'b'])).toBeNull();
  });

  it('on a large screen takes every mark on one sheet and confirms from there: one tap per item and one confirm', () => {
    let s = cm.start(4, true);
    expect(cm.canConfirm(s)).toBe(false);
    expect(cm.nudgeAt(s, 2, 1)).toBe(s);
    for (const [i, v] of [[3, 90], [0, 10], [2, 50]]) s = cm.placeAt(s, i, v);
    expect(cm.canConfirm(s)).toBe(false);
    expect(cm.confirm(s)).toBe(s);
    expect(cm.next(s)).toBe(s);
    s = cm.placeAt(s, 1, 30);
    expect(cm.nudgeAt(s, 1, -1).marks).toEqual([10, 29, 50, 90]);
    expect(cm.placeAt(s, 4, 1)).toBe(s);
    const saving = cm.confirm(s);
    expect(saving.phase).toBe('saving');
    expect(cm.saveFailed(saving)).toMatchObject({ phase: 'item', marks: [10, 30, 50, 90] });
    expect(cm.answers(s, ['a', 'b', 'c', 'd'])).toEqual([['a', 10], ['b', 30], ['c', 50], ['d', 90]]);
  });

  it('one item at a time marks only the item on screen', () => {
    const s = cm.start(3);
    expect(cm.placeAt(s, 1, 40)).toBe(s);
    expect(cm.canConfirm(cm.placeAt(s, 0, 40))).toBe(false);
  });

  it('keeps the marks when the screen turns, and goes on where the citizen was', () => {
    let s = cm.placeAt(cm.placeAt(cm.start(3, true), 0, 20), 2, 70);
    const phone = cm.withSheet(s, false);
    expect(phone).toMatchObject({ sheet: false, phase: 'item', index: 1, marks: [20, null, 70] });
    s = cm.place(phone, 40);
    expect(cm.withSheet(cm.withSheet(s, true), false).phase).toBe('review');
    const review = cm.next(cm.next(s));
    expect(review.phase).toBe('review');
    expect(cm.withSheet(review, true)).toMatchObject({ sheet: true, phase: 'item', marks: [20, 40, 70] });
    expect(cm.withSheet(review, false)).toBe(review);
    expect(cm.keepAnswering(cm.withSheet(cm.askDecline(review), true)).phase).toBe('item');
  });
});
