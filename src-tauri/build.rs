//! Generates the app's permissions: one `allow-<command>` per command, so the capability file
//! grants exactly the commands the UI uses and nothing by default.

fn main() {
    let commands = &[
        "get_status",
        "set_up_device",
        "enroll_device",
        "unlock_app",
        "lock_app",
        "change_pin",
        "list_caseload",
        "get_citizen",
        "get_scale",
        "start_visit",
        "record_response",
        "close_visit",
        "add_note",
        "set_goal",
        "delete_goal",
        "enter_citizen_mode",
        "record_citizen_answer",
        "leave_citizen_mode",
        "get_sync_status",
        "sync_now",
        "get_settings",
        "save_settings",
    ];
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports through cargo's output; there is no other channel.
        #[allow(clippy::print_stdout)]
        {
            println!("cargo::error={error:#}");
        }
    }
}
