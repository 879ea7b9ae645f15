//! Building a pull page: what of the log past a device's cursor it receives, in which order,
//! where the page ends, where the cursor goes, and which citizens left its worker's caseload.
//!
//! Every row has a key, and a page holds rows in (key, position) order:
//! - for a citizen assigned at or before the cursor, its changes past the cursor (key = position);
//! - for a citizen assigned after it, its whole history, which the device has not had
//!   (back-fill: key = the later of the position and the assignment's position).
//!
//! The cursor moves to a key, so a page never splits the rows of one key; a history longer than
//! the page limit comes whole, in a page of its own. Each citizen's rows are in that order by
//! position alone, so a backend can merge one index range per citizen (`merge_citizens`) and
//! read only the rows it sends and one more per citizen, not everything past the cursor.

use std::collections::HashSet;

use fit_core::ids::CitizenId;

use super::Refusal;

/// The bytes of change bodies a page holds at most (past its first key): a caseload's history
/// reaches a device in answers of a few MiB, not one of many.
pub const PULL_PAGE_BYTES_MAX: usize = 2 * 1024 * 1024;

/// The bytes a row's body adds to a page (a change as logged, in JSON).
pub trait BodyBytes {
    fn bytes(&self) -> usize;
}

impl BodyBytes for String {
    fn bytes(&self) -> usize {
        self.len()
    }
}

/// A row of a page: its key, its position, and its body when the device is to receive it. A
/// device is not sent its own changes (it holds them), unless they are back-filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRow<B> {
    pub key: u64,
    pub position: u64,
    pub body: Option<B>,
}

/// How a citizen of the caseload is read for a page past a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CitizenScan {
    cursor: u64,
    /// The assignment's position, when it lies past the cursor: the whole history is sent.
    backfill_until: Option<u64>,
}

impl CitizenScan {
    pub fn new(assigned_position: u64, cursor: u64) -> CitizenScan {
        CitizenScan { cursor, backfill_until: (assigned_position > cursor).then_some(assigned_position) }
    }

    /// The citizen's rows past this position belong to the page.
    pub fn after(self) -> u64 {
        if self.backfill_until.is_some() { 0 } else { self.cursor }
    }

    pub fn key(self, position: u64) -> u64 {
        self.backfill_until.map_or(position, |assigned| position.max(assigned))
    }

    /// Whether the device receives the body of a row at `position`; `own` when it made it.
    pub fn sends(self, position: u64, own: bool) -> bool {
        !own || self.backfill_until.is_some_and(|assigned| position < assigned)
    }

    /// The row at `position` as the page has it; `body` is read only when it is sent.
    pub fn row<B, E>(self, position: u64, own: bool, body: impl FnOnce() -> Result<B, E>) -> Result<PageRow<B>, E> {
        let body = if self.sends(position, own) { Some(body()?) } else { None };
        Ok(PageRow { key: self.key(position), position, body })
    }
}

/// Merges the caseload's citizens' rows, each citizen's in position order (as `CitizenScan` reads
/// them), into one stream in (key, position) order. It holds one row per citizen ahead of what it
/// gives; an error comes out as soon as it is met.
pub fn merge_citizens<B, E, I>(streams: impl IntoIterator<Item = I>) -> impl Iterator<Item = Result<PageRow<B>, E>>
where
    I: Iterator<Item = Result<PageRow<B>, E>>,
{
    itertools::kmerge_by(streams, |a: &Result<PageRow<B>, E>, b: &Result<PageRow<B>, E>| match (a, b) {
        (Ok(a), Ok(b)) => (a.key, a.position) < (b.key, b.position),
        (Err(_), _) => true,
        (Ok(_), Err(_)) => false,
    })
}

/// The rows a page keeps, and whether more wait past them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut<B> {
    pub rows: Vec<PageRow<B>>,
    pub more: bool,
}

/// Ends a page: rows are offered in (key, position) order until it says stop. It keeps up to
/// `limit` rows and `PULL_PAGE_BYTES_MAX` bytes of bodies; past them, it drops the rows of the
/// key the limit fell in (they come whole in the next page), or, when that key is the page's
/// first, keeps every row of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCut<B> {
    limit: usize,
    bytes_max: usize,
    /// The bytes of the bodies kept.
    bytes: usize,
    rows: Vec<PageRow<B>>,
    more: bool,
    /// The key taken whole: its rows are kept however many there are.
    whole_key: Option<u64>,
}

impl<B: BodyBytes> PageCut<B> {
    pub fn new(limit: usize) -> PageCut<B> {
        PageCut::with_bytes(limit, PULL_PAGE_BYTES_MAX)
    }

    /// A cut at `limit` rows and `bytes_max` bytes of bodies.
    pub fn with_bytes(limit: usize, bytes_max: usize) -> PageCut<B> {
        // The checks keep the limit at 1 or more; a 0 here would only mean "one".
        let limit = limit.max(1);
        let rows = Vec::with_capacity(limit.min(4_096));
        PageCut { limit, bytes_max, bytes: 0, rows, more: false, whole_key: None }
    }

    /// Takes the next row; false when the page is complete and no more rows are wanted.
    pub fn offer(&mut self, row: PageRow<B>) -> bool {
        let size = row.body.as_ref().map_or(0, BodyBytes::bytes);
        if let Some(key) = self.whole_key {
            if row.key != key {
                return false;
            }
        } else if let Some(last) = self.rows.last()
            && (self.rows.len() >= self.limit || self.bytes.saturating_add(size) > self.bytes_max)
        {
            self.more = true;
            let split_key = last.key;
            if row.key != split_key {
                return false;
            }
            if self.rows[0].key != split_key {
                self.rows.retain(|kept| kept.key < split_key);
                return false;
            }
            self.whole_key = Some(split_key);
        }
        self.bytes = self.bytes.saturating_add(size);
        self.rows.push(row);
        true
    }

    /// The key being taken whole, while its end has not been seen: a backend that offered a
    /// limited read reads that key's rows in full.
    pub fn open_key(&self) -> Option<u64> {
        self.whole_key
    }

    pub fn finish(self) -> Cut<B> {
        Cut { rows: self.rows, more: self.more }
    }
}

/// Cuts a page of at most `limit` rows (or one whole key) from `rows`, in (key, position) order,
/// reading no row past the first one it does not keep.
pub fn cut_page<B: BodyBytes, E>(rows: impl Iterator<Item = Result<PageRow<B>, E>>, limit: usize) -> Result<Cut<B>, E> {
    let mut cut = PageCut::new(limit);
    for row in rows {
        if !cut.offer(row?) {
            break;
        }
    }
    Ok(cut.finish())
}

/// An assignment that took a citizen from the device's worker, as read: its position, the
/// citizen, and whether the citizen is the worker's again now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub position: u64,
    pub citizen: CitizenId,
    pub back: bool,
}

/// A page as the device receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<B> {
    pub rows: Vec<PageRow<B>>,
    pub cursor: u64,
    pub more: bool,
    /// Citizens that left the worker's caseload up to the new cursor, and are not back.
    pub removed: Vec<CitizenId>,
}

impl<B> Page<B> {
    /// The page of `cut` past `cursor`, in a log that ends at `log_end`. `departures` are those
    /// past the cursor in position order; later ones than the new cursor wait for their page.
    pub fn new(cut: Cut<B>, cursor: u64, log_end: u64, departures: &[Departure]) -> Page<B> {
        let cursor = next_cursor(cursor, cut.more, cut.rows.last().map(|row| row.key), log_end);
        Page { removed: removed_citizens(departures, cursor), rows: cut.rows, cursor, more: cut.more }
    }
}

/// A cursor is a position this server gave: one past the end of its log (`log_end`) is refused,
/// not echoed back, so a device that holds one hears that it does (see docs/protocol.md).
pub fn check_cursor(cursor: u64, log_end: u64) -> Result<(), Refusal> {
    if cursor > log_end { Err(Refusal::CursorPastEnd { cursor, log_end }) } else { Ok(()) }
}

/// With more to come, the cursor moves to the last key sent (a key is never split, so the next
/// page starts after it); with nothing more, to the end of the log, so the next round starts
/// there. It never moves back.
pub fn next_cursor(cursor: u64, more: bool, last_key: Option<u64>, log_end: u64) -> u64 {
    match (more, last_key) {
        (true, Some(key)) => key,
        _ => log_end,
    }
    .max(cursor)
}

/// The citizens of `departures` (in position order) that left up to `new_cursor` and are not
/// back, each once, in the order they left.
pub fn removed_citizens(departures: &[Departure], new_cursor: u64) -> Vec<CitizenId> {
    let mut seen = HashSet::new();
    departures
        .iter()
        .filter(|departure| departure.position <= new_cursor && !departure.back)
        .filter(|departure| seen.insert(departure.citizen))
        .map(|departure| departure.citizen)
        .collect()
}

#[cfg(test)]
mod tests;
