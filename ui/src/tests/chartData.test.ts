import { describe, expect, it } from 'vitest';
import type { Measure, Trajectory, TrajectoryPoint } from '../api/bindings';
import { chartData } from '../lib/chartData';

const given = (scale: string, score: number, items: [string, number][] = []): Measure => ({
  status: 'given', scale, total: { raw: score, score }, lowest_item: 0,
  items: items.map(([item, value]) => ({ item, value })),
});

function point(n: number, ors: Measure | null, srs: Measure | null, who5: Measure | null = null): TrajectoryPoint {
  return { visit: `v${n}`, number: n, outcome: ors, alliance: srs, wellbeing: who5, expected_outcome_tenths: null };
}

describe('chart data', () => {
  const trajectory: Trajectory = {
    points: [
      point(1, given('ors', 184), given('srs', 372)),
      point(2, { status: 'not_given', scale: 'ors', reason: 'declined' }, given('srs', 351)),
      point(3, given('ors', 249), null),
    ],
    outcome: {
      scale: 'ors', cutoff_tenths: 250, first_tenths: 184, latest_tenths: 249, change_tenths: 65,
      band_low_tenths: 134, band_high_tenths: 234, change: 'reliable_improvement',
      clinically_significant: false, measurements: 2,
    },
    alerts: [],
  };

  it('draws ORS and SRS totals in scale points, with gaps where a scale was not given', () => {
    const data = chartData(trajectory);
    expect(data.labels).toEqual(['1', '2', '3']);
    expect(data.ors).toEqual([18.4, null, 24.9]);
    expect(data.srs).toEqual([37.2, 35.1, null]);
  });

  it('breaks the outcome total into its items, so the low area shows', () => {
    const items = (a: number, b: number): [string, number][] => [['individually', a], ['socially', b]];
    const data = chartData({
      ...trajectory,
      points: [
        point(1, given('ors', 90, items(20, 70)), null),
        point(2, { status: 'not_given', scale: 'ors', reason: 'declined' }, null),
        point(3, given('cors', 90, [['me', 50]]), null),
        point(4, given('ors', 120, items(15, 105)), null),
      ],
    });
    expect(data.outcomeScale).toBe('ors');
    expect(data.outcomeItems).toEqual([
      { item: 'individually', values: [2, null, null, 1.5] },
      { item: 'socially', values: [7, null, null, 10.5] },
    ]);
    expect(chartData({ ...trajectory, points: [] }).outcomeItems).toEqual([]);
  });

  it('names each visit by its day where the day is known, by its number otherwise', () => {
    const days: Record<string, string> = { v1: '2. nov.', v3: '30. nov.' };
    expect(chartData(trajectory, (visit) => days[visit]).labels).toEqual(['2. nov.', '2', '30. nov.']);
  });

  it('carries the cutoff and the reliable-change band around the first score', () => {
    const data = chartData(trajectory);
    expect(data.cutoff).toBe(25);
    expect(data.bandLow).toBe(13.4);
    expect(data.bandHigh).toBe(23.4);
    expect(data.srsConcern).toBe(36);
  });

  it('has WHO-5 only when it was given', () => {
    expect(chartData(trajectory).who5).toBeNull();
    const withWho5 = { ...trajectory, points: [point(1, null, null, given('who5', 48))] };
    expect(chartData(withWho5).who5).toEqual([48]);
  });

  it('has no lines to draw before the first ORS', () => {
    const data = chartData({ points: [], outcome: null, alerts: [] });
    expect(data).toMatchObject({ labels: [], cutoff: null, bandLow: null, bandHigh: null });
  });
});
