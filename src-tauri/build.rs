//! Generates the app's permissions: one `allow-<command>` per command, so the capability file
//! grants exactly the commands the UI uses and nothing by default. The names come from the one
//! list in `src/command_list.rs`.

include!("src/command_list.rs");

fn main() {
    let commands: &[&str] = app_commands!(command_names);
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports through cargo's output; there is no other channel.
        #[allow(clippy::print_stdout)]
        {
            println!("cargo::error={error:#}");
        }
    }
}
