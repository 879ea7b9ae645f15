//! The data key and the key file. The database is encrypted (SQLCipher) with a random 256-bit
//! data key; on disk that key exists only wrapped (XChaCha20-Poly1305) under a key derived from
//! the worker's PIN or passphrase with Argon2id. Changing the PIN re-wraps the data key and
//! leaves the database as it is. Wrong PINs are counted in the key file before each attempt, so
//! killing the app mid-attempt does not reset the count; after `max_failures` the store is wiped.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Length of the data key and of the key derived from the PIN: 256 bits.
const KEY_LEN: usize = 32;
/// Salt for Argon2id: 128 bits, the recommended minimum for password hashing.
const SALT_LEN: usize = 16;
/// XChaCha20 nonces are 192 bits, so random nonces never repeat in practice.
const NONCE_LEN: usize = 24;
/// Binds the wrapped key to its purpose and format.
const WRAP_AAD: &[u8] = b"fit-field device data key, key file format 1";
const KEY_FILE_FORMAT: u32 = 1;
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
        Zeroizing::new(format!("x'{}'", hex::encode(self.0.as_ref())))
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
    #[error("the key file is damaged: {0}")]
    Damaged(String),
    #[error("key file: {0}")]
    Io(#[from] io::Error),
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    kdf: KdfCost,
    salt: String,
    nonce: String,
    wrapped_key: String,
    failed_attempts: u32,
    not_before_ms: u64,
}

/// The files of one local store: the database, its WAL and shared-memory files, and the key file.
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

    fn all(&self) -> [PathBuf; 4] {
        let db = self.database();
        let with_suffix = |suffix: &str| {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [self.key_file(), with_suffix("-wal"), with_suffix("-shm"), db]
    }

    pub fn is_set_up(&self) -> bool {
        self.key_file().exists()
    }
}

/// Creates the key file for a new store and returns the new data key.
pub fn create_key(paths: &StorePaths, pin: &str, policy: &UnlockPolicy) -> Result<DataKey, KeyError> {
    if paths.is_set_up() {
        return Err(KeyError::AlreadySetUp);
    }
    check_pin(pin)?;
    fs::create_dir_all(&paths.dir)?;
    let key = DataKey::random()?;
    let file = wrap(&key, pin, policy.kdf)?;
    write_key_file(paths, &file)?;
    Ok(key)
}

/// Unwraps the data key with the PIN, counting a wrong PIN and wiping the store after too many.
pub fn unlock(paths: &StorePaths, pin: &str, now_ms: u64, policy: &UnlockPolicy) -> Result<DataKey, KeyError> {
    let mut file = read_key_file(paths)?;
    if now_ms < file.not_before_ms {
        return Err(KeyError::TooSoon { retry_after_ms: file.not_before_ms - now_ms });
    }
    // Count the attempt before trying it, so killing the app cannot skip the count.
    let failures = file.failed_attempts.saturating_add(1);
    file.failed_attempts = failures;
    write_key_file(paths, &file)?;

    match unwrap(&file, pin) {
        Ok(key) => {
            file.failed_attempts = 0;
            file.not_before_ms = 0;
            write_key_file(paths, &file)?;
            Ok(key)
        }
        Err(KeyError::WrongPin { .. }) => {
            if failures >= policy.max_failures {
                wipe(paths)?;
                return Err(KeyError::Wiped);
            }
            let retry_after_ms = policy.delay_ms(failures);
            file.not_before_ms = now_ms.saturating_add(retry_after_ms);
            write_key_file(paths, &file)?;
            Err(KeyError::WrongPin { attempts_left: policy.max_failures - failures, retry_after_ms })
        }
        Err(other) => Err(other),
    }
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
    let key = unlock(paths, old_pin, now_ms, policy)?;
    write_key_file(paths, &wrap(&key, new_pin, policy.kdf)?)?;
    Ok(key)
}

/// Erases the local store: the key file is overwritten before it is removed, so the data key
/// is gone and the encrypted database cannot be read even if its blocks survive on flash.
pub fn wipe(paths: &StorePaths) -> io::Result<()> {
    let key_file = paths.key_file();
    if let Ok(len) = fs::metadata(&key_file).map(|m| m.len()) {
        let mut file = fs::OpenOptions::new().write(true).open(&key_file)?;
        file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])?;
        file.sync_all()?;
    }
    for path in paths.all() {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    sync_dir(&paths.dir)
}

fn check_pin(pin: &str) -> Result<(), KeyError> {
    if pin.chars().count() < PIN_LEN_MIN { Err(KeyError::PinTooShort) } else { Ok(()) }
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

fn wrap(key: &DataKey, pin: &str, cost: KdfCost) -> Result<KeyFile, KeyError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(io::Error::other)?;
    getrandom::fill(&mut nonce).map_err(io::Error::other)?;
    let kek = derive(pin, &salt, cost)?;
    let cipher = XChaCha20Poly1305::new(&Key::from(*kek));
    let wrapped = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: key.0.as_ref(), aad: WRAP_AAD })
        .map_err(|_| KeyError::Damaged("could not wrap the data key".into()))?;
    Ok(KeyFile {
        format: KEY_FILE_FORMAT,
        kdf: cost,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        wrapped_key: hex::encode(wrapped),
        failed_attempts: 0,
        not_before_ms: 0,
    })
}

fn unwrap(file: &KeyFile, pin: &str) -> Result<DataKey, KeyError> {
    let decode =
        |name: &str, text: &str| hex::decode(text).map_err(|_| KeyError::Damaged(format!("{name} is not hex")));
    let salt = decode("salt", &file.salt)?;
    let nonce: [u8; NONCE_LEN] =
        decode("nonce", &file.nonce)?.try_into().map_err(|_| KeyError::Damaged("nonce length".into()))?;
    let wrapped = decode("wrapped_key", &file.wrapped_key)?;
    let kek = derive(pin, &salt, file.kdf)?;
    let cipher = XChaCha20Poly1305::new(&Key::from(*kek));
    // The AEAD tag fails for a wrong PIN: no separate PIN hash is kept that could be attacked.
    let mut plain = cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: &wrapped, aad: WRAP_AAD })
        .map_err(|_| KeyError::WrongPin { attempts_left: 0, retry_after_ms: 0 })?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if plain.len() != KEY_LEN {
        plain.zeroize();
        return Err(KeyError::Damaged("data key length".into()));
    }
    key.copy_from_slice(&plain);
    plain.zeroize();
    Ok(DataKey(key))
}

fn read_key_file(paths: &StorePaths) -> Result<KeyFile, KeyError> {
    let bytes = match fs::read(paths.key_file()) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyError::NotSetUp),
        Err(e) => return Err(e.into()),
    };
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| KeyError::Damaged(e.to_string()))?;
    if file.format != KEY_FILE_FORMAT {
        return Err(KeyError::Damaged(format!("unknown key file format {}", file.format)));
    }
    Ok(file)
}

/// Writes the key file atomically: a temporary file, synced, renamed over the old one.
fn write_key_file(paths: &StorePaths, file: &KeyFile) -> Result<(), KeyError> {
    let target = paths.key_file();
    let temporary = target.with_extension("key.tmp");
    let bytes = serde_json::to_vec(file).map_err(|e| KeyError::Damaged(e.to_string()))?;
    {
        let mut out = fs::File::create(&temporary)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
    }
    fs::rename(&temporary, &target)?;
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
