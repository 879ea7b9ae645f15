//! The device's own speech engine behind `fit_device::speech::Speech`, through the `tts` crate:
//! speech-dispatcher on Linux (espeak-ng has a Danish voice), TextToSpeech on Android. It works
//! offline, unlike the web view's speechSynthesis, which WebKitGTK and Android's WebView lack.
//!
//! The engine starts on first use, on the blocking thread the command runs on: connecting to
//! speech-dispatcher may start it, which takes a moment the UI must not wait for. Its voices are
//! listed on a thread of their own right after: speech-dispatcher lists every espeak-ng voice
//! with every variant (thousands), which takes seconds, and the answer to "is read-aloud
//! available" must not wait for that. An engine that does not start makes read-aloud
//! unavailable and is not tried again; the user sees the button hidden, not an error.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use fit_core::Lang;
use fit_device::speech::{Speech, SpeechError};
use tts::{Tts, Voice};

/// The device's speech engine, started on first use.
#[derive(Default)]
pub struct DeviceSpeech {
    engine: OnceLock<Option<Arc<Mutex<Engine>>>>,
}

impl std::fmt::Debug for DeviceSpeech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSpeech").field("started", &self.engine.get().map(Option::is_some)).finish()
    }
}

/// A started engine, its voices (None until listed), and the language its voice was last
/// chosen for.
struct Engine {
    tts: Tts,
    voices: Option<Vec<Voice>>,
    voice_for: Option<Lang>,
}

impl Engine {
    /// The engine's voices, listed once. An engine that cannot list them still speaks, with its
    /// default voice.
    fn voices(&mut self) -> &[Voice] {
        let tts = &self.tts;
        self.voices.get_or_insert_with(|| tts.voices().unwrap_or_default())
    }
}

impl DeviceSpeech {
    /// The engine, started on first use.
    fn engine(&self) -> Option<MutexGuard<'_, Engine>> {
        let engine = self.engine.get_or_init(start).as_ref()?;
        // A panic under the lock cannot leave the engine half-set: the voice is chosen anew.
        Some(engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

fn start() -> Option<Arc<Mutex<Engine>>> {
    // The engine's own setup can panic where the platform lacks a piece it expects (on Android,
    // the `rs.tts.Bridge` Java class in the app); that too is an engine that did not start.
    let started = std::panic::catch_unwind(Tts::default).unwrap_or(Err(tts::Error::NoneError));
    match started {
        Ok(tts) => {
            let engine = Arc::new(Mutex::new(Engine { tts, voices: None, voice_for: None }));
            let listing = engine.clone();
            // Listed now, so the first read-aloud finds them ready; one asked for before the
            // list is in waits for it under the lock.
            let _ = std::thread::Builder::new().name("speech-voices".into()).spawn(move || {
                listing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).voices();
            });
            Some(engine)
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
        self.engine.get_or_init(start).is_some()
    }

    fn speak(&self, text: &str, lang: Lang) -> Result<(), SpeechError> {
        let mut engine = self.engine().ok_or(SpeechError::Unavailable)?;
        if engine.voice_for != Some(lang) {
            // Without a voice of the language the engine keeps the voice it has: reading in
            // another voice is better than not reading at all.
            if let Some(voice) = voice_for(engine.voices(), lang).cloned() {
                engine.tts.set_voice(&voice).map_err(engine_error)?;
            }
            engine.voice_for = Some(lang);
        }
        engine.tts.speak(text, true).map_err(engine_error)?;
        Ok(())
    }

    fn stop(&self) -> Result<(), SpeechError> {
        let Some(mut engine) = self.engine() else { return Ok(()) };
        engine.tts.stop().map_err(engine_error)?;
        Ok(())
    }
}
