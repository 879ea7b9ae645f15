//! Loads demo and benchmark data (made by `fit_protocol::demo`) into a device's store, as if it
//! had been synced.

use fit_core::ids::{CitizenId, DeviceId};
pub use fit_protocol::demo::{DemoSpec, demo_changes};

use crate::{Device, DeviceError};

/// Changes per transaction when loading: large enough to be fast, small enough to bound memory.
const LOAD_CHUNK: usize = 5_000;

impl Device {
    /// Loads a demo caseload into this device for its worker, as if it had been synced.
    pub fn load_demo(&mut self, spec: DemoSpec) -> Result<Vec<CitizenId>, DeviceError> {
        let worker = self.worker()?;
        let origin: DeviceId = self.ids.next(spec.start_ms);
        let (citizens, changes) = demo_changes(spec, worker, origin);
        let now = self.clock.now_ms();
        let store = self.store.as_mut().ok_or(DeviceError::Locked)?;
        for citizen in &citizens {
            store.assign_citizen(worker, *citizen)?;
        }
        for chunk in changes.chunks(LOAD_CHUNK) {
            store.apply_pulled(&self.scales, now, chunk, None)?;
        }
        Ok(citizens)
    }
}
