//! Which scales a visit offers, decided from the packs' data: each pack says what its scale
//! measures (`ScaleKind`) and whom it is made for (`Population`), the citizen has an age band, a
//! visit is one citizen's or a group's, and well-being is measured on a schedule the team sets.
//! No scale code is named here or in the screens: a new pack of a known kind and population is
//! offered by the same rules.
//!
//! - Outcome scales (ORS, CORS) open every visit, alliance scales (SRS, CSRS, GSRS) close it.
//! - Children 6–12 are given the scales for children (CORS, CSRS); adolescents 13–17 and adults
//!   the adult scales (ORS, SRS; the adolescents' cutoff of 28 is `interpret`'s).
//! - A group visit closes with the group alliance scale (GSRS), given by each citizen present.
//! - Well-being scales (WHO-5) open the visit when the schedule says they are due.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::interpret::AgeBand;
use crate::pack::ScaleSet;
use crate::scale::{Population, ScaleCode, ScaleKind};

/// A day in milliseconds: schedules count whole days of device time.
pub const DAY_MS: u64 = 86_400_000;

/// Whether a visit is one citizen's or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum VisitKind {
    Single,
    Group,
}

/// When a well-being scale is given: at a citizen's first visit, and again once `every_days`
/// have passed since it was last given. The team sets it; `Schedule::DEFAULT` until it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub struct Schedule {
    pub at_first_visit: bool,
    /// Days from one measurement to the next; `None` measures only at the first visit.
    pub every_days: Option<u32>,
}

impl Schedule {
    /// At the first visit and then every 12 weeks, as the Danish FIT trials measured WHO-5.
    pub const DEFAULT: Schedule = Schedule { at_first_visit: true, every_days: Some(84) };

    /// When the scale is next due for a citizen whose first visit was at `first_visit_ms` (none
    /// yet: `None`) and who was last measured at `last_given_ms` (device time), or `None` when the
    /// schedule never asks for it again. A citizen never measured is due at the first visit if the
    /// schedule measures there, and otherwise one interval after it.
    pub fn next_due_ms(&self, first_visit_ms: Option<u64>, last_given_ms: Option<u64>) -> Option<u64> {
        let after = |from: u64| self.every_days.map(|days| from.saturating_add(u64::from(days) * DAY_MS));
        match (last_given_ms, first_visit_ms) {
            (Some(last), _) => after(last),
            (None, first) if self.at_first_visit => Some(first.unwrap_or(0)),
            (None, Some(first)) => after(first),
            (None, None) => None,
        }
    }

    /// The longest interval a team may set: ten years.
    pub const EVERY_DAYS_MAX: u32 = 3650;

    /// Checks a schedule a team sets: an interval of 1 day to ten years, and measured at all.
    pub fn check(&self) -> Result<(), &'static str> {
        match self.every_days {
            Some(days) if !(1..=Schedule::EVERY_DAYS_MAX).contains(&days) => {
                Err("the interval must be from 1 day to 3650 days")
            }
            None if !self.at_first_visit => Err("a schedule must measure at the first visit or at an interval"),
            _ => Ok(()),
        }
    }

    /// True when the scale is due at `now_ms`.
    pub fn is_due(&self, first_visit_ms: Option<u64>, last_given_ms: Option<u64>, now_ms: u64) -> bool {
        self.next_due_ms(first_visit_ms, last_given_ms).is_some_and(|due| due <= now_ms)
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::DEFAULT
    }
}

/// The scales of one visit, in the order they are given, for one citizen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct VisitPlan {
    /// Given when the visit starts (the outcome scale, then well-being when due).
    pub start: Vec<ScaleCode>,
    /// Given when the visit ends (the alliance scale).
    pub end: Vec<ScaleCode>,
}

/// What the plan of one citizen's visit depends on besides the packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInput {
    pub age: AgeBand,
    pub visit: VisitKind,
    /// True when a well-being scale is due for this citizen (`Schedule::is_due`).
    pub wellbeing_due: bool,
}

/// What a well-being schedule counts from: when a citizen's first visit was, and the last visit
/// at which a well-being scale was given (device time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub struct Measured {
    pub first_visit_ms: Option<u64>,
    pub last_given_ms: Option<u64>,
}

impl Measured {
    /// From each visit's start and whether a well-being scale was given at it, in any order.
    pub fn of(visits: impl IntoIterator<Item = (u64, bool)>) -> Measured {
        visits.into_iter().fold(Measured::default(), |m, (at, given)| Measured {
            first_visit_ms: Some(m.first_visit_ms.map_or(at, |first| first.min(at))),
            last_given_ms: if given { Some(m.last_given_ms.map_or(at, |last| last.max(at))) } else { m.last_given_ms },
        })
    }

    /// When the schedule next asks for well-being (`Schedule::next_due_ms`).
    pub fn next_due_ms(&self, schedule: &Schedule) -> Option<u64> {
        schedule.next_due_ms(self.first_visit_ms, self.last_given_ms)
    }

    /// True when a visit starting at `at_ms`, after the visits measured here, is given well-being.
    pub fn is_due(&self, schedule: &Schedule, at_ms: u64) -> bool {
        schedule.is_due(self.first_visit_ms, self.last_given_ms, at_ms)
    }
}

/// True when a citizen of this age band is given a well-being scale at all (children 6–12 are
/// not; the well-being packs are for adults) and a pack of one is installed. The caseload shows a due date only where this holds.
pub fn wellbeing_applies(scales: &ScaleSet, age: AgeBand) -> bool {
    age != AgeBand::Child && scales.iter().any(|s| s.kind == ScaleKind::Wellbeing && s.population == Population::Adult)
}

/// The population whose scales a citizen of this age band is given in a visit of this kind.
fn population_for(age: AgeBand) -> Population {
    match age {
        AgeBand::Child => Population::Child,
        AgeBand::Adolescent | AgeBand::Adult => Population::Adult,
    }
}

/// The scales a visit offers one citizen, from the packs installed. Within a step, scales come in
/// the order of their codes, so two devices with the same packs give the same plan.
pub fn visit_plan(scales: &ScaleSet, input: PlanInput) -> VisitPlan {
    let own = population_for(input.age);
    let codes = |kind: ScaleKind, population: Population| -> Vec<ScaleCode> {
        scales.iter().filter(|s| s.kind == kind && s.population == population).map(|s| s.code.clone()).collect()
    };
    let mut start = codes(ScaleKind::Outcome, own);
    if input.wellbeing_due && wellbeing_applies(scales, input.age) {
        start.extend(codes(ScaleKind::Wellbeing, Population::Adult));
    }
    let end = match input.visit {
        VisitKind::Single => codes(ScaleKind::Alliance, own),
        VisitKind::Group => codes(ScaleKind::Alliance, Population::Group),
    };
    VisitPlan { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(age: AgeBand, visit: VisitKind, wellbeing_due: bool) -> (Vec<String>, Vec<String>) {
        let scales = ScaleSet::built_in().expect("the built-in packs parse");
        let plan = visit_plan(&scales, PlanInput { age, visit, wellbeing_due });
        let names = |codes: Vec<ScaleCode>| codes.into_iter().map(String::from).collect::<Vec<_>>();
        (names(plan.start), names(plan.end))
    }

    #[test]
    fn each_age_band_is_given_the_scales_made_for_it() {
        let cases = [
            (AgeBand::Adult, VisitKind::Single, false, vec!["ors"], vec!["srs"]),
            (AgeBand::Adolescent, VisitKind::Single, false, vec!["ors"], vec!["srs"]),
            (AgeBand::Child, VisitKind::Single, false, vec!["cors"], vec!["csrs"]),
            (AgeBand::Adult, VisitKind::Single, true, vec!["ors", "who5"], vec!["srs"]),
            (AgeBand::Adolescent, VisitKind::Single, true, vec!["ors", "who5"], vec!["srs"]),
            // WHO-5 is not offered to children 6–12, due or not.
            (AgeBand::Child, VisitKind::Single, true, vec!["cors"], vec!["csrs"]),
            (AgeBand::Adult, VisitKind::Group, false, vec!["ors"], vec!["gsrs"]),
            (AgeBand::Child, VisitKind::Group, false, vec!["cors"], vec!["gsrs"]),
        ];
        for (age, visit, due, start, end) in cases {
            let (got_start, got_end) = plan(age, visit, due);
            assert_eq!(got_start, start, "{age:?} {visit:?} due={due}");
            assert_eq!(got_end, end, "{age:?} {visit:?} due={due}");
        }
    }

    #[test]
    fn a_new_pack_of_a_known_kind_is_offered_by_the_same_rules() {
        let mut scales = ScaleSet::built_in().expect("the built-in packs parse");
        let mut other = scales.find("ors").expect("ors ships").clone();
        other.code = ScaleCode::parse("ors-easy").expect("a code");
        scales.install(other);
        let plan =
            visit_plan(&scales, PlanInput { age: AgeBand::Adult, visit: VisitKind::Single, wellbeing_due: false });
        let start: Vec<String> = plan.start.into_iter().map(String::from).collect();
        assert_eq!(start, ["ors", "ors-easy"]);
    }

    #[test]
    fn the_default_schedule_measures_at_the_first_visit_and_every_twelve_weeks() {
        let s = Schedule::DEFAULT;
        let first = 1_690_000_000_000;
        let last = 1_700_000_000_000;
        assert!(s.is_due(None, None, 0), "no visit yet: due at the first one");
        assert!(s.is_due(Some(first), None, first), "never measured: due now");
        assert!(!s.is_due(Some(first), Some(last), last), "just measured");
        assert!(!s.is_due(Some(first), Some(last), last + 84 * DAY_MS - 1), "12 weeks less a moment");
        assert!(!s.is_due(Some(first), Some(last), last + 83 * DAY_MS), "12 weeks less a day");
        assert!(s.is_due(Some(first), Some(last), last + 84 * DAY_MS), "exactly 12 weeks");
        assert_eq!(s.next_due_ms(Some(first), Some(last)), Some(last + 84 * DAY_MS));
    }

    #[test]
    fn what_the_schedule_counts_from_is_the_first_visit_and_the_last_measurement() {
        assert_eq!(Measured::of([]), Measured::default());
        let m = Measured::of([(30, false), (10, true), (20, true), (5, false)]);
        assert_eq!(m, Measured { first_visit_ms: Some(5), last_given_ms: Some(20) });
        assert_eq!(m.next_due_ms(&Schedule::DEFAULT), Some(20 + 84 * DAY_MS));
        assert!(Measured::default().is_due(&Schedule::DEFAULT, 0), "the first visit");
        let scales = ScaleSet::built_in().expect("the built-in packs parse");
        assert!(wellbeing_applies(&scales, AgeBand::Adult));
        assert!(wellbeing_applies(&scales, AgeBand::Adolescent));
        assert!(!wellbeing_applies(&scales, AgeBand::Child));
    }

    #[test]
    fn a_schedule_that_never_measures_or_has_no_interval_is_refused() {
        assert!(Schedule::DEFAULT.check().is_ok());
        assert!(Schedule { at_first_visit: true, every_days: None }.check().is_ok());
        assert!(Schedule { at_first_visit: false, every_days: Some(1) }.check().is_ok());
        assert!(Schedule { at_first_visit: false, every_days: Some(3650) }.check().is_ok());
        assert!(Schedule { at_first_visit: true, every_days: Some(0) }.check().is_err());
        assert!(Schedule { at_first_visit: true, every_days: Some(3651) }.check().is_err());
        assert!(Schedule { at_first_visit: false, every_days: None }.check().is_err());
    }

    #[test]
    fn a_team_schedule_decides_when_it_is_due() {
        let once = Schedule { at_first_visit: true, every_days: None };
        assert!(once.is_due(Some(5), None, 5));
        assert_eq!(once.next_due_ms(Some(5), Some(10)), None, "only at the first visit");
        assert!(!once.is_due(Some(5), Some(10), u64::MAX));
        let later = Schedule { at_first_visit: false, every_days: Some(28) };
        assert_eq!(later.next_due_ms(None, None), None, "no visit yet, nothing to count from");
        assert!(!later.is_due(Some(0), None, 28 * DAY_MS - 1), "not at the first visit");
        assert!(later.is_due(Some(0), None, 28 * DAY_MS), "one interval after the first visit");
        assert!(later.is_due(Some(0), Some(DAY_MS), 29 * DAY_MS));
        assert_eq!(later.next_due_ms(None, Some(u64::MAX)), Some(u64::MAX), "no overflow");
    }
}
