//! The TypeScript side of the app's boundary, made from the Rust side: the types the commands
//! take and answer with, the command names and the error codes. `ui/src/api/bindings.ts` is what
//! this makes; a test fails when the file drifts from the Rust types
//! (`FIT_BLESS=1 cargo test -p fit-app --lib bindings` writes it anew).

use fit_core::ids::{CitizenId, GoalId, GroupId, NoteId, ResponseId, VisitId, WorkerId};
use fit_core::interpret::{Alert, AlertCode, Measure, OutcomeChange, OutcomeSummary, Severity, TrajectoryPoint};
use fit_core::response::{
    Answer, CorrectionReason, MarkedBy, NotGivenReason, RawAnswer, ResponseContent, ResponseInput, Total,
};
use fit_core::scale::{
    AnswerKind, AnswerOption, Coding, ExpectedBand, ExpectedTrajectory, Item, ItemId, Population, ScaleKind,
};
use fit_core::{AgeBand, Lang, Scale, ScaleCode, Text, Trajectory};
use fit_device::app::{AppStatus, CitizenAnswer, CitizenMode, SyncView};
use fit_device::settings::{AppSettings, NightlyWindow};
use fit_device::sync::{SyncProgress, SyncStatus};
use fit_device::{
    AppError, CaseloadLine, CitizenPage, CitizenRow, Correction, ErrorCode, GoalRow, GoalStatus, GroupMember,
    GroupPage, NoteRow, PlannedScale, ResponseRow, ResponseStatus, SyncCounters, Trend, VisitProgress, VisitRow,
};
use ts_rs::{Config, TS};

use crate::COMMANDS;

const BINDINGS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/api/bindings.ts");

fn decl<T: TS>(cfg: &Config) -> String {
    format!("export {}", T::decl(cfg))
}

/// Every type of the boundary, in the order the file declares them.
fn declarations() -> Vec<String> {
    // Every integer the app sends fits a JavaScript number (times in milliseconds, tenths,
    // counts); ts-rs would otherwise say `bigint`, which JSON.parse never gives.
    let cfg = Config::new().with_large_int("number");
    vec![
        decl::<ErrorCode>(&cfg),
        decl::<AppError>(&cfg),
        decl::<CitizenId>(&cfg),
        decl::<WorkerId>(&cfg),
        decl::<VisitId>(&cfg),
        decl::<GroupId>(&cfg),
        decl::<ResponseId>(&cfg),
        decl::<NoteId>(&cfg),
        decl::<GoalId>(&cfg),
        decl::<Lang>(&cfg),
        decl::<Text>(&cfg),
        decl::<ScaleCode>(&cfg),
        decl::<ScaleKind>(&cfg),
        decl::<Population>(&cfg),
        decl::<ItemId>(&cfg),
        decl::<AnswerKind>(&cfg),
        decl::<AnswerOption>(&cfg),
        decl::<Item>(&cfg),
        decl::<ExpectedTrajectory>(&cfg),
        decl::<ExpectedBand>(&cfg),
        decl::<Coding>(&cfg),
        decl::<Scale>(&cfg),
        decl::<MarkedBy>(&cfg),
        decl::<NotGivenReason>(&cfg),
        decl::<CorrectionReason>(&cfg),
        decl::<RawAnswer>(&cfg),
        decl::<ResponseContent>(&cfg),
        decl::<ResponseInput>(&cfg),
        decl::<Total>(&cfg),
        decl::<AgeBand>(&cfg),
        decl::<Answer>(&cfg),
        decl::<Measure>(&cfg),
        decl::<TrajectoryPoint>(&cfg),
        decl::<OutcomeChange>(&cfg),
        decl::<OutcomeSummary>(&cfg),
        decl::<AlertCode>(&cfg),
        decl::<Severity>(&cfg),
        decl::<Alert>(&cfg),
        decl::<Trajectory>(&cfg),
        decl::<Trend>(&cfg),
        decl::<CitizenMode>(&cfg),
        decl::<AppStatus>(&cfg),
        decl::<CitizenRow>(&cfg),
        decl::<CaseloadLine>(&cfg),
        decl::<VisitRow>(&cfg),
        decl::<NoteRow>(&cfg),
        decl::<ResponseStatus>(&cfg),
        decl::<ResponseRow>(&cfg),
        decl::<GoalStatus>(&cfg),
        decl::<GoalRow>(&cfg),
        decl::<PlannedScale>(&cfg),
        decl::<VisitProgress>(&cfg),
        decl::<CitizenPage>(&cfg),
        decl::<GroupMember>(&cfg),
        decl::<GroupPage>(&cfg),
        decl::<CitizenAnswer>(&cfg),
        decl::<Correction>(&cfg),
        decl::<SyncCounters>(&cfg),
        decl::<SyncProgress>(&cfg),
        decl::<SyncStatus>(&cfg),
        decl::<SyncView>(&cfg),
        decl::<NightlyWindow>(&cfg),
        decl::<AppSettings>(&cfg),
    ]
}

/// The whole file.
fn typescript() -> String {
    let list = |items: Vec<String>| items.join(", ");
    let codes = list(ErrorCode::ALL.iter().map(|c| format!("'{c}'")).collect());
    let commands = list(COMMANDS.iter().map(|c| format!("'{c}'")).collect());
    format!(
        "// Made by src-tauri/src/bindings.rs from the Rust types; do not edit. To make it anew:\n\
         // FIT_BLESS=1 cargo test -p fit-app --lib bindings\n\n\
         {}\n\n\
         /** Every error code the app and the server can answer. */\n\
         export const ERROR_CODES: readonly ErrorCode[] = [{codes}];\n\n\
         /** Every command the app's window may invoke. */\n\
         export const COMMANDS = [{commands}] as const;\n\
         export type Command = (typeof COMMANDS)[number];\n",
        declarations().join("\n\n"),
    )
}

#[test]
fn the_ui_bindings_are_made_from_the_rust_types() {
    let expected = typescript();
    if std::env::var_os("FIT_BLESS").is_some() {
        std::fs::write(BINDINGS_PATH, &expected).unwrap_or_else(|e| panic!("writing {BINDINGS_PATH}: {e}"));
    }
    let actual = std::fs::read_to_string(BINDINGS_PATH).unwrap_or_default();
    assert!(
        actual == expected,
        "ui/src/api/bindings.ts is not what the Rust types say; make it anew with \
         FIT_BLESS=1 cargo test -p fit-app --lib bindings"
    );
}

#[test]
fn the_window_may_invoke_exactly_the_commands_of_the_list() {
    let capability: serde_json::Value =
        serde_json::from_str(include_str!("../capabilities/main.json")).unwrap_or_else(|e| panic!("{e}"));
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap_or_else(|| panic!("the capability has no permissions"))
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| !p.starts_with("core:"))
        .collect();
    let expected: Vec<String> = COMMANDS.iter().map(|c| format!("allow-{}", c.replace('_', "-"))).collect();
    assert_eq!(granted, expected, "capabilities/main.json grants the commands of src/command_list.rs, in order");
}
