//! The attempt counter against copies of the files, the wipe against every file that held key
//! material, and the first key file format.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

const NOW: u64 = 1_795_392_000_000;
const PIN: &str = "246810";
const WRONG: &str = "000000";

fn policy() -> UnlockPolicy {
    UnlockPolicy { kdf: KdfCost::FOR_TESTS, max_failures: 5, ..UnlockPolicy::default() }
}

fn set_up() -> (tempfile::TempDir, StorePaths, DataKey) {
    let dir = tempfile::tempdir().unwrap();
    let paths = StorePaths::new(dir.path());
    let key = create_key(&paths, PIN, &policy()).unwrap();
    (dir, paths, key)
}

/// One try at `now`, then a minute later, so no try is refused as too soon.
fn try_pin(paths: &StorePaths, pin: &str, now: &mut u64) -> Result<DataKey, KeyError> {
    let result = unlock(paths, pin, *now, &policy());
    *now += 60 * 60 * 1_000;
    result
}

fn same_key(a: &DataKey, b: &DataKey) -> bool {
    a.sqlcipher_pragma_value() == b.sqlcipher_pragma_value()
}

#[test]
fn an_old_key_file_put_back_keeps_the_count() {
    let (_dir, paths, _) = set_up();
    let copy = fs::read(paths.key_file()).unwrap();
    let mut now = NOW;
    for _ in 0..3 {
        assert!(matches!(try_pin(&paths, WRONG, &mut now), Err(KeyError::WrongPin { .. })));
    }
    fs::write(paths.key_file(), &copy).unwrap();
    let wrong = try_pin(&paths, WRONG, &mut now).unwrap_err();
    assert!(matches!(wrong, KeyError::WrongPin { attempts_left: 1, .. }), "{wrong:?}");
    fs::write(paths.key_file(), &copy).unwrap();
    assert!(matches!(try_pin(&paths, WRONG, &mut now), Err(KeyError::Wiped)));
}

#[test]
fn an_old_counter_put_back_keeps_the_count() {
    let (_dir, paths, _) = set_up();
    let copy = fs::read(paths.counter_file()).unwrap();
    let mut now = NOW;
    for _ in 0..3 {
        assert!(matches!(try_pin(&paths, WRONG, &mut now), Err(KeyError::WrongPin { .. })));
    }
    fs::write(paths.counter_file(), &copy).unwrap();
    let wrong = try_pin(&paths, WRONG, &mut now).unwrap_err();
    assert!(matches!(wrong, KeyError::WrongPin { attempts_left: 1, .. }), "{wrong:?}");
}

#[test]
fn a_key_file_from_before_an_unlock_is_refused_without_trying_the_pin_until_the_wipe() {
    let (_dir, paths, key) = set_up();
    let copy = fs::read(paths.key_file()).unwrap();
    let mut now = NOW;
    assert!(same_key(&try_pin(&paths, PIN, &mut now).unwrap(), &key));
    fs::write(paths.key_file(), &copy).unwrap();
    for attempts_left in (1..5).rev() {
        let refused = try_pin(&paths, PIN, &mut now).unwrap_err();
        assert!(matches!(refused, KeyError::RolledBack { attempts_left: a, .. } if a == attempts_left), "{refused:?}");
        assert!(refused.to_string().contains("restored from a copy"), "{refused}");
    }
    assert!(matches!(try_pin(&paths, PIN, &mut now), Err(KeyError::Wiped)));
    assert!(matches!(try_pin(&paths, PIN, &mut now), Err(KeyError::NotSetUp)));
}

#[test]
fn an_old_key_file_with_its_epoch_edited_opens_with_no_pin() {
    let (_dir, paths, _) = set_up();
    let copy = fs::read(paths.key_file()).unwrap();
    let mut now = NOW;
    try_pin(&paths, PIN, &mut now).unwrap();
    let epoch = read_counter(&paths).unwrap().unwrap().epoch;
    let mut old: serde_json::Value = serde_json::from_slice(&copy).unwrap();
    old["epoch"] = epoch.into();
    fs::write(paths.key_file(), serde_json::to_vec(&old).unwrap()).unwrap();
    let refused = try_pin(&paths, PIN, &mut now).unwrap_err();
    assert!(matches!(refused, KeyError::WrongPin { attempts_left: 4, .. }), "{refused:?}");
}

#[test]
fn the_key_file_of_the_old_pin_put_back_is_refused() {
    let (_dir, paths, _) = set_up();
    let copy = fs::read(paths.key_file()).unwrap();
    change_pin(&paths, PIN, "13579135", NOW, &policy()).unwrap();
    fs::write(paths.key_file(), &copy).unwrap();
    let mut now = NOW + 1_000;
    assert!(matches!(try_pin(&paths, PIN, &mut now), Err(KeyError::RolledBack { .. })));
}

#[test]
fn a_removed_counter_does_not_reset_the_count() {
    let (_dir, paths, _) = set_up();
    let mut now = NOW;
    for _ in 0..3 {
        assert!(matches!(try_pin(&paths, WRONG, &mut now), Err(KeyError::WrongPin { .. })));
    }
    fs::remove_file(paths.counter_file()).unwrap();
    let refused = try_pin(&paths, PIN, &mut now).unwrap_err();
    assert!(matches!(refused, KeyError::RolledBack { attempts_left: 1, .. }), "{refused:?}");
    assert!(matches!(try_pin(&paths, WRONG, &mut now), Err(KeyError::Wiped)));
}

#[test]
fn the_app_dying_between_the_new_key_file_and_the_new_counter_still_unlocks() {
    let (_dir, paths, key) = set_up();
    let counter = fs::read(paths.counter_file()).unwrap();
    let mut now = NOW;
    try_pin(&paths, PIN, &mut now).unwrap();
    // The key file is one epoch ahead, as when the app dies before it writes the counter.
    fs::write(paths.counter_file(), &counter).unwrap();
    assert!(same_key(&try_pin(&paths, PIN, &mut now).unwrap(), &key));
    assert!(same_key(&try_pin(&paths, PIN, &mut now).unwrap(), &key));
}

#[test]
fn the_app_dying_after_the_old_key_file_was_overwritten_still_unlocks() {
    let (_dir, paths, key) = set_up();
    let bytes = fs::read(paths.key_file()).unwrap();
    fs::write(temporary(&paths.key_file()), &bytes).unwrap();
    fs::write(paths.key_file(), vec![0u8; bytes.len()]).unwrap();
    let mut now = NOW;
    assert!(same_key(&try_pin(&paths, PIN, &mut now).unwrap(), &key));
    assert!(!temporary(&paths.key_file()).exists());
}

/// Every file in the directory, read whole.
fn everything_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|path| (path.clone(), fs::read(path).unwrap())).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn wiping_overwrites_every_key_file_ever_written() {
    let (dir, paths, key) = set_up();
    // Hard links keep the files' blocks reachable after their names are gone, as a copy of the
    // raw storage would: every version of the key file, and a temporary one left by a crash.
    let link = |name: &str, from: &Path| fs::hard_link(from, dir.path().join(name)).unwrap();
    let mut secrets = vec![key.sqlcipher_pragma_value().as_bytes().to_vec()];
    let mut remember = |paths: &StorePaths| {
        let file: serde_json::Value = serde_json::from_slice(&fs::read(paths.key_file()).unwrap()).unwrap();
        secrets.push(file["wrapped_key"].as_str().unwrap().as_bytes().to_vec());
    };
    remember(&paths);
    link("generation-1", &paths.key_file());
    change_pin(&paths, PIN, "13579135", NOW, &policy()).unwrap();
    remember(&paths);
    link("generation-2", &paths.key_file());
    fs::copy(paths.key_file(), temporary(&paths.key_file())).unwrap();
    link("left-by-a-crash", &temporary(&paths.key_file()));
    let mut now = NOW + 1_000;
    assert!(try_pin(&paths, "13579135", &mut now).is_ok());
    remember(&paths);
    link("generation-3", &paths.key_file());

    wipe(&paths).unwrap();
    let left = everything_in(dir.path());
    assert_eq!(left.len(), 4, "{left:?}");
    for (path, bytes) in left {
        assert!(!bytes.is_empty() && bytes.iter().all(|b| *b == 0), "{} was not overwritten", path.display());
        for secret in &secrets {
            assert!(!contains(&bytes, secret), "{} holds key material", path.display());
        }
    }
}

#[test]
fn a_key_file_of_the_first_format_keeps_its_count_and_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let paths = StorePaths::new(dir.path());
    let key = DataKey::random().unwrap();
    write_first_format(&paths, &key, 2);
    let mut now = NOW;
    let wrong = try_pin(&paths, WRONG, &mut now).unwrap_err();
    assert!(matches!(wrong, KeyError::WrongPin { attempts_left: 2, .. }), "{wrong:?}");
    let first_format = fs::read(paths.key_file()).unwrap();
    assert!(same_key(&try_pin(&paths, PIN, &mut now).unwrap(), &key));
    let file = read_key_file(&paths).unwrap();
    assert_eq!((file.format, file.attempts.failed_attempts), (KEY_FILE_FORMAT, 0));
    assert_eq!(read_counter(&paths).unwrap().unwrap().epoch, file.attempts.epoch);
    // The old file put back is as old as any other copy.
    fs::write(paths.key_file(), first_format).unwrap();
    assert!(matches!(try_pin(&paths, PIN, &mut now), Err(KeyError::RolledBack { .. })));
}

/// A key file exactly as the first format wrote it: no epoch, no counter beside it.
fn write_first_format(paths: &StorePaths, key: &DataKey, failed_attempts: u32) {
    let salt = [7u8; SALT_LEN];
    let nonce = [9u8; NONCE_LEN];
    let kek = derive(PIN, &salt, KdfCost::FOR_TESTS).unwrap();
    let wrapped =
        cipher(&kek).encrypt(&XNonce::from(nonce), Payload { msg: key.0.as_ref(), aad: WRAP_AAD_FORMAT_1 }).unwrap();
    let file = serde_json::json!({
        "format": 1,
        "kdf": KdfCost::FOR_TESTS,
        "salt": hex::encode(salt),
        "nonce": hex::encode(nonce),
        "wrapped_key": hex::encode(wrapped),
        "failed_attempts": failed_attempts,
        "not_before_ms": 0,
    });
    fs::write(paths.key_file(), serde_json::to_vec(&file).unwrap()).unwrap();
}

#[test]
fn checking_a_pin_without_unlocking_counts_and_writes_nothing() {
    let (_dir, paths, _) = set_up();
    let (key_file, counter) = (fs::read(paths.key_file()).unwrap(), fs::read(paths.counter_file()).unwrap());
    for _ in 0..20 {
        assert!(!pin_opens(&paths, WRONG).unwrap());
    }
    assert!(pin_opens(&paths, PIN).unwrap());
    assert_eq!(fs::read(paths.key_file()).unwrap(), key_file, "the key file is untouched");
    assert_eq!(fs::read(paths.counter_file()).unwrap(), counter, "the counter is untouched");
    assert_eq!(attempts_left(&paths, &policy()).unwrap(), policy().max_failures);
    let mut now = NOW;
    assert!(try_pin(&paths, WRONG, &mut now).is_err());
    assert_eq!(attempts_left(&paths, &policy()).unwrap(), policy().max_failures - 1, "the unlock counts");
}
