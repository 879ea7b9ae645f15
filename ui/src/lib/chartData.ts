// What the trajectory chart draws, computed from a citizen's trajectory: ORS totals per visit,
// the clinical cutoff, the reliable-change band around the first score, SRS beneath, and WHO-5
// when present. Values are in scale points (tenths / 10); a visit without a score is a gap.

import type { Measure, Trajectory } from '../api/bindings';

export interface ChartData {
  labels: string[];
  ors: (number | null)[];
  cutoff: number | null;
  bandLow: number | null;
  bandHigh: number | null;
  srs: (number | null)[];
  /** The SRS total below which the alliance needs attention. */
  srsConcern: number;
  who5: (number | null)[] | null;
  /** The outcome scale's items, each with its answer per visit (scale points, 0–10): what a
   *  total is made of, so the conversation can go to the area that is low. */
  outcomeItems: { item: string; values: (number | null)[] }[];
  /** The outcome scale whose items these are (the latest given), to name them. */
  outcomeScale: string | null;
}

export const SRS_CONCERN_TENTHS = 360;

function given(measure: Measure | null, divisor: number): number | null {
  return measure && measure.status === 'given' ? measure.total.score / divisor : null;
}

/** `dayOf` names a visit's day for the axis (a paper form's visit is at the date on the paper);
 * without it, or for a visit it does not know, the visit's number. */
export function chartData(trajectory: Trajectory, dayOf: (visit: string) => string | undefined = () => undefined): ChartData {
  const points = trajectory.points;
  const outcome = trajectory.outcome;
  const who5 = points.map((p) => given(p.wellbeing, 1));
  return {
    labels: points.map((p) => dayOf(p.visit) ?? String(p.number)),
    ors: points.map((p) => given(p.outcome, 10)),
    cutoff: outcome ? outcome.cutoff_tenths / 10 : null,
    bandLow: outcome ? outcome.band_low_tenths / 10 : null,
    bandHigh: outcome ? outcome.band_high_tenths / 10 : null,
    srs: points.map((p) => given(p.alliance, 10)),
    srsConcern: SRS_CONCERN_TENTHS / 10,
    who5: who5.some((v) => v !== null) ? who5 : null,
    ...outcomeItems(points),
  };
}

function outcomeItems(points: Trajectory['points']): Pick<ChartData, 'outcomeItems' | 'outcomeScale'> {
  const given = points.map((p) => (p.outcome && p.outcome.status === 'given' ? p.outcome : null));
  const latest = [...given].reverse().find((m) => m !== null) ?? null;
  if (!latest) return { outcomeItems: [], outcomeScale: null };
  // Items of the latest scale, in its order; a visit given another scale (CORS before a birthday)
  // is a gap in these lines.
  return {
    outcomeScale: latest.scale,
    outcomeItems: latest.items.map(({ item }) => ({
      item,
      values: given.map((m) => {
        if (!m || m.scale !== latest.scale) return null;
        const answer = m.items.find((a) => a.item === item);
        return answer ? answer.value / 10 : null;
      }),
    })),
  };
}
