import { describe, expect, it } from 'vitest';
import type { CitizenPage, Measure } from '../api/bindings';
import { visitStep } from '../lib/visitStep';

const given: Measure = { status: 'given', scale: 'ors', total: { raw: 200, score: 200 }, lowest_item: 40 };

function page(outcome: Measure | null, alliance: Measure | null): CitizenPage {
  return {
    citizen: { id: 'c', display_name: 'A', birth_year: null, age_band: 'adult', case_reference: null },
    trajectory: {
      points: [{ visit: 'v', number: 1, outcome, alliance, wellbeing: null, expected_outcome_tenths: null }],
      outcome: null,
      alerts: [],
    },
    visits: [],
    notes: [],
    goals: [],
    open_visit: 'v',
  };
}

describe('the visit flow', () => {
  it('follows what is recorded: ORS, then SRS, then close', () => {
    expect(visitStep(page(null, null), 'v')).toBe('ors');
    expect(visitStep(page(null, null), 'other')).toBe('ors');
    expect(visitStep(page(given, null), 'v')).toBe('srs');
    expect(visitStep(page({ status: 'not_given', scale: 'ors', reason: 'declined' }, null), 'v')).toBe('srs');
    expect(visitStep(page(given, { ...given, scale: 'srs' }), 'v')).toBe('close');
  });
});
