//! The administrator's commands, run as the `fit-server` binary on a SQLite file: enrollment
//! codes (their validity bounds, listing, revocation by id and by code), worker deactivation and
//! reactivation, and the audit log every command leaves, which names ids only.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn fit_server(database: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fit-server"))
        .arg("--database")
        .arg(database)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns its standard output, trimmed.
fn ok(database: &Path, args: &[&str]) -> String {
    let output = fit_server(database, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Runs a command that must fail; returns what it said on standard error.
fn refused(database: &Path, args: &[&str]) -> String {
    let output = fit_server(database, args);
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8(output.stderr).unwrap()
}

/// The id `enrollment-code` prints on standard error.
fn code_with_id(database: &Path, worker: &str) -> (String, String) {
    let output = fit_server(database, &["enrollment-code", worker, "--valid-hours", "2"]);
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let id = stderr.lines().find_map(|l| l.strip_prefix("code id ")).unwrap().trim().to_owned();
    (String::from_utf8(output.stdout).unwrap().trim().to_owned(), id)
}

#[test]
fn codes_and_workers_are_administered_and_every_command_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let team = ok(&db, &["create-team", "Team Nord"]);
    let worker = ok(&db, &["create-worker", &team, "Karen Hansen"]);
    let citizen = ok(&db, &["create-citizen", &team, "--name", "Anna K.", "--case-reference", "SAG-77"]);
    ok(&db, &["assign", &citizen, &worker]);
    assert!(refused(&db, &["revoke", &uuid_like()]).contains("no such device"));

    for hours in ["0", "169"] {
        let said = refused(&db, &["enrollment-code", &worker, "--valid-hours", hours]);
        assert!(said.contains("valid for 1 to 168 hours"), "{said}");
    }
    let (first, first_id) = code_with_id(&db, &worker);
    assert_eq!(first.len(), 20);
    let listed = ok(&db, &["codes"]);
    assert!(listed.contains(&format!("{first_id}\t{worker}")) && listed.ends_with("unused"), "{listed}");
    ok(&db, &["revoke-code", &first_id]);
    let (second, _) = code_with_id(&db, &worker);
    ok(&db, &["revoke-code", &second]);
    let listed = ok(&db, &["codes"]);
    assert_eq!(listed.lines().filter(|l| l.ends_with("\trevoked")).count(), 2, "{listed}");
    assert!(!listed.contains(&first) && !listed.contains(&second), "a code is never shown again");
    assert!(refused(&db, &["revoke-code", "not-a-code"]).contains("no such enrollment code"));

    ok(&db, &["deactivate-worker", &worker]);
    let said = refused(&db, &["enrollment-code", &worker]);
    assert!(said.contains("deactivated"), "{said}");
    assert!(refused(&db, &["deactivate-worker", &uuid_like()]).contains("no such worker"));
    ok(&db, &["reactivate-worker", &worker]);
    let (third, _) = code_with_id(&db, &worker);

    let audit = ok(&db, &["audit"]);
    let actions: Vec<&str> = audit.lines().map(|l| l.split('\t').nth(2).unwrap()).collect();
    assert_eq!(
        actions,
        [
            "create-team",
            "create-worker",
            "create-citizen",
            "assign",
            "enrollment-code",
            "codes",
            "revoke-code",
            "enrollment-code",
            "revoke-code",
            "codes",
            "deactivate-worker",
            "reactivate-worker",
            "enrollment-code",
        ],
        "every command that succeeded, in order:\n{audit}"
    );
    for secret in [&first, &second, &third] {
        assert!(!audit.contains(secret.as_str()), "no code in the audit log:\n{audit}");
    }
    for personal in ["Karen", "Team Nord", "Anna", "SAG-77"] {
        assert!(!audit.contains(personal), "no name or reference in the audit log:\n{audit}");
    }
    assert!(audit.contains(&format!("citizen {citizen} to worker {worker}")), "{audit}");
    assert!(ok(&db, &["audit"]).lines().last().unwrap().ends_with("\t13 rows"), "reading the log is logged too");
}

fn uuid_like() -> String {
    "0190a6e4-0000-7000-8000-000000000000".to_owned()
}

/// `install-pack`: a licensed pack is installed and audited; the same pack again is unchanged;
/// a broken pack is refused with its file and field, non-zero, and leaves no line and no pack.
#[test]
fn install_pack_installs_a_licensed_pack_and_refuses_a_broken_one_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let ors = include_str!("../../../scales/ors.json");
    let licensed = ors.replacen("\"version\": \"short-labels-1\"", "\"version\": \"licensed-2024\"", 1).replacen(
        "\"valueBoolean\": false",
        "\"valueBoolean\": true",
        1,
    );
    assert_ne!(licensed, ors);
    let good = dir.path().join("ors-licensed.json");
    std::fs::write(&good, &licensed).unwrap();
    let said = ok(&db, &["install-pack", good.to_str().unwrap()]);
    assert_eq!(said, "pack ors: replaces version short-labels-1");
    assert_eq!(ok(&db, &["install-pack", good.to_str().unwrap()]), "pack: installed already, unchanged");

    let broken = dir.path().join("ors-broken.json");
    std::fs::write(&broken, licensed.replacen("\"linkId\": \"socially\"", "\"linkId\": 7", 1)).unwrap();
    let said = refused(&db, &["install-pack", broken.to_str().unwrap()]);
    assert!(said.contains(&format!("{}: item[2].linkId: wrong type", broken.display())), "{said}");
    let reused = dir.path().join("ors-reused.json");
    std::fs::write(&reused, licensed.replacen("Individuelt", "Individuelt (ny tekst)", 1)).unwrap();
    let said = refused(&db, &["install-pack", reused.to_str().unwrap()]);
    assert!(
        said.contains(&format!("{}: version: the version \"licensed-2024\" is installed already", reused.display())),
        "{said}"
    );
    let missing = refused(&db, &["install-pack", dir.path().join("none.json").to_str().unwrap()]);
    assert!(missing.contains("cannot read"), "{missing}");

    let audit = ok(&db, &["audit"]);
    let lines: Vec<&str> = audit.lines().map(|l| l.split_once('\t').unwrap().1).collect();
    assert_eq!(
        lines,
        [
            "admin\tinstall-pack\tpack ors: replaces version short-labels-1",
            "admin\tinstall-pack\tpack: installed already, unchanged",
        ],
        "only what succeeded:\n{audit}"
    );
}
