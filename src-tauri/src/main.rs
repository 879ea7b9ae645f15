//! The desktop binary: everything is in the library, which the mobile builds share.
// No console window behind the app on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    fit_app::run();
}
