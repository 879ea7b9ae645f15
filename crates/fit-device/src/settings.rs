//! The app's settings: language, auto-lock and the nightly sync window. They hold nothing
//! personal and are needed before the PIN is entered (the lock screen speaks the chosen
//! language), so they live in a small JSON file beside the encrypted store, not inside it.

use std::path::{Path, PathBuf};

use fit_core::Lang;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::DeviceError;

const MINUTES_PER_DAY: u16 = 24 * 60;
const MS_PER_MINUTE: u64 = 60_000;
const MS_PER_DAY: u64 = MINUTES_PER_DAY as u64 * MS_PER_MINUTE;
/// Auto-lock bounds: a minute is the least a worker can type a note in; an hour the most a
/// device may lie unlocked in a citizen's home.
pub const AUTO_LOCK_MINUTES_MIN: u32 = 1;
pub const AUTO_LOCK_MINUTES_MAX: u32 = 60;
/// The time zones of the world lie within UTC−12 and UTC+14.
const UTC_OFFSET_MINUTES_MAX: i32 = 14 * 60;

/// When the device syncs at night, in the device's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NightlyWindow {
    pub enabled: bool,
    /// Minutes after local midnight (120 = 02:00).
    pub minute_of_day: u16,
    /// The device's offset from UTC in minutes (Copenhagen: 60 in winter, 120 in summer), as
    /// the UI read it when the window was saved.
    pub utc_offset_minutes: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AppSettings {
    pub lang: Lang,
    pub auto_lock_minutes: u32,
    pub nightly: NightlyWindow,
}

impl Default for AppSettings {
    fn default() -> AppSettings {
        AppSettings {
            lang: Lang::Da,
            auto_lock_minutes: 5,
            nightly: NightlyWindow { enabled: true, minute_of_day: 2 * 60, utc_offset_minutes: 60 },
        }
    }
}

impl AppSettings {
    /// Refuses settings out of range, with a message a worker can act on.
    pub fn check(&self) -> Result<(), DeviceError> {
        if !(AUTO_LOCK_MINUTES_MIN..=AUTO_LOCK_MINUTES_MAX).contains(&self.auto_lock_minutes) {
            return Err(DeviceError::Invalid(format!(
                "auto-lock must be between {AUTO_LOCK_MINUTES_MIN} and {AUTO_LOCK_MINUTES_MAX} minutes"
            )));
        }
        if self.nightly.minute_of_day >= MINUTES_PER_DAY {
            return Err(DeviceError::Invalid("the nightly sync time must be between 00:00 and 23:59".into()));
        }
        if self.nightly.utc_offset_minutes.abs() > UTC_OFFSET_MINUTES_MAX {
            return Err(DeviceError::Invalid("the time zone offset is out of range".into()));
        }
        Ok(())
    }
}

impl NightlyWindow {
    /// The next nightly sync strictly after `now_ms` (Unix milliseconds), if enabled.
    pub fn next_after(&self, now_ms: u64) -> Option<u64> {
        if !self.enabled {
            return None;
        }
        let offset_ms = i64::from(self.utc_offset_minutes) * MS_PER_MINUTE as i64;
        // The start of today in local time, as a Unix time.
        let local_now = i64::try_from(now_ms).ok()? + offset_ms;
        let local_midnight = local_now - local_now.rem_euclid(MS_PER_DAY as i64);
        let mut next = local_midnight + i64::from(self.minute_of_day) * MS_PER_MINUTE as i64 - offset_ms;
        if next <= i64::try_from(now_ms).ok()? {
            next += MS_PER_DAY as i64;
        }
        u64::try_from(next).ok()
    }
}

/// The settings file of a device directory.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    pub fn new(dir: &Path) -> SettingsFile {
        SettingsFile { path: dir.join("settings.json") }
    }

    /// The saved settings, or the defaults when none are saved or the file cannot be read
    /// (settings are conveniences: a damaged file must not keep the worker out).
    pub fn load(&self) -> AppSettings {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<AppSettings>(&bytes).ok())
            .filter(|s| s.check().is_ok())
            .unwrap_or_default()
    }

    /// Checks and saves; a refused value changes nothing. The write is atomic (a rename).
    pub fn save(&self, settings: &AppSettings) -> Result<(), DeviceError> {
        settings.check()?;
        let io = |e: std::io::Error| DeviceError::Unavailable(format!("cannot save the settings: {e}"));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec_pretty(settings).map_err(|e| DeviceError::Invalid(e.to_string()))?;
        let temporary = self.path.with_extension("json.new");
        std::fs::write(&temporary, bytes).map_err(io)?;
        std::fs::rename(&temporary, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 60 * MS_PER_MINUTE;

    #[test]
    fn the_nightly_sync_is_the_next_local_time_of_day() {
        let window = NightlyWindow { enabled: true, minute_of_day: 120, utc_offset_minutes: 60 };
        // 2026-01-10 12:00 UTC is 13:00 in Copenhagen: the next 02:00 local is 01:00 UTC tomorrow.
        let noon_utc = 1_768_046_400_000;
        assert_eq!(window.next_after(noon_utc), Some(noon_utc + 13 * HOUR_MS));
        // At 00:30 UTC (01:30 local) the next is half an hour away, today.
        let half_past_midnight = noon_utc - 11 * HOUR_MS - 30 * MS_PER_MINUTE;
        assert_eq!(window.next_after(half_past_midnight), Some(half_past_midnight + 30 * MS_PER_MINUTE));
        // Exactly at the time, the next is tomorrow's.
        let at = noon_utc + 13 * HOUR_MS;
        assert_eq!(window.next_after(at), Some(at + MS_PER_DAY));
        assert_eq!(NightlyWindow { enabled: false, ..window }.next_after(noon_utc), None);
    }

    #[test]
    fn settings_out_of_range_are_refused_and_not_saved() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = SettingsFile::new(dir.path());
        assert_eq!(file.load(), AppSettings::default());
        let english = AppSettings { lang: Lang::En, auto_lock_minutes: 10, ..AppSettings::default() };
        file.save(&english).unwrap_or_else(|e| panic!("{e}"));
        for bad in [
            AppSettings { auto_lock_minutes: 0, ..english },
            AppSettings { auto_lock_minutes: 61, ..english },
            AppSettings { nightly: NightlyWindow { minute_of_day: 1440, ..english.nightly }, ..english },
            AppSettings { nightly: NightlyWindow { utc_offset_minutes: 900, ..english.nightly }, ..english },
        ] {
            assert_eq!(file.save(&bad).map_err(|e| e.code().as_str()).err(), Some("input.invalid"));
        }
        assert_eq!(file.load(), english);
        std::fs::write(dir.path().join("settings.json"), b"{not json").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.load(), AppSettings::default(), "a damaged file falls back to the defaults");
    }
}
