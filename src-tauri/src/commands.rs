//! The commands the UI invokes: one line each over the app's service (`fit_device::app::App`),
//! `{code, message}` on failure. Argument names are snake_case on both sides. A PIN is held in
//! a `Zeroizing` string from here on, so the app's own copy is erased once the command is done
//! (the web view's and the IPC layer's copies are beyond its reach).

use std::sync::Arc;

use fit_core::ids::{CitizenId, GoalId, GroupId, NoteId, ResponseId, VisitId};
use fit_core::response::ResponseInput;
use fit_core::{Lang, Scale};
use fit_device::app::{App, AppError, AppStatus, CitizenAnswer, CitizenMode, SyncView};
use fit_device::settings::AppSettings;
use fit_device::{CaseloadLine, CitizenPage, Correction, GroupPage};
use tauri::{Runtime, State, WebviewWindow};
use zeroize::Zeroizing;

use crate::shell::blocking;

type Answer<T> = Result<T, AppError>;
type AppState<'a> = State<'a, Arc<App>>;

#[tauri::command(rename_all = "snake_case")]
pub async fn get_status(app: AppState<'_>) -> Answer<AppStatus> {
    Ok(app.status())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_up_device(app: AppState<'_>, pin: String) -> Answer<()> {
    let pin = Zeroizing::new(pin);
    blocking(&app, move |a| a.set_up(&pin)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn enroll_device(
    app: AppState<'_>,
    server_url: String,
    code: String,
    certificate: Option<String>,
) -> Answer<()> {
    app.enroll(&server_url, &code, certificate.as_deref()).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn unlock_app(app: AppState<'_>, pin: String) -> Answer<()> {
    let pin = Zeroizing::new(pin);
    blocking(&app, move |a| a.unlock(&pin)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lock_app(app: AppState<'_>) -> Answer<()> {
    blocking(&app, |a| {
        a.lock();
        Ok(())
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn change_pin(app: AppState<'_>, old_pin: String, new_pin: String) -> Answer<()> {
    let (old_pin, new_pin) = (Zeroizing::new(old_pin), Zeroizing::new(new_pin));
    blocking(&app, move |a| a.change_pin(&old_pin, &new_pin)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_caseload(app: AppState<'_>) -> Answer<Vec<CaseloadLine>> {
    blocking(&app, |a| a.caseload()).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_citizen(app: AppState<'_>, citizen: CitizenId) -> Answer<CitizenPage> {
    blocking(&app, move |a| a.citizen(citizen)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_scale(app: AppState<'_>, code: String) -> Answer<Scale> {
    app.scale(&code)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn start_visit(app: AppState<'_>, citizen: CitizenId) -> Answer<VisitId> {
    blocking(&app, move |a| a.start_visit(citizen)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn record_response(app: AppState<'_>, visit: VisitId, input: ResponseInput) -> Answer<ResponseId> {
    blocking(&app, move |a| a.record_response(visit, input)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn correct_response(app: AppState<'_>, response: ResponseId, correction: Correction) -> Answer<ResponseId> {
    blocking(&app, move |a| a.correct_response(response, correction)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn record_paper(
    app: AppState<'_>,
    citizen: CitizenId,
    paper_day: String,
    scale: String,
    answers: Vec<(String, i64)>,
) -> Answer<ResponseId> {
    blocking(&app, move |a| a.record_paper(citizen, &paper_day, &scale, answers)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn close_visit(app: AppState<'_>, visit: VisitId) -> Answer<()> {
    blocking(&app, move |a| a.close_visit(visit)).await
}

/// The worker is using the window (reading, typing): the idle lock counts from now.
#[tauri::command(rename_all = "snake_case")]
pub async fn note_activity(app: AppState<'_>) -> Answer<()> {
    blocking(&app, move |a| a.note_activity()).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn cancel_visit(app: AppState<'_>, visit: VisitId) -> Answer<()> {
    blocking(&app, move |a| a.cancel_visit(visit)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn start_group_visit(app: AppState<'_>, citizens: Vec<CitizenId>) -> Answer<GroupId> {
    blocking(&app, move |a| a.start_group_visit(&citizens)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_group(app: AppState<'_>, group: GroupId) -> Answer<GroupPage> {
    blocking(&app, move |a| a.group(group)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn close_group_visit(app: AppState<'_>, group: GroupId) -> Answer<()> {
    blocking(&app, move |a| a.close_group_visit(group)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn add_note(app: AppState<'_>, citizen: CitizenId, visit: Option<VisitId>, body: String) -> Answer<NoteId> {
    blocking(&app, move |a| a.add_note(citizen, visit, &body)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_goal(
    app: AppState<'_>,
    citizen: CitizenId,
    goal: Option<GoalId>,
    title: Option<String>,
    status: Option<String>,
) -> Answer<GoalId> {
    blocking(&app, move |a| a.set_goal(citizen, goal, title.as_deref(), status.as_deref())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_goal(app: AppState<'_>, citizen: CitizenId, goal: GoalId) -> Answer<()> {
    blocking(&app, move |a| a.delete_goal(citizen, goal)).await
}

/// Citizen mode fills the screen, so nothing else of the device shows while the citizen holds it.
#[tauri::command(rename_all = "snake_case")]
pub async fn enter_citizen_mode<R: Runtime>(
    window: WebviewWindow<R>,
    app: AppState<'_>,
    visit: VisitId,
    scale: String,
) -> Answer<CitizenMode> {
    blocking(&app, move |a| a.enter_citizen_mode(visit, &scale)).await.inspect(|_| fullscreen(&window, true))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn record_citizen_answer(app: AppState<'_>, answer: CitizenAnswer) -> Answer<ResponseId> {
    blocking(&app, move |a| a.record_citizen_answer(answer)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn leave_citizen_mode<R: Runtime>(window: WebviewWindow<R>, app: AppState<'_>, pin: String) -> Answer<()> {
    let pin = Zeroizing::new(pin);
    blocking(&app, move |a| a.leave_citizen_mode(&pin)).await.inspect(|()| fullscreen(&window, false))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_sync_status(app: AppState<'_>) -> Answer<SyncView> {
    Ok(app.sync_view())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_now(app: AppState<'_>) -> Answer<()> {
    app.sync_now()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_settings(app: AppState<'_>) -> Answer<AppSettings> {
    Ok(app.settings())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn save_settings(app: AppState<'_>, settings: AppSettings) -> Answer<AppSettings> {
    app.save_settings(settings)
}

/// Asked once when citizen mode opens; the first ask starts the engine, off the UI thread.
#[tauri::command(rename_all = "snake_case")]
pub async fn get_speech_available(app: AppState<'_>) -> Answer<bool> {
    blocking(&app, |a| Ok(a.speech_available())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn speak_text(app: AppState<'_>, text: String, lang: Lang) -> Answer<()> {
    blocking(&app, move |a| a.speak(&text, lang)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn stop_speech(app: AppState<'_>) -> Answer<()> {
    blocking(&app, |a| a.stop_speech()).await
}

fn fullscreen<R: Runtime>(window: &WebviewWindow<R>, on: bool) {
    // Desktop only: a phone or tablet app is full screen already. A window manager that refuses
    // leaves the window as it is; citizen mode itself is enforced by the service, not the size.
    #[cfg(desktop)]
    let _ = window.set_fullscreen(on);
    #[cfg(mobile)]
    let _ = (window, on);
}
