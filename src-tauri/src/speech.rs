//! The device's own speech engine behind `fit_device::speech::Speech`, through the `tts` crate:
//! speech-dispatcher on Linux (espeak-ng has a Danish voice), TextToSpeech on Android. It works
//! offline, unlike the web view's speechSynthesis, which WebKitGTK and Android's WebView lack.
//!
//! The engine starts on first use, on the blocking thread the command runs on: connecting to
//! speech-dispatcher may start it, which takes a moment the UI must not wait for. An engine
//! that does not start makes read-aloud unavailable and is not tried again; the user sees the
//! button hidden, not an error.

use std::sync::{Mutex, OnceLock};

use fit_core::Lang;
use fit_device::speech::{Speech, SpeechError};
use tts::{Tts, Voice};

/// The device's speech engine, started on first use.
#[derive(Default)]
pub struct DeviceSpeech {
    engine: OnceLock<Option<Mutex<Engine>>>,
}

impl std::fmt::Debug for DeviceSpeech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSpeech").field("started", &self.engine.get().map(Option::is_some)).finish()
    }
}

/// A started engine, its voices, and the language its voice was last chosen for.
struct Engine {
    tts: Tts,
    voices: Vec<Voice>,
    voice_for: Option<Lang>,
}

impl DeviceSpeech {
    fn engine(&self) -> Option<&Mutex<Engine>> {
        self.engine.get_or_init(start).as_ref()
    }
}

fn start() -> Option<Mutex<Engine>> {
    // The engine's own setup can panic where the platform lacks a piece it expects (on Android,
    // the `rs.tts.Bridge` Java class in the app); that too is an engine that did not start.
    let started = std::panic::catch_unwind(Tts::default).unwrap_or(Err(tts::Error::NoneError));
    match started {
        Ok(tts) => {
            // An engine that cannot list its voices still speaks, with its default voice.
            let voices = tts.voices().unwrap_or_default();
            Some(Mutex::new(Engine { tts, voices, voice_for: None }))
        }
        Err(error) => {
            // The engine's own reason, for whoever reads the app's output; no text is in it.
            eprintln!("read-aloud is unavailable: the speech engine did not start ({error})");
            None
        }
    }
}

/// The voice for `lang`: the plainest of the engine's voices in that language (espeak-ng's
/// "Danish" rather than one of its variants such as "Danish+Annie").
fn voice_for(voices: &[Voice], lang: Lang) -> Option<&Voice> {
    let code = match lang {
        Lang::Da => "da",
        Lang::En => "en",
    };
    voices
        .iter()
        .filter(|voice| voice.language().primary_language().eq_ignore_ascii_case(code))
        .min_by_key(|voice| voice.name().len())
}

fn engine_error(error: tts::Error) -> SpeechError {
    SpeechError::Engine(error.to_string())
}

impl Speech for DeviceSpeech {
    fn is_available(&self) -> bool {
        self.engine().is_some()
    }

    fn speak(&self, text: &str, lang: Lang) -> Result<(), SpeechError> {
        let engine = self.engine().ok_or(SpeechError::Unavailable)?;
        // A panic under the lock cannot leave the engine half-set: the voice is chosen anew.
        let mut engine = engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if engine.voice_for != Some(lang) {
            // Without a voice of the language the engine keeps the voice it has: reading in
            // another voice is better than not reading at all.
            if let Some(voice) = voice_for(&engine.voices, lang).cloned() {
                engine.tts.set_voice(&voice).map_err(engine_error)?;
            }
            engine.voice_for = Some(lang);
        }
        engine.tts.speak(text, true).map_err(engine_error)?;
        Ok(())
    }

    fn stop(&self) -> Result<(), SpeechError> {
        let Some(engine) = self.engine() else { return Ok(()) };
        let mut engine = engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        engine.tts.stop().map_err(engine_error)?;
        Ok(())
    }
}
