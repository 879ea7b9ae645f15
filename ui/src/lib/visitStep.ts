// Where a visit stands, from what is recorded: no ORS yet → 'ors'; ORS but no SRS → 'review'
// (the worker looks at the chart with the citizen, then hands over for the SRS); both → 'close'.
// 'srs' is the review's hand-over; the screen shows it together with the review.

import type { CitizenPage } from '../api/bindings';

export type VisitStep = 'ors' | 'review' | 'srs' | 'close';

export function visitStep(page: CitizenPage, visit: string): VisitStep {
  const point = page.trajectory.points.find((p) => p.visit === visit);
  if (!point || !point.outcome) return 'ors';
  if (!point.alliance) return 'srs';
  return 'close';
}
