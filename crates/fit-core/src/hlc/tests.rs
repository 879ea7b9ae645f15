use proptest::prelude::*;

use super::*;

const HOUR_MS: u64 = 60 * 60 * 1000;
const YEAR_MS: u64 = 365 * 24 * HOUR_MS;
/// 2026-11-23 in Unix milliseconds: a plausible "now" for the tables.
const NOW: u64 = 1_795_392_000_000;

fn clock() -> HlcClock {
    HlcClock::new(Hlc::ZERO, MAX_DRIFT_MS_DEFAULT)
}

#[test]
fn a_tick_takes_the_wall_clock_when_it_has_moved_on() {
    let mut c = clock();
    assert_eq!(c.tick(NOW), Hlc::new(NOW, 0));
    assert_eq!(c.tick(NOW + 5), Hlc::new(NOW + 5, 0));
}

#[test]
fn ticks_in_the_same_millisecond_count_up() {
    let mut c = clock();
    c.tick(NOW);
    assert_eq!(c.tick(NOW), Hlc::new(NOW, 1));
    assert_eq!(c.tick(NOW), Hlc::new(NOW, 2));
}

#[test]
fn a_clock_reset_to_1970_keeps_counting_after_the_last_timestamp() {
    let mut c = clock();
    c.tick(NOW);
    assert_eq!(c.tick(0), Hlc::new(NOW, 1));
    assert_eq!(c.tick(1_000), Hlc::new(NOW, 2));
}

#[test]
fn observing_a_remote_timestamp_moves_past_it() {
    let mut c = clock();
    c.tick(NOW);
    let remote = Hlc::new(NOW + HOUR_MS, 7);
    assert_eq!(c.observe(remote, NOW), Ok(Hlc::new(NOW + HOUR_MS, 8)));
    assert!(c.tick(NOW) > remote);
}

#[test]
fn a_remote_timestamp_just_inside_the_drift_is_accepted() {
    let mut c = clock();
    let remote = Hlc::new(NOW + MAX_DRIFT_MS_DEFAULT, 0);
    assert_eq!(c.observe(remote, NOW), Ok(Hlc::new(NOW + MAX_DRIFT_MS_DEFAULT, 1)));
}

#[test]
fn a_remote_timestamp_from_2099_is_refused_and_leaves_the_clock_alone() {
    let mut c = clock();
    c.tick(NOW);
    let before = c.clone();
    let year_2099 = Hlc::new(4_070_908_800_000, 0);
    let refused = c.observe(year_2099, NOW);
    assert!(matches!(refused, Err(HlcError::TooFarAhead { max_drift_ms: MAX_DRIFT_MS_DEFAULT, .. })));
    assert_eq!(c, before);
    let one_ms_too_far = Hlc::new(NOW + MAX_DRIFT_MS_DEFAULT + 1, 0);
    assert!(c.observe(one_ms_too_far, NOW).is_err());
}

#[derive(Debug, Clone)]
enum Event {
    Tick { now: u64 },
    Observe { remote: Hlc, now: u64 },
}

/// Wall clocks anywhere from 1970 to about 2100, and jumps of years in both directions.
fn wall() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 0u64..(130 * YEAR_MS), (NOW - 3 * YEAR_MS)..(NOW + 3 * YEAR_MS), (NOW - 10)..(NOW + 10),]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        wall().prop_map(|now| Event::Tick { now }),
        (wall(), wall(), 0u32..5)
            .prop_map(|(now, remote_wall, counter)| Event::Observe { remote: Hlc::new(remote_wall, counter), now }),
        // A remote close to our clock, so that observations are often accepted.
        (wall(), 0u64..(2 * MAX_DRIFT_MS_DEFAULT), 0u32..5).prop_map(|(now, ahead, counter)| {
            Event::Observe { remote: Hlc::new(now.saturating_sub(MAX_DRIFT_MS_DEFAULT) + ahead, counter), now }
        }),
    ]
}

proptest! {
    #[test]
    fn every_timestamp_given_out_is_larger_than_the_one_before(events in prop::collection::vec(event(), 1..200)) {
        let mut c = clock();
        let mut previous = c.last();
        for e in events {
            let given = match e {
                Event::Tick { now } => Some(c.tick(now)),
                Event::Observe { remote, now } => c.observe(remote, now).ok(),
            };
            if let Some(given) = given {
                prop_assert!(given > previous, "{given:?} after {previous:?}");
                previous = given;
            }
            prop_assert_eq!(c.last(), previous);
        }
    }

    #[test]
    fn an_accepted_remote_timestamp_is_always_behind_the_result(events in prop::collection::vec(event(), 1..100)) {
        let mut c = clock();
        for e in events {
            match e {
                Event::Tick { now } => { c.tick(now); }
                Event::Observe { remote, now } => {
                    if let Ok(given) = c.observe(remote, now) {
                        prop_assert!(given > remote);
                    }
                }
            }
        }
    }

    #[test]
    fn the_clock_never_runs_further_ahead_than_the_drift_beyond_the_latest_wall_clock_it_saw(
        events in prop::collection::vec(event(), 1..200)
    ) {
        let mut c = clock();
        let mut latest_now = 0u64;
        for e in events {
            match e {
                Event::Tick { now } => { latest_now = latest_now.max(now); c.tick(now); }
                Event::Observe { remote, now } => { latest_now = latest_now.max(now); let _ = c.observe(remote, now); }
            }
            prop_assert!(c.last().wall_ms <= latest_now + MAX_DRIFT_MS_DEFAULT);
        }
    }
}
