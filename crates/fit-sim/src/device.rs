//! A simulated device: the real `Device` (SQLCipher store in a directory of its own) with a
//! manual clock that runs at the simulation's time plus a skew, and the real `SyncClient` over
//! the simulated network.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fit_core::ids::DeviceId;
use fit_device::sync::{SyncClient, SyncConfig};
use fit_device::{Clock, Device, DeviceConfig, ManualClock};
use fit_store::{KdfCost, Store, UnlockPolicy};

use crate::SimResult;
use crate::network::SimTransport;

const PIN: &str = "192837";

pub(crate) struct SimDevice {
    /// Index of the worker this device is enrolled for.
    pub worker: usize,
    pub id: DeviceId,
    config: DeviceConfig,
    pub clock: Arc<ManualClock>,
    /// How far this device's clock is off the simulation's time, in milliseconds.
    pub skew_ms: i64,
    /// In a mutex as the app holds it: the sync engine locks it for each step.
    pub device: Mutex<Device>,
    pub client: SyncClient<SimTransport>,
    /// Local writes committed (each one outbox entry).
    pub writes: u64,
}

impl SimDevice {
    pub fn create(
        dir: PathBuf,
        worker: usize,
        now_ms: u64,
        transport: SimTransport,
        sync: SyncConfig,
    ) -> SimResult<SimDevice> {
        let config = DeviceConfig {
            unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, delay_base_ms: 0, ..UnlockPolicy::default() },
            ..DeviceConfig::new(dir)
        };
        let clock = Arc::new(ManualClock::new(now_ms));
        let mut device = Device::open(config.clone(), clock.clone()).map_err(|e| format!("device open: {e}"))?;
        device.set_up(PIN).map_err(|e| format!("device set-up: {e}"))?;
        let id = device.store_mut().map_err(|e| e.to_string())?.device_id();
        let client = SyncClient::over(transport, sync);
        Ok(SimDevice { worker, id, config, clock, skew_ms: 0, device: Mutex::new(device), client, writes: 0 })
    }

    /// The device, for local work (nothing else holds it then).
    pub fn device(&mut self) -> &mut Device {
        self.device.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The device crashes (the process dies between a local write and a sync) and starts again
    /// from its files: a new `Device` over the same directory, unlocked with the PIN.
    pub fn crash_and_restart(&mut self) -> SimResult<()> {
        let fresh = Device::open(self.config.clone(), self.clock.clone()).map_err(|e| format!("reopen: {e}"))?;
        // The old device (and its database connection) goes before the new one opens the file.
        *self.device() = fresh;
        self.device().unlock(PIN).map_err(|e| format!("unlock after a crash: {e}"))
    }

    /// Sets the device's clock to the simulation's time plus its skew.
    pub fn set_time(&self, sim_ms: u64) {
        let skewed = i128::from(sim_ms) + i128::from(self.skew_ms);
        self.clock.set(u64::try_from(skewed.max(0)).unwrap_or(u64::MAX));
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn store(&mut self) -> SimResult<&mut Store> {
        self.device().store_mut().map_err(|e| e.to_string())
    }

    pub fn pending(&mut self) -> SimResult<u64> {
        Ok(self.device().sync_counters().map_err(|e| e.to_string())?.pending_changes)
    }
}
