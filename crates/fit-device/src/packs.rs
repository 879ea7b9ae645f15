//! The scale packs a device uses: the built-in ones, each replaced by a pack its server sent (a
//! licence holder's full text, or a new version), and new scales. Every pack from outside comes
//! in through fit-core's one rule (`ScaleSet::admit`), at sync and again at every unlock; one
//! the device cannot admit is skipped, and the scale it had stays in use.

use fit_core::pack::Admission;
use fit_core::scale::ScaleCode;
use fit_core::{PackError, ScaleSet};
use fit_store::{Store, StoredPack};

use crate::{Device, DeviceError};

/// What a fetch of the server's packs did on this device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacksReport {
    /// The scales that came in or changed, now in use.
    pub installed: Vec<ScaleCode>,
    /// The packs refused, each naming its place in the answer (`scale-packs[i]`) and the field.
    pub refused: Vec<PackError>,
}

/// The scales in use on a device whose store holds `stored`: the built-in packs, with every
/// stored pack admitted over them (one that no longer passes is left out).
pub(crate) fn scales_with(stored: &[StoredPack]) -> Result<ScaleSet, DeviceError> {
    let mut scales = ScaleSet::built_in().map_err(|e| DeviceError::Unavailable(e.to_string()))?;
    for pack in stored {
        let file = format!("scale_packs[{}]", pack.code);
        // A stored pack passed the rule when it came in; a build whose built-in packs moved on
        // may refuse it, and then the built-in one is used.
        let _ = scales.admit_and_install(&file, pack.pack.as_bytes());
    }
    Ok(scales)
}

/// The scales in use for an unlocked store.
pub(crate) fn scales_of(store: &Store) -> Result<ScaleSet, DeviceError> {
    scales_with(&store.scale_packs()?)
}

impl Device {
    /// Takes in the packs a server sent under `tag` (`GET /api/v1/scale-packs`, one JSON pack
    /// file each): admits each against the scales in use, stores the ones admitted with the tag
    /// in one transaction (forgetting the caseload lines computed with the scales they replace),
    /// and uses them at once. A refused pack changes nothing; the tag is stored all the same, so
    /// a pack this build cannot read is not fetched again until the server's packs change.
    pub fn install_packs(&mut self, tag: &str, packs: &[serde_json::Value]) -> Result<PacksReport, DeviceError> {
        let now = self.clock.now_ms();
        let mut scales = self.scales.clone();
        let mut report = PacksReport::default();
        let mut stored = Vec::new();
        for (index, pack) in packs.iter().enumerate() {
            let file = format!("scale-packs[{index}]");
            let text = pack.to_string();
            match scales.admit(&file, text.as_bytes()) {
                Ok(Admission::Unchanged) => {}
                Ok(Admission::New(scale) | Admission::Update { scale, .. }) => {
                    stored.push(StoredPack {
                        code: scale.code.to_string(),
                        version: scale.version.clone(),
                        pack: text,
                    });
                    report.installed.push(scale.code.clone());
                    scales.install(scale);
                }
                Err(error) => report.refused.push(error),
            }
        }
        self.replica_mut()?.install_scale_packs(&stored, tag, now)?;
        self.scales = scales;
        Ok(report)
    }

    /// The tag of the server's packs this device fetched last.
    pub fn packs_tag(&self) -> Result<Option<String>, DeviceError> {
        Ok(self.replica()?.packs_tag()?)
    }
}

#[cfg(test)]
mod tests;
