//! A speech-dispatcher of the test's own, so the end-to-end tests hear what the app reads aloud:
//! the machine's configuration (`/etc/speech-dispatcher`) in a temporary directory, with its
//! audio sent to ALSA's null device (CI has no sound card, and no sound server runs) and its log
//! at level 5, which records every text and the settings speech-dispatcher sends to its
//! synthesis module (espeak-ng). The app reaches it through `SPEECHD_ADDRESS`, which must be set
//! for tauri-driver: the app inherits tauri-driver's environment.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Where Debian keeps speech-dispatcher's configuration.
const SYSTEM_CONFIG: &str = "/etc/speech-dispatcher";

/// What the configuration copied from the system gets on top: no sound card is needed, espeak-ng
/// speaks, and the log shows each text and its settings.
const TEST_CONFIG: &str = "
# Added for the tests: ALSA's null device plays into nothing, so the synthesis module runs to
# the end of every text without a sound card.
AudioOutputMethod \"alsa\"
AudioALSADevice \"null\"
DefaultModule espeak-ng
LogLevel 5
";

/// How long speech-dispatcher may take to listen: it loads its modules and dictionaries first.
const START_WAIT: Duration = Duration::from_secs(30);

/// A running speech-dispatcher on a socket of its own.
#[derive(Debug)]
pub struct SpeechDispatcher {
    dir: tempfile::TempDir,
    child: Child,
}

/// One text speech-dispatcher sent its synthesis module, with the settings it sent before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    pub text: String,
    /// The `language` setting sent with it (`en-US`, `da`, ...).
    pub language: String,
    /// The `synthesis_voice` setting sent with it (`NULL` for the module's default; espeak-ng's
    /// voices are named by language: `Danish`, `English (America)`).
    pub voice: String,
    /// True once the module reported that it began to speak the text.
    pub begun: bool,
}

impl SpeechDispatcher {
    pub fn start() -> anyhow::Result<SpeechDispatcher> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config");
        copy_dir(Path::new(SYSTEM_CONFIG), &config)
            .with_context(|| format!("{SYSTEM_CONFIG} is missing: run scripts/install-app-deps.sh"))?;
        let conf = config.join("speechd.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(TEST_CONFIG);
        std::fs::write(&conf, text)?;
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs)?;
        let socket = dir.path().join("speechd.sock");
        let child = Command::new("speech-dispatcher")
            // In the foreground, so the test owns the process; never ending for want of clients.
            .args(["--run-single", "--timeout", "0", "--log-level", "5", "--communication-method", "unix_socket"])
            .arg("--socket-path")
            .arg(&socket)
            .arg("--log-dir")
            .arg(&logs)
            .arg("--config-dir")
            .arg(&config)
            .arg("--pid-file")
            .arg(dir.path().join("speechd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("speech-dispatcher is missing: run scripts/install-app-deps.sh")?;
        let mut speech = SpeechDispatcher { dir, child };
        let deadline = Instant::now() + START_WAIT;
        while !socket.exists() {
            if let Ok(Some(status)) = speech.child.try_wait() {
                bail!("speech-dispatcher ended at start ({status}); its log is in {}", logs.display());
            }
            if Instant::now() > deadline {
                bail!("speech-dispatcher did not listen within {START_WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(speech)
    }

    /// The address for `SPEECHD_ADDRESS`.
    pub fn address(&self) -> String {
        format!("unix_socket:{}", self.dir.path().join("speechd.sock").display())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("logs").join("speech-dispatcher.log")
    }

    /// Every text sent to the synthesis module so far, in order.
    pub fn spoken(&self) -> anyhow::Result<Vec<Spoken>> {
        // The log is not all UTF-8 (it echoes raw client input), so it is read lossily.
        let log = String::from_utf8_lossy(&std::fs::read(self.log_path())?).into_owned();
        Ok(read_log(&log))
    }

    /// Waits until the synthesis module has begun to speak a text containing `part`.
    pub async fn wait_spoken(&self, part: &str, wait: Duration) -> anyhow::Result<Spoken> {
        let deadline = Instant::now() + wait;
        loop {
            let spoken = self.spoken()?;
            if let Some(found) = spoken.iter().find(|s| s.begun && s.text.contains(part)) {
                return Ok(found.clone());
            }
            if Instant::now() > deadline {
                bail!("speech-dispatcher did not speak {part:?} within {wait:?}; it spoke {spoken:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SpeechDispatcher {
    fn drop(&mut self) {
        crate::app::terminate(&mut self.child);
    }
}

/// Reads the texts out of speech-dispatcher's level-5 log: each settings block sent to the
/// module (lines `language=…`, `synthesis_voice=…`), then the text as
/// `Command sent to output module: |<speak>…</speak>|`, then the module's `701 BEGIN`.
/// speech-dispatcher keeps its `language` setting when a client chooses a voice by name (as the
/// `tts` crate does), so the voice says which language the module speaks.
fn read_log(log: &str) -> Vec<Spoken> {
    const SENT: &str = "Command sent to output module: |<speak>";
    let (mut language, mut voice) = (String::new(), String::new());
    let mut spoken: Vec<Spoken> = Vec::new();
    for line in log.lines() {
        if let Some(value) = line.strip_prefix("language=") {
            language = value.to_owned();
        } else if let Some(value) = line.strip_prefix("synthesis_voice=") {
            voice = value.to_owned();
        } else if let Some(start) = line.find(SENT) {
            let rest = &line[start + SENT.len()..];
            let text = without_marks(rest.split("</speak>").next().unwrap_or(rest));
            spoken.push(Spoken { text, language: language.clone(), voice: voice.clone(), begun: false });
        } else if line.contains("701 BEGIN")
            && let Some(last) = spoken.last_mut()
        {
            last.begun = true;
        }
    }
    spoken
}

/// The text without the index marks speech-dispatcher puts between its sentences
/// (`<mark name="__spd_0"/>`).
fn without_marks(text: &str) -> String {
    let mut plain = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<mark ") {
        plain.push_str(&rest[..start]);
        rest = rest[start..].split_once("/>").map_or("", |(_, after)| after);
    }
    plain.push_str(rest);
    plain
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
