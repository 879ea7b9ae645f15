//! The commands the UI invokes: one line each over `AppSession`, `{code, message}` on failure.
//! Argument names are snake_case on both sides.

use fit_core::Scale;
use fit_core::ids::{CitizenId, GoalId, NoteId, ResponseId, VisitId};
use fit_core::response::ResponseInput;
use fit_device::app::{AppError, AppStatus, CitizenAnswer, CitizenMode};
use fit_device::settings::AppSettings;
use fit_device::{CaseloadLine, CitizenPage};
use tauri::{AppHandle, Runtime, State, WebviewWindow};

use crate::shell::{self, Shell, SyncView};

type Answer<T> = Result<T, AppError>;

#[tauri::command(rename_all = "snake_case")]
pub async fn get_status(shell: State<'_, Shell>) -> Answer<AppStatus> {
    Ok(shell.session.status())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_up_device(shell: State<'_, Shell>, pin: String) -> Answer<()> {
    shell.blocking(move |s| s.set_up(&pin)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn enroll_device<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    server_url: String,
    code: String,
) -> Answer<()> {
    shell.session.enroll(&shell.client, &server_url, &code).await.map(|()| shell::ensure_sync(&app))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn unlock_app<R: Runtime>(app: AppHandle<R>, shell: State<'_, Shell>, pin: String) -> Answer<()> {
    shell.blocking(move |s| s.unlock(&pin)).await.map(|()| shell::ensure_sync(&app))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lock_app(shell: State<'_, Shell>) -> Answer<()> {
    shell
        .blocking(|s| {
            s.lock();
            Ok(())
        })
        .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn change_pin(shell: State<'_, Shell>, old_pin: String, new_pin: String) -> Answer<()> {
    shell.blocking(move |s| s.change_pin(&old_pin, &new_pin)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_caseload(shell: State<'_, Shell>) -> Answer<Vec<CaseloadLine>> {
    shell.blocking(|s| s.caseload()).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_citizen(shell: State<'_, Shell>, citizen: CitizenId) -> Answer<CitizenPage> {
    shell.blocking(move |s| s.citizen(citizen)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_scale(shell: State<'_, Shell>, code: String) -> Answer<Scale> {
    shell.session.scale(&code)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn start_visit(shell: State<'_, Shell>, citizen: CitizenId) -> Answer<VisitId> {
    shell.write(move |s| s.start_visit(citizen)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn record_response(shell: State<'_, Shell>, visit: VisitId, input: ResponseInput) -> Answer<ResponseId> {
    shell.write(move |s| s.record_response(visit, input)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn close_visit(shell: State<'_, Shell>, visit: VisitId) -> Answer<()> {
    shell.write(move |s| s.close_visit(visit)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn add_note(
    shell: State<'_, Shell>,
    citizen: CitizenId,
    visit: Option<VisitId>,
    body: String,
) -> Answer<NoteId> {
    shell.write(move |s| s.add_note(citizen, visit, &body)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_goal(
    shell: State<'_, Shell>,
    citizen: CitizenId,
    goal: Option<GoalId>,
    title: Option<String>,
    status: Option<String>,
) -> Answer<GoalId> {
    shell.write(move |s| s.set_goal(citizen, goal, title.as_deref(), status.as_deref())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_goal(shell: State<'_, Shell>, citizen: CitizenId, goal: GoalId) -> Answer<()> {
    shell.write(move |s| s.delete_goal(citizen, goal)).await
}

/// Citizen mode fills the screen, so nothing else of the device shows while the citizen holds it.
#[tauri::command(rename_all = "snake_case")]
pub async fn enter_citizen_mode<R: Runtime>(
    window: WebviewWindow<R>,
    shell: State<'_, Shell>,
    visit: VisitId,
    scale: String,
) -> Answer<CitizenMode> {
    shell.blocking(move |s| s.enter_citizen_mode(visit, &scale)).await.inspect(|_| fullscreen(&window, true))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn record_citizen_answer(shell: State<'_, Shell>, answer: CitizenAnswer) -> Answer<ResponseId> {
    shell.write(move |s| s.record_citizen_answer(answer)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn leave_citizen_mode<R: Runtime>(
    window: WebviewWindow<R>,
    shell: State<'_, Shell>,
    pin: String,
) -> Answer<()> {
    shell.blocking(move |s| s.leave_citizen_mode(&pin)).await.inspect(|()| fullscreen(&window, false))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_sync_status(shell: State<'_, Shell>) -> Answer<SyncView> {
    Ok(shell.sync_view())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_now(shell: State<'_, Shell>) -> Answer<()> {
    shell.wake_sync();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_settings(shell: State<'_, Shell>) -> Answer<AppSettings> {
    Ok(shell.settings())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn save_settings(shell: State<'_, Shell>, settings: AppSettings) -> Answer<AppSettings> {
    shell.save_settings(settings)
}

fn fullscreen<R: Runtime>(window: &WebviewWindow<R>, on: bool) {
    // Desktop only: a phone or tablet app is full screen already. A window manager that refuses
    // leaves the window as it is; citizen mode itself is enforced by the session, not the size.
    #[cfg(desktop)]
    let _ = window.set_fullscreen(on);
    #[cfg(mobile)]
    let _ = (window, on);
}
