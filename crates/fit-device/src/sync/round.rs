//! One sync run as a state machine over the device, apart from any transport: the first
//! request, what each answer means for the device, the request that overlaps the commit of an
//! answer, and the commit itself. `SyncClient::sync_now` drives it over its transport; so does
//! the simulation, over a network with faults, so both run the rounds that ship. A run whose last
//! answer names scale packs other than the device's ends with one fetch of them (`packs_fetch`,
//! `packs_answered`).

use fit_core::ids::ChangeId;
use fit_protocol::ErrorCode;
use fit_protocol::sync::{PROTOCOL_VERSION, QUARANTINE_REPORT_MAX};
use fit_protocol::{SyncRequest, SyncResponse};

use super::transport::{Get, Reply, read_reply};
use super::{CURSOR_STREAM, SyncConfig, SyncError, SyncProgress};
use crate::Device;
use crate::packs::PacksReport;

/// A sync request with where it goes: the server's URL and this device's token, and the
/// server's certificate when the device was enrolled with one.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub url: String,
    pub token: String,
    pub pin: Option<String>,
    pub request: SyncRequest,
}

impl Outgoing {
    /// How many changes it pushes.
    pub fn pushed(&self) -> u64 {
        self.request.push.len() as u64
    }
}

/// What the driver does after an answer.
#[derive(Debug)]
pub(crate) enum Next {
    /// Send this request; nothing to commit (the batch was stamped again after a refusal).
    Send(Outgoing),
    /// Send `next` (if any) and then commit `response`, so the request travels while the device
    /// commits. Without `next`, the run ends with the commit.
    Commit { response: SyncResponse, next: Option<Outgoing> },
}

/// The state of one run.
#[derive(Debug)]
pub(crate) struct SyncRun {
    config: SyncConfig,
    progress: SyncProgress,
    round_trips: u32,
    /// The batch has been stamped again once in this run: a second refusal means the server's
    /// clock or drift is not what it said, and trying again at once would not help.
    restamped: bool,
    /// The pull has started again from the beginning of the log once in this run.
    rewound: bool,
    /// The quarantined changes the first request reports: marked reported once an answer to it
    /// commits (a run that fails reports them again next time).
    reporting: Vec<ChangeId>,
    /// The server's packs tag from an answer, when it is not the one the device stored: the run
    /// ends with a fetch of the packs.
    packs_due: Option<String>,
}

/// The fetch of the server's packs a run ends with, and the tag it fetches.
#[derive(Debug, Clone)]
pub(crate) struct PacksFetch {
    pub get: Get,
    pub tag: String,
}

impl SyncRun {
    /// A run over `device` and its first request: the oldest unacknowledged outbox entries and
    /// the stored cursor.
    pub fn start(device: &Device, config: SyncConfig) -> Result<(SyncRun, Outgoing), SyncError> {
        let progress = SyncProgress { to_send: device.sync_counters()?.pending_changes, ..SyncProgress::default() };
        let cursor = device.replica()?.cursor(CURSOR_STREAM)?;
        let mut first = request_after(device, &config, 0, cursor)?;
        first.request.quarantined = device.replica()?.quarantine_unreported(QUARANTINE_REPORT_MAX)?;
        let reporting = first.request.quarantined.iter().map(|report| report.change).collect();
        let run =
            SyncRun { config, progress, round_trips: 0, restamped: false, rewound: false, reporting, packs_due: None };
        Ok((run, first))
    }

    pub fn progress(&self) -> SyncProgress {
        self.progress
    }

    pub fn round_trips(&self) -> u32 {
        self.round_trips
    }

    /// What an answer to a request that pushed `pushed` changes means: the next step, or the
    /// error that ends the run (after the device has done what the error asks: erased itself
    /// when revoked, stopped syncing when the server no longer speaks its protocol).
    pub fn answered(
        &mut self,
        device: &mut Device,
        pushed: u64,
        answer: Result<SyncResponse, SyncError>,
    ) -> Result<Next, SyncError> {
        self.round_trips += 1;
        let response = match answer {
            Ok(response) => response,
            Err(SyncError::Revoked) => {
                device.wipe_after_revoke()?;
                return Err(SyncError::Revoked);
            }
            Err(SyncError::Unsupported { min, max }) => {
                let reason = format!("the server speaks protocol {min} to {max}; this app speaks {PROTOCOL_VERSION}");
                // The outbox stays as it is: nothing pending is discarded.
                device.replica_mut()?.set_sync_blocked(Some(&reason))?;
                return Err(SyncError::Unsupported { min, max });
            }
            Err(SyncError::ClockAhead(server)) if !self.restamped => {
                self.restamped = true;
                let restamped = device.restamp_ahead(server)?;
                if restamped == 0 {
                    return Err(SyncError::ClockAhead(server));
                }
                self.progress.restamped += restamped as u64;
                // The request sent again carries no report: it waits for the next run.
                self.reporting.clear();
                let cursor = device.replica()?.cursor(CURSOR_STREAM)?;
                return Ok(Next::Send(request_after(device, &self.config, 0, cursor)?));
            }
            // The server's log ends before this device's cursor (it was restored from a backup):
            // pull from its beginning again. Applying a change the device holds changes nothing,
            // and what the device pushes is acknowledged by sequence as always.
            Err(SyncError::Refused { code: ErrorCode::SyncCursorPastEnd, .. }) if !self.rewound => {
                self.rewound = true;
                self.reporting.clear();
                return Ok(Next::Send(request_after(device, &self.config, 0, 0)?));
            }
            Err(other) => return Err(other),
        };
        // The next round, if there is one, built before this answer is committed: the entries
        // after the acknowledged ones, and the answer's cursor. A round that pushed nothing ends
        // the run at the end of the log even if a write came meanwhile: the next run takes it.
        let next = if response.more || pushed > 0 {
            let next = request_after(device, &self.config, response.acknowledged_seq, response.cursor)?;
            (response.more || !next.request.push.is_empty()).then_some(next)
        } else {
            None
        };
        Ok(Next::Commit { response, next })
    }

    /// Commits an answer (see `Device::finish_sync`) and counts it.
    pub fn commit(&mut self, device: &mut Device, pushed: u64, response: &SyncResponse) -> Result<(), SyncError> {
        device.finish_sync(response)?;
        if let Some(tag) = &response.packs_tag
            && device.packs_tag()?.as_ref() != Some(tag)
        {
            self.packs_due = Some(tag.clone());
        }
        if !self.reporting.is_empty() {
            let reported = std::mem::take(&mut self.reporting);
            device.replica_mut()?.set_quarantine_reported(&reported, response.server_time_ms)?;
        }
        self.progress.sent += pushed.min(response.acknowledged_seq);
        self.progress.received += response.changes.len() as u64;
        Ok(())
    }
}

impl SyncRun {
    /// The fetch of the server's packs, when an answer of this run named packs other than the
    /// device's; a device whose packs are current makes no other request.
    pub fn packs_fetch(&mut self, device: &Device) -> Result<Option<PacksFetch>, SyncError> {
        let Some(tag) = self.packs_due.take() else { return Ok(None) };
        let store = device.replica()?;
        let (url, token) = store.sync_settings()?.ok_or(SyncError::NotEnrolled)?;
        let get = Get {
            url: format!("{url}/api/v1/scale-packs"),
            token,
            if_none_match: store.packs_tag()?,
            pin: store.server_certificate()?,
        };
        Ok(Some(PacksFetch { get, tag }))
    }

    /// What the answer to a packs fetch means: the packs are admitted and used at once
    /// (`Device::install_packs`). `304`, a failed fetch or an answer that cannot be read change
    /// nothing and fail nothing (the run's changes are committed): the stored tag stays, so the
    /// next run asks again.
    pub fn packs_answered(
        &mut self,
        device: &mut Device,
        fetch: PacksFetch,
        answer: Result<Reply, SyncError>,
    ) -> Result<Option<PacksReport>, SyncError> {
        let Ok(reply) = answer else { return Ok(None) };
        if reply.status == 304 {
            return Ok(None);
        }
        let Ok(packs) = read_reply::<Vec<serde_json::Value>>(&reply) else { return Ok(None) };
        Ok(Some(device.install_packs(&fetch.tag, &packs)?))
    }
}

/// A request pushing the outbox entries after `acknowledged_seq` and pulling past `cursor`.
fn request_after(
    device: &Device,
    config: &SyncConfig,
    acknowledged_seq: u64,
    cursor: u64,
) -> Result<Outgoing, SyncError> {
    let store = device.replica()?;
    if let Some(reason) = store.sync_blocked()? {
        return Err(SyncError::Refused { code: ErrorCode::ProtocolUnsupported, message: reason });
    }
    let (url, token) = store.sync_settings()?.ok_or(SyncError::NotEnrolled)?;
    let limit = u32::try_from(config.push_batch_max).unwrap_or(u32::MAX);
    let push = store.outbox(acknowledged_seq, limit)?;
    Ok(Outgoing {
        url,
        token,
        pin: store.server_certificate()?,
        request: SyncRequest {
            protocol: PROTOCOL_VERSION,
            push,
            cursor,
            pull_limit: config.pull_limit,
            quarantined: vec![],
        },
    })
}
