//! Table tests of building a pull page: the merge in (key, position) order, back-fill, own
//! changes, keys never split, the cursor, and removed citizens.

use std::convert::Infallible;

use fit_core::ids::CitizenId;
use rstest::rstest;

use super::*;

#[rstest]
#[case::assigned_before_the_cursor_reads_past_it(5, 10, 10)]
#[case::assigned_at_the_cursor_reads_past_it(10, 10, 10)]
#[case::assigned_after_the_cursor_reads_the_whole_history(12, 10, 0)]
fn where_a_citizens_rows_start(#[case] assigned: u64, #[case] cursor: u64, #[case] after: u64) {
    assert_eq!(CitizenScan::new(assigned, cursor).after(), after);
}

#[rstest]
#[case::another_devices_change_at_its_position(5, 10, 11, false, 11, true)]
#[case::the_devices_own_change_is_not_sent_back(5, 10, 11, true, 11, false)]
#[case::back_fill_comes_at_the_assignments_key(12, 10, 3, false, 12, true)]
#[case::back_fill_brings_the_devices_own_earlier_changes_too(12, 10, 3, true, 12, true)]
#[case::past_the_assignment_keys_are_positions_again(12, 10, 13, true, 13, false)]
fn a_row_of_a_page(
    #[case] assigned: u64,
    #[case] cursor: u64,
    #[case] position: u64,
    #[case] own: bool,
    #[case] key: u64,
    #[case] sent: bool,
) {
    let row = CitizenScan::new(assigned, cursor).row(position, own, || Ok::<_, Infallible>("body")).unwrap();
    assert_eq!(row, PageRow { key, position, body: sent.then_some("body") });
}

/// A caseload: each citizen's assignment position and the positions of its changes, all made by
/// other devices.
type Caseload = &'static [(u64, &'static [u64])];

/// The page past `cursor` of at most `limit` rows, in a log that ends at 20: the positions it
/// sends, its cursor, and `more`.
fn page(caseload: Caseload, cursor: u64, limit: usize) -> (Vec<u64>, u64, bool) {
    let streams = caseload.iter().map(|(assigned, positions)| {
        let scan = CitizenScan::new(*assigned, cursor);
        positions
            .iter()
            .filter(move |position| **position > scan.after())
            .map(move |position| scan.row(*position, false, || Ok::<_, Infallible>(())))
    });
    let cut = cut_page(merge_citizens(streams), limit).unwrap();
    let page = Page::new(cut, cursor, 20, &[]);
    (page.rows.iter().map(|row| row.position).collect(), page.cursor, page.more)
}

const TWO_CITIZENS: Caseload = &[(1, &[2, 5, 8]), (1, &[3, 4, 9])];
/// The first citizen the worker's since position 1; the second assigned at 12, with a history.
const A_NEW_CITIZEN: Caseload = &[(1, &[11, 14]), (12, &[2, 3, 13])];
const A_LONG_HISTORY: Caseload = &[(1, &[11, 14]), (12, &[2, 3, 4, 5, 13])];

#[rstest]
#[case::the_citizens_changes_past_the_cursor_in_position_order(TWO_CITIZENS, 3, 10, (vec![4, 5, 8, 9], 20, false))]
#[case::a_full_page_moves_the_cursor_to_its_last_key(TWO_CITIZENS, 3, 2, (vec![4, 5], 5, true))]
#[case::a_new_citizens_whole_history_comes_at_its_assignment(A_NEW_CITIZEN, 10, 10, (vec![11, 2, 3, 13, 14], 20, false))]
#[case::a_page_never_splits_a_key(A_NEW_CITIZEN, 10, 2, (vec![11], 11, true))]
#[case::the_next_page_takes_the_back_fill_whole(A_NEW_CITIZEN, 11, 2, (vec![2, 3], 12, true))]
#[case::a_key_longer_than_a_page_comes_whole_in_a_page_of_its_own(A_LONG_HISTORY, 11, 2, (vec![2, 3, 4, 5], 12, true))]
#[case::after_the_back_fill_the_changes_past_it(A_LONG_HISTORY, 12, 2, (vec![13, 14], 20, false))]
#[case::nothing_past_the_cursor_moves_it_to_the_end_of_the_log(TWO_CITIZENS, 9, 10, (vec![], 20, false))]
#[case::the_cursor_never_moves_back(TWO_CITIZENS, 30, 10, (vec![], 30, false))]
fn a_page(
    #[case] caseload: Caseload,
    #[case] cursor: u64,
    #[case] limit: usize,
    #[case] expected: (Vec<u64>, u64, bool),
) {
    assert_eq!(page(caseload, cursor, limit), expected);
}

#[test]
fn the_devices_own_changes_are_not_sent_but_the_cursor_passes_them() {
    let scan = CitizenScan::new(1, 0);
    let rows = [(2, true), (3, false), (4, true)]
        .map(|(position, own)| scan.row(position, own, || Ok::<_, Infallible>(position)));
    let page = Page::new(cut_page(rows.into_iter(), 10).unwrap(), 0, 4, &[]);
    let sent: Vec<_> = page.rows.iter().filter_map(|row| row.body).collect();
    assert_eq!((sent, page.cursor, page.more), (vec![3], 4, false));
}

#[test]
fn a_limited_read_that_ends_inside_the_first_key_asks_for_all_of_it() {
    let mut cut = PageCut::new(2);
    for position in [2, 3, 4] {
        assert!(cut.offer(PageRow { key: 12, position, body: Some(()) }));
    }
    assert_eq!(cut.open_key(), Some(12));
    let mut cut = PageCut::new(2);
    assert!(cut.offer(PageRow { key: 11, position: 11, body: Some(()) }));
    assert!(cut.offer(PageRow { key: 12, position: 2, body: Some(()) }));
    assert!(!cut.offer(PageRow { key: 12, position: 3, body: Some(()) }));
    assert_eq!((cut.open_key(), cut.finish().rows.len()), (None, 1));
}

#[test]
fn a_read_error_ends_the_page_with_it() {
    let failing = vec![Ok(PageRow { key: 1, position: 1, body: Some(()) }), Err("disk")].into_iter();
    let fine = vec![Ok(PageRow { key: 2, position: 2, body: Some(()) })].into_iter();
    assert_eq!(cut_page(merge_citizens([failing, fine]), 10), Err("disk"));
}

fn citizen(n: u8) -> CitizenId {
    CitizenId::from(uuid::Builder::from_unix_timestamp_millis(1, &[n; 10]).into_uuid())
}

fn departures() -> Vec<Departure> {
    [(12, 1, false), (13, 2, true), (15, 1, false), (18, 3, false)]
        .map(|(position, n, back)| Departure { position, citizen: citizen(n), back })
        .to_vec()
}

#[rstest]
#[case::a_citizen_that_left_is_removed_once(16, vec![1])]
#[case::departures_past_the_new_cursor_wait_for_their_page(12, vec![1])]
#[case::in_the_order_they_left(18, vec![1, 3])]
#[case::none_before_the_first(11, vec![])]
fn removed_citizens_up_to_the_new_cursor_and_not_back(#[case] new_cursor: u64, #[case] expected: Vec<u8>) {
    assert_eq!(removed_citizens(&departures(), new_cursor), expected.into_iter().map(citizen).collect::<Vec<_>>());
}

#[test]
fn a_page_removes_the_citizens_that_left_up_to_its_cursor() {
    let cut = Cut { rows: vec![PageRow { key: 14, position: 14, body: Some(()) }], more: true };
    let page = Page::new(cut, 10, 20, &departures());
    assert_eq!((page.cursor, page.removed), (14, vec![citizen(1)]));
}

impl BodyBytes for () {
    fn bytes(&self) -> usize {
        0
    }
}

impl BodyBytes for u64 {
    fn bytes(&self) -> usize {
        8
    }
}

#[test]
fn a_page_ends_at_its_bytes_as_well_as_its_count_but_never_before_its_first_key() {
    let body = |n: usize| Some("x".repeat(n));
    let mut cut = PageCut::with_bytes(100, 10);
    assert!(cut.offer(PageRow { key: 1, position: 1, body: body(6) }));
    assert!(cut.offer(PageRow { key: 2, position: 2, body: body(4) }));
    assert!(!cut.offer(PageRow { key: 3, position: 3, body: body(1) }), "11 bytes would pass 10");
    let kept = cut.finish();
    assert_eq!((kept.rows.len(), kept.more), (2, true));
    // A first key larger than the bound comes whole: a device must be able to get past it.
    let mut cut = PageCut::with_bytes(100, 10);
    assert!(cut.offer(PageRow { key: 1, position: 1, body: body(8) }));
    assert!(cut.offer(PageRow { key: 1, position: 2, body: body(8) }));
    assert!(!cut.offer(PageRow { key: 2, position: 3, body: body(1) }));
    assert_eq!(cut.finish().rows.len(), 2);
    // Rows the device is not sent (its own) weigh nothing.
    let mut cut = PageCut::<String>::with_bytes(100, 10);
    for position in 1..=50 {
        assert!(cut.offer(PageRow { key: position, position, body: None }));
    }
}
