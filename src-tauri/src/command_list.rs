// The app's commands, in one list. The invoke handler (`lib.rs`), the permissions (`build.rs`),
// the capability check and the UI's command names (`ui/src/api/bindings.ts`) are all made from
// it, so a command cannot be added in one place and forgotten in another. Plain `//` comments:
// `build.rs` includes this file as well.

/// Calls `$then!` with the name of every command the UI may invoke.
macro_rules! app_commands {
    ($then:ident) => {
        $then! {
            get_status,
            set_up_device,
            enroll_device,
            unlock_app,
            lock_app,
            note_activity,
            change_pin,
            list_caseload,
            get_citizen,
            get_scale,
            start_visit,
            record_response,
            correct_response,
            record_paper,
            close_visit,
            cancel_visit,
            start_group_visit,
            get_group,
            close_group_visit,
            add_note,
            set_goal,
            delete_goal,
            enter_citizen_mode,
            record_citizen_answer,
            leave_citizen_mode,
            get_sync_status,
            sync_now,
            get_settings,
            save_settings,
            get_speech_available,
            speak_text,
            stop_speech,
        }
    };
}

/// The names of the commands, as strings.
macro_rules! command_names {
    ($($command:ident),* $(,)?) => {
        &[$(stringify!($command)),*]
    };
}
