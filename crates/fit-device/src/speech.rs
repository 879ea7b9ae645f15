//! Read-aloud: the `Speech` trait the app's service speaks through and the rule of what it may
//! be asked to speak. No engine lives here: the shell brings the device's own (speech-dispatcher
//! on Linux, TextToSpeech on Android), so this crate stays free of platform libraries.

use fit_core::Lang;
use fit_protocol::ErrorCode;

/// The longest text one request may speak, in characters. An item with its introduction and its
/// answer options is a few hundred; anything much longer is not a scale item read aloud.
pub const SPEECH_TEXT_CHARS_MAX: usize = 2_000;

/// A speech engine on the device. Implementations answer quickly: `speak` queues the text and
/// returns while it is spoken, and a new text interrupts the one being spoken.
pub trait Speech: Send + Sync + std::fmt::Debug {
    /// True when the engine started and can speak; false hides read-aloud in the UI.
    fn is_available(&self) -> bool;

    /// Speaks `text` with a voice of `lang` where the engine has one, otherwise its default.
    fn speak(&self, text: &str, lang: Lang) -> Result<(), SpeechError>;

    /// Stops what is being spoken; nothing being spoken is not an error.
    fn stop(&self) -> Result<(), SpeechError>;
}

/// Why a text was not spoken. Messages never carry the text itself.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("this device has no speech engine that can read aloud")]
    Unavailable,
    #[error("there is nothing to read aloud")]
    Empty,
    #[error("the text is too long to read aloud (at most {SPEECH_TEXT_CHARS_MAX} characters)")]
    TooLong,
    /// The engine refused or failed; the reason is the engine's, never the text.
    #[error("the speech engine could not read aloud: {0}")]
    Engine(String),
}

impl SpeechError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SpeechError::Unavailable | SpeechError::Engine(_) => ErrorCode::SpeechUnavailable,
            SpeechError::Empty | SpeechError::TooLong => ErrorCode::InputInvalid,
        }
    }
}

/// The text as it goes to the engine: trimmed, not empty, and within `SPEECH_TEXT_CHARS_MAX`.
pub fn spoken_text(text: &str) -> Result<&str, SpeechError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SpeechError::Empty);
    }
    if text.chars().count() > SPEECH_TEXT_CHARS_MAX {
        return Err(SpeechError::TooLong);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_trimmed_and_must_hold_something_within_the_limit() {
        assert_eq!(spoken_text("  Hvordan har du det?\n").ok(), Some("Hvordan har du det?"));
        assert!(matches!(spoken_text(" \n\t"), Err(SpeechError::Empty)));
        let longest = "å".repeat(SPEECH_TEXT_CHARS_MAX);
        assert_eq!(spoken_text(&longest).ok(), Some(longest.as_str()), "the limit counts characters, not bytes");
        assert!(matches!(spoken_text(&format!("{longest}å")), Err(SpeechError::TooLong)));
    }

    #[test]
    fn every_refusal_has_its_code() {
        assert_eq!(SpeechError::Unavailable.code(), "speech.unavailable");
        assert_eq!(SpeechError::Engine("no voice".into()).code(), "speech.unavailable");
        assert_eq!(SpeechError::Empty.code(), "input.invalid");
        assert_eq!(SpeechError::TooLong.code(), "input.invalid");
    }
}
