//! Decodes a sync request from arbitrary bytes and, when it decodes, checks it as the server
//! does before any transaction: protocol, batch size and sequence, ids, HLC drift, scores against
//! the built-in scales, fields. Whatever the bytes, the answer is a value or an error, never a
//! panic, and an accepted batch re-encodes to what decodes to the same batch.
#![no_main]

use std::sync::LazyLock;

use fit_core::ScaleSet;
use fit_core::hlc::{Hlc, HlcClock, MAX_DRIFT_MS_DEFAULT};
use fit_protocol::sync::PROTOCOL_VERSION_MIN;
use fit_protocol::{PROTOCOL_VERSION, SyncRequest, VersionRange};
use libfuzzer_sys::fuzz_target;

static SCALES: LazyLock<ScaleSet> = LazyLock::new(|| ScaleSet::built_in().expect("the built-in packs parse"));
const NOW_MS: u64 = 1_795_392_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<SyncRequest>(data) else {
        return;
    };
    let device = request.push.first().map(|c| c.device);
    let clock = HlcClock::new(Hlc::ZERO, MAX_DRIFT_MS_DEFAULT);
    let range = VersionRange { min: PROTOCOL_VERSION_MIN, max: PROTOCOL_VERSION };
    if let Some(device) = device
        && fit_server::check::check_sync_request(&request, device, &SCALES, &clock, NOW_MS, range).is_ok()
    {
        let again = serde_json::to_vec(&request).expect("an accepted request encodes");
        let decoded: SyncRequest = serde_json::from_slice(&again).expect("what we encode decodes");
        assert_eq!(decoded, request, "an accepted batch survives a round trip");
    }
});
