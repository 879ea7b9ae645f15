//! The data key and the key file. The database is encrypted (SQLCipher) with a random 256-bit
//! data key; on disk that key exists only wrapped (XChaCha20-Poly1305) under a key derived from
//! the worker's PIN or passphrase with Argon2id. Changing the PIN re-wraps the data key and
//! leaves the database as it is.
//!
//! Wrong PINs are counted before each attempt, so killing the app mid-attempt does not reset the
//! count; after `max_failures` the store is wiped. The count lives in two files, the key file and
//! the attempt counter beside it, and the larger count is believed, so putting back an old copy of
//! either file does not give the worker's PIN fresh guesses. The counter also holds the *epoch*:
//! a number that grows with every successful unlock and PIN change and is sealed into the wrapped
//! key's associated data, so a key file older than the counter is recognised without trying the
//! PIN, and a key file whose epoch was edited to match no longer opens with any PIN.
//! Someone holding copies of *all* the files can still guess offline at Argon2id's cost; see
//! ARCHITECTURE.md ("Security at rest").

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Length of the data key and of the key derived from the PIN: 256 bits.
const KEY_LEN: usize = 32;
/// Salt for Argon2id: 128 bits, the recommended minimum for password hashing.
const SALT_LEN: usize = 16;
/// XChaCha20 nonces are 192 bits, so random nonces never repeat in practice.
const NONCE_LEN: usize = 24;
/// Binds the wrapped key to its purpose and format (the first format, read for its migration).
const WRAP_AAD_FORMAT_1: &[u8] = b"fit-field device data key, key file format 1";
/// Binds the wrapped key to its purpose, format and epoch (the epoch's 8 bytes follow).
const WRAP_AAD_FORMAT_2: &[u8] = b"fit-field device data key, key file format 2, epoch ";
const KEY_FILE_FORMAT: u32 = 2;
const COUNTER_FORMAT: u32 = 1;
/// Six characters at least: a four-digit PIN falls to an offline guess in minutes.
pub const PIN_LEN_MIN: usize = 6;

/// The data key, held in memory only while the store is unlocked, and zeroed when dropped.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    fn random() -> io::Result<DataKey> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(io::Error::other)?;
        Ok(DataKey(key))
    }

    /// The key in SQLCipher's raw-key form `x'…'`, so SQLCipher uses it as is and does not
    /// derive another key from it.
    pub(crate) fn sqlcipher_pragma_value(&self) -> Zeroizing<String> {
        // Pushed into a buffer of the final size, so no copy of the key is left unzeroized.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut value = Zeroizing::new(String::with_capacity(3 + 2 * KEY_LEN));
        value.push_str("x'");
        for byte in self.0.iter() {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        value.push('\'');
        value
    }
}

/// Argon2id costs. Stored in the key file, so a device keeps unlocking when defaults change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfCost {
    /// 64 MiB and 3 passes: about half a second on a mid-range tablet, once per unlock.
    pub const DEFAULT: KdfCost = KdfCost { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };
    /// The cheapest Argon2 allows; for tests only, where hundreds of unlocks run.
    pub const FOR_TESTS: KdfCost = KdfCost { memory_kib: 8, iterations: 1, parallelism: 1 };
}

/// How unlocking behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlockPolicy {
    pub kdf: KdfCost,
    /// Wrong PINs in a row before the local store is wiped.
    pub max_failures: u32,
    /// The wait after the first wrong PIN; it doubles with every further one.
    pub delay_base_ms: u64,
    pub delay_max_ms: u64,
}

impl Default for UnlockPolicy {
    fn default() -> UnlockPolicy {
        UnlockPolicy { kdf: KdfCost::DEFAULT, max_failures: 10, delay_base_ms: 1_000, delay_max_ms: 15 * 60 * 1_000 }
    }
}

impl UnlockPolicy {
    /// The wait after the `failures`-th wrong PIN in a row: 1 s, 2 s, 4 s, … up to the maximum.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(40);
        self.delay_base_ms.saturating_mul(1u64 << doublings).min(self.delay_max_ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("this device has no local store yet")]
    NotSetUp,
    #[error("a local store already exists on this device")]
    AlreadySetUp,
    #[error("the PIN must have at least {PIN_LEN_MIN} characters")]
    PinTooShort,
    #[error(
        "wrong PIN; {attempts_left} attempts left before the local data is erased; try again in {retry_after_ms} ms"
    )]
    WrongPin { attempts_left: u32, retry_after_ms: u64 },
    #[error("too many wrong PINs; try again in {retry_after_ms} ms")]
    TooSoon { retry_after_ms: u64 },
    #[error("too many wrong PINs: the local data on this device has been erased")]
    Wiped,
    /// The key file and the attempt counter do not belong together: one of them was put back
    /// from an older copy. No PIN is tried; the attempt counts as a wrong one.
    #[error(
        "the key file is older than this device's PIN attempt counter (a file was restored from a copy); \
         no PIN is tried; {attempts_left} attempts left before the local data is erased; try again in {retry_after_ms} ms"
    )]
    RolledBack { attempts_left: u32, retry_after_ms: u64 },
    #[error("the key file is damaged: {0}")]
    Damaged(String),
    #[error("key file: {0}")]
    Io(#[from] io::Error),
}

/// Where the wrong PINs stand: both files hold a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
struct Attempts {
    /// Grows with every successful unlock and PIN change; the key file's is sealed into its wrap.
    /// The first key file format had none (0).
    #[serde(default)]
    epoch: u64,
    failed_attempts: u32,
    not_before_ms: u64,
}

impl Attempts {
    /// The stricter of two copies: a restored copy never lowers the count or the wait.
    fn stricter(self, other: Attempts) -> Attempts {
        Attempts {
            epoch: self.epoch,
            failed_attempts: self.failed_attempts.max(other.failed_attempts),
            not_before_ms: self.not_before_ms.max(other.not_before_ms),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    kdf: KdfCost,
    salt: String,
    nonce: String,
    wrapped_key: String,
    #[serde(flatten)]
    attempts: Attempts,
}

#[derive(Serialize, Deserialize)]
struct CounterFile {
    format: u32,
    #[serde(flatten)]
    attempts: Attempts,
}

/// The files of one local store: the database, its WAL and shared-memory files, the key file,
/// the attempt counter, and the temporary files they are written through.
#[derive(Debug, Clone)]
pub struct StorePaths {
    pub dir: PathBuf,
}

impl StorePaths {
    pub fn new(dir: impl Into<PathBuf>) -> StorePaths {
        StorePaths { dir: dir.into() }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.join("fit-field.db")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join("fit-field.key")
    }

    /// The count of wrong PINs and the epoch; no key material.
    pub fn counter_file(&self) -> PathBuf {
        self.dir.join("fit-field.attempts")
    }

    /// Every file that has ever held key material: the key file and the file it is written
    /// through (left behind if the app died while writing it).
    fn key_material(&self) -> [PathBuf; 2] {
        let key = self.key_file();
        [temporary(&key), key]
    }

    fn all(&self) -> [PathBuf; 7] {
        let db = self.database();
        let [key_temporary, key] = self.key_material();
        let counter = self.counter_file();
        [key_temporary, key, temporary(&counter), counter, with_suffix(&db, "-wal"), with_suffix(&db, "-shm"), db]
    }

    pub fn is_set_up(&self) -> bool {
        self.key_file().exists()
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn temporary(path: &Path) -> PathBuf {
    with_suffix(path, ".tmp")
}

/// Creates the key file and the attempt counter for a new store and returns the new data key.
pub fn create_key(paths: &StorePaths, pin: &str, policy: &UnlockPolicy) -> Result<DataKey, KeyError> {
    if paths.is_set_up() {
        return Err(KeyError::AlreadySetUp);
    }
    check_pin(pin)?;
    fs::create_dir_all(&paths.dir)?;
    let key = DataKey::random()?;
    let file = wrap(&key, pin, policy.kdf, 1)?;
    // The counter first: a key file never exists without its counter.
    write_counter(paths, file.attempts)?;
    write_key_file(paths, &file)?;
    Ok(key)
}

/// Unwraps the data key with the PIN, counting a wrong PIN and wiping the store after too many.
pub fn unlock(paths: &StorePaths, pin: &str, now_ms: u64, policy: &UnlockPolicy) -> Result<DataKey, KeyError> {
    let (key, opened) = open_key(paths, pin, now_ms, policy)?;
    // A new epoch at every unlock, so a copy of the key file taken before it is recognised.
    let fresh = seal(&key, &opened.kek, opened.kdf, &opened.salt, opened.epoch.saturating_add(1))?;
    commit(paths, &fresh)?;
    Ok(key)
}

/// Whether `pin` opens the key file, without counting the try or writing anything. Only for a
/// device that is unlocked already, whose caller bounds the tries itself: leaving citizen mode
/// allows a few and then locks the app, so a citizen's guesses never count towards the wipe,
/// and every try after the lock is counted by `unlock`.
pub fn pin_opens(paths: &StorePaths, pin: &str) -> Result<bool, KeyError> {
    let file = read_key_file(paths)?;
    match unwrap(&file, pin) {
        Ok(_) => Ok(true),
        Err(KeyError::WrongPin { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// How many wrong PINs at the unlock screen are left before the local store is wiped.
pub fn attempts_left(paths: &StorePaths, policy: &UnlockPolicy) -> Result<u32, KeyError> {
    let file = read_key_file(paths)?;
    let (counter, _) = reconcile(&file, read_counter(paths)?);
    Ok(policy.max_failures.saturating_sub(counter.failed_attempts))
}

/// Re-wraps the data key under a new PIN. The database is not touched.
pub fn change_pin(
    paths: &StorePaths,
    old_pin: &str,
    new_pin: &str,
    now_ms: u64,
    policy: &UnlockPolicy,
) -> Result<DataKey, KeyError> {
    check_pin(new_pin)?;
    let (key, opened) = open_key(paths, old_pin, now_ms, policy)?;
    // A new epoch, so the key file of the old PIN, put back, is recognised as old.
    let fresh = wrap(&key, new_pin, policy.kdf, opened.epoch.saturating_add(1))?;
    commit(paths, &fresh)?;
    Ok(key)
}

/// Erases the local store. Every file that has held the data key, wrapped, is overwritten
/// before it is removed (earlier versions of the key file were overwritten when they were
/// replaced), so the data key is gone and the encrypted database cannot be read even if its
/// blocks survive.
pub fn wipe(paths: &StorePaths) -> io::Result<()> {
    for path in paths.key_material() {
        overwrite(&path)?;
    }
    for path in paths.all() {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    sync_dir(&paths.dir)
}

/// Overwrites a file's bytes with zeros in place and syncs them, if the file exists.
fn overwrite(path: &Path) -> io::Result<()> {
    let len = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])?;
    file.sync_all()
}

fn check_pin(pin: &str) -> Result<(), KeyError> {
    if pin.chars().count() < PIN_LEN_MIN { Err(KeyError::PinTooShort) } else { Ok(()) }
}

/// A key file whose wrap was opened: the key derived from the PIN is kept (zeroed when dropped)
/// so the data key can be sealed again under a new epoch without running Argon2id twice.
struct Opened {
    kdf: KdfCost,
    salt: Vec<u8>,
    kek: Zeroizing<[u8; KEY_LEN]>,
    epoch: u64,
}

/// Counts the attempt, then tries the PIN. On success the count is not reset yet: the caller
/// writes the new wrap and counter, which reset it.
fn open_key(paths: &StorePaths, pin: &str, now_ms: u64, policy: &UnlockPolicy) -> Result<(DataKey, Opened), KeyError> {
    let mut file = read_key_file(paths)?;
    let (mut counter, consistent) = reconcile(&file, read_counter(paths)?);
    if now_ms < counter.not_before_ms {
        return Err(KeyError::TooSoon { retry_after_ms: counter.not_before_ms - now_ms });
    }
    // Count the attempt before trying it, so killing the app cannot skip the count.
    counter.failed_attempts = counter.failed_attempts.saturating_add(1);
    record(paths, &mut file, counter)?;
    if !consistent {
        let (attempts_left, retry_after_ms) = refuse(paths, &mut file, counter, now_ms, policy)?;
        return Err(KeyError::RolledBack { attempts_left, retry_after_ms });
    }
    match unwrap(&file, pin) {
        Ok((key, kek)) => {
            let salt = decode("salt", &file.salt)?;
            Ok((key, Opened { kdf: file.kdf, salt, kek, epoch: file.attempts.epoch }))
        }
        Err(KeyError::WrongPin { .. }) => {
            let (attempts_left, retry_after_ms) = refuse(paths, &mut file, counter, now_ms, policy)?;
            Err(KeyError::WrongPin { attempts_left, retry_after_ms })
        }
        Err(other) => Err(other),
    }
}

/// After a refused attempt: wipes at the limit, else sets the wait. Returns the attempts left
/// and the wait.
fn refuse(
    paths: &StorePaths,
    file: &mut KeyFile,
    mut counter: Attempts,
    now_ms: u64,
    policy: &UnlockPolicy,
) -> Result<(u32, u64), KeyError> {
    let failures = counter.failed_attempts;
    if failures >= policy.max_failures {
        wipe(paths)?;
        return Err(KeyError::Wiped);
    }
    let retry_after_ms = policy.delay_ms(failures);
    counter.not_before_ms = now_ms.saturating_add(retry_after_ms);
    record(paths, file, counter)?;
    Ok((policy.max_failures - failures, retry_after_ms))
}

/// The attempts to believe, from the key file's copy and the counter's, and whether the two
/// files belong together. The key file's epoch may be one ahead of the counter's: the app died
/// between writing the new key file and the new counter. Anything else means one file was put
/// back from an older copy (or the counter was removed); then the counter's epoch is kept, so
/// the mismatch lasts until the store is wiped.
fn reconcile(file: &KeyFile, counter: Option<Attempts>) -> (Attempts, bool) {
    match counter {
        // A key file of the first format predates the counter: its own count is the count.
        None if file.format == 1 => (file.attempts, true),
        None => (file.attempts, false),
        Some(counter) => {
            let consistent = file.attempts.epoch == counter.epoch || file.attempts.epoch == counter.epoch + 1;
            let base = if consistent { file.attempts } else { counter };
            (base.stricter(file.attempts).stricter(counter), consistent)
        }
    }
}

/// Writes the count to the counter and to the key file's copy. The key file keeps its own
/// epoch: it is sealed into the wrap and only a successful unlock changes it.
fn record(paths: &StorePaths, file: &mut KeyFile, counter: Attempts) -> Result<(), KeyError> {
    write_counter(paths, counter)?;
    file.attempts = Attempts { epoch: file.attempts.epoch, ..counter };
    write_key_file(paths, file)
}

/// Writes a new wrap and then its counter. If the app dies in between, the key file is one
/// epoch ahead, which `reconcile` accepts.
fn commit(paths: &StorePaths, file: &KeyFile) -> Result<(), KeyError> {
    write_key_file(paths, file)?;
    write_counter(paths, file.attempts)
}

fn derive(pin: &str, salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(KEY_LEN))
        .map_err(|e| KeyError::Damaged(format!("Argon2 parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pin.as_bytes(), salt, out.as_mut())
        .map_err(|e| KeyError::Damaged(format!("Argon2: {e}")))?;
    Ok(out)
}

/// What the wrap is bound to: its purpose, its format and, from format 2, its epoch.
fn associated_data(format: u32, epoch: u64) -> Vec<u8> {
    if format == 1 {
        return WRAP_AAD_FORMAT_1.to_vec();
    }
    let mut aad = WRAP_AAD_FORMAT_2.to_vec();
    aad.extend_from_slice(&epoch.to_le_bytes());
    aad
}

fn cipher(kek: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    // From the slice, not through a copied `Key`, so the only copy is inside the cipher, which
    // zeroes it when dropped.
    XChaCha20Poly1305::new(kek.into())
}

/// Wraps the data key under a new salt and the PIN, for `epoch`.
fn wrap(key: &DataKey, pin: &str, cost: KdfCost, epoch: u64) -> Result<KeyFile, KeyError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(io::Error::other)?;
    let kek = derive(pin, &salt, cost)?;
    seal(key, &kek, cost, &salt, epoch)
}

/// Seals the data key under `kek` with a fresh nonce, bound to `epoch`, with no wrong PINs.
fn seal(key: &DataKey, kek: &[u8; KEY_LEN], cost: KdfCost, salt: &[u8], epoch: u64) -> Result<KeyFile, KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(io::Error::other)?;
    let aad = associated_data(KEY_FILE_FORMAT, epoch);
    let wrapped = cipher(kek)
        .encrypt(&XNonce::from(nonce), Payload { msg: key.0.as_ref(), aad: &aad })
        .map_err(|_| KeyError::Damaged("could not wrap the data key".into()))?;
    Ok(KeyFile {
        format: KEY_FILE_FORMAT,
        kdf: cost,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        wrapped_key: hex::encode(wrapped),
        attempts: Attempts { epoch, failed_attempts: 0, not_before_ms: 0 },
    })
}

fn decode(name: &str, text: &str) -> Result<Vec<u8>, KeyError> {
    hex::decode(text).map_err(|_| KeyError::Damaged(format!("{name} is not hex")))
}

/// Opens the wrap with the PIN; returns the data key and the key derived from the PIN.
fn unwrap(file: &KeyFile, pin: &str) -> Result<(DataKey, Zeroizing<[u8; KEY_LEN]>), KeyError> {
    let salt = decode("salt", &file.salt)?;
    let nonce: [u8; NONCE_LEN] =
        decode("nonce", &file.nonce)?.try_into().map_err(|_| KeyError::Damaged("nonce length".into()))?;
    let wrapped = decode("wrapped_key", &file.wrapped_key)?;
    let kek = derive(pin, &salt, file.kdf)?;
    let aad = associated_data(file.format, file.attempts.epoch);
    // The AEAD tag fails for a wrong PIN and for an edited epoch: no separate PIN hash is kept
    // that could be attacked.
    let plain = Zeroizing::new(
        cipher(&kek)
            .decrypt(&XNonce::from(nonce), Payload { msg: &wrapped, aad: &aad })
            .map_err(|_| KeyError::WrongPin { attempts_left: 0, retry_after_ms: 0 })?,
    );
    if plain.len() != KEY_LEN {
        return Err(KeyError::Damaged("data key length".into()));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&plain);
    Ok((DataKey(key), kek))
}

fn read_key_file(paths: &StorePaths) -> Result<KeyFile, KeyError> {
    let target = paths.key_file();
    match read_json::<KeyFile>(&target) {
        Ok(Some(file)) => check_format(file),
        Ok(None) => Err(KeyError::NotSetUp),
        Err(error) => {
            // The app died after the old key file was overwritten and before the new one took
            // its name (`replace_file`): the new one is complete under its temporary name.
            let Ok(Some(file)) = read_json::<KeyFile>(&temporary(&target)) else { return Err(error) };
            fs::rename(temporary(&target), &target)?;
            sync_dir(&paths.dir)?;
            check_format(file)
        }
    }
}

fn check_format(file: KeyFile) -> Result<KeyFile, KeyError> {
    match file.format {
        1 | KEY_FILE_FORMAT => Ok(file),
        other => Err(KeyError::Damaged(format!("unknown key file format {other}"))),
    }
}

fn read_counter(paths: &StorePaths) -> Result<Option<Attempts>, KeyError> {
    let Some(counter) = read_json::<CounterFile>(&paths.counter_file())? else { return Ok(None) };
    if counter.format != COUNTER_FORMAT {
        return Err(KeyError::Damaged(format!("unknown attempt counter format {}", counter.format)));
    }
    Ok(Some(counter.attempts))
}

/// The file parsed, `None` if there is none.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, KeyError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| KeyError::Damaged(e.to_string()))
}

fn write_key_file(paths: &StorePaths, file: &KeyFile) -> Result<(), KeyError> {
    let bytes = Zeroizing::new(serde_json::to_vec(file).map_err(|e| KeyError::Damaged(e.to_string()))?);
    replace_file(paths, &paths.key_file(), &bytes, true)
}

fn write_counter(paths: &StorePaths, attempts: Attempts) -> Result<(), KeyError> {
    let counter = CounterFile { format: COUNTER_FORMAT, attempts };
    let bytes = serde_json::to_vec(&counter).map_err(|e| KeyError::Damaged(e.to_string()))?;
    replace_file(paths, &paths.counter_file(), &bytes, false)
}

/// Replaces a file atomically: a temporary file, synced, renamed over the old one. With
/// `scrub`, the old file is overwritten first, so no earlier version of the key file is left
/// in blocks the file system has let go of (as far as the storage itself does not keep them).
fn replace_file(paths: &StorePaths, target: &Path, bytes: &[u8], scrub: bool) -> Result<(), KeyError> {
    let temporary = temporary(target);
    {
        let mut out = fs::File::create(&temporary)?;
        out.write_all(bytes)?;
        out.sync_all()?;
    }
    if scrub {
        overwrite(target)?;
    }
    fs::rename(&temporary, target)?;
    sync_dir(&paths.dir)?;
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // A rename is durable only once the directory is synced (POSIX); elsewhere this is a no-op.
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
