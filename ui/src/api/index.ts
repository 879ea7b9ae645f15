// The only module that talks to the Rust side. Every command answers a value or rejects with
// `{code, message}`; anything else that rejects is turned into that shape here.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type {
  AppError, AppSettings, AppStatus, CaseloadLine, CitizenAnswer, CitizenMode, CitizenPage, Command,
  Correction, GroupPage, Lang, NotGivenReason, Scale, SyncView,
} from './bindings';

export * from './bindings';

export const SYNC_STATUS_EVENT = 'sync-status';

export function isAppError(value: unknown): value is AppError {
  return typeof value === 'object' && value !== null
    && typeof (value as AppError).code === 'string' && typeof (value as AppError).message === 'string';
}

/** Invokes a command; a rejection is always an `AppError`. */
export async function call<T>(command: Command, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    if (isAppError(error)) throw error;
    throw { code: 'app.ipc', message: String(error) } satisfies AppError;
  }
}

export const api = {
  status: () => call<AppStatus>('get_status'),
  setUp: (pin: string) => call<void>('set_up_device', { pin }),
  /** `certificate`: the server's certificate (PEM) to pin, when the administrator gave one. */
  enroll: (server_url: string, code: string, certificate: string | null = null) =>
    call<void>('enroll_device', { server_url, code, certificate }),
  unlock: (pin: string) => call<void>('unlock_app', { pin }),
  lock: () => call<void>('lock_app'),
  noteActivity: () => call<void>('note_activity'),
  changePin: (old_pin: string, new_pin: string) => call<void>('change_pin', { old_pin, new_pin }),
  caseload: () => call<CaseloadLine[]>('list_caseload'),
  citizen: (citizen: string) => call<CitizenPage>('get_citizen', { citizen }),
  scale: (code: string) => call<Scale>('get_scale', { code }),
  startVisit: (citizen: string) => call<string>('start_visit', { citizen }),
  recordNotGiven: (visit: string, scale: string, reason: NotGivenReason) =>
    call<string>('record_response', { visit, input: { scale, content: { not_given: { reason } } } }),
  /** Answers the citizen gave aloud, the worker placing the marks (`answers`: item id, value). */
  recordReadAloud: async (visit: string, scale: string, answers: [string, number][]) =>
    call<string>('record_response', {
      visit,
      input: {
        scale,
        content: { given: { marked_by: 'read_aloud_verbal', answers: answers.map(([item, value]) => ({ item, value })) } },
      },
    }),
  correctResponse: (response: string, correction: Correction) =>
    call<string>('correct_response', { response, correction }),
  /** A paper form, dated by the day written on it (`YYYY-MM-DD`). */
  recordPaper: (citizen: string, paper_day: string, scale: string, answers: [string, number][]) =>
    call<string>('record_paper', { citizen, paper_day, scale, answers }),
  closeVisit: (visit: string) => call<void>('close_visit', { visit }),
  cancelVisit: (visit: string) => call<void>('cancel_visit', { visit }),
  /** A group session with the citizens present: a visit for each, sharing the group. */
  startGroupVisit: (citizens: string[]) => call<string>('start_group_visit', { citizens }),
  group: (group: string) => call<GroupPage>('get_group', { group }),
  closeGroupVisit: (group: string) => call<void>('close_group_visit', { group }),
  addNote: (citizen: string, visit: string | null, body: string) =>
    call<string>('add_note', { citizen, visit, body }),
  addGoal: (citizen: string, title: string) =>
    call<string>('set_goal', { citizen, goal: null, title, status: 'active' }),
  setGoalStatus: (citizen: string, goal: string, status: string) =>
    call<string>('set_goal', { citizen, goal, title: null, status }),
  deleteGoal: (citizen: string, goal: string) => call<void>('delete_goal', { citizen, goal }),
  enterCitizenMode: (visit: string, scale: string) => call<CitizenMode>('enter_citizen_mode', { visit, scale }),
  recordCitizenAnswer: (answer: CitizenAnswer) => call<string>('record_citizen_answer', { answer }),
  leaveCitizenMode: (pin: string) => call<void>('leave_citizen_mode', { pin }),
  syncStatus: () => call<SyncView>('get_sync_status'),
  syncNow: () => call<void>('sync_now'),
  settings: () => call<AppSettings>('get_settings'),
  saveSettings: (settings: AppSettings) => call<AppSettings>('save_settings', { settings }),
  /** Whether the device's speech engine can read aloud; the first ask starts it. */
  speechAvailable: () => call<boolean>('get_speech_available'),
  /** Reads `text` aloud with a voice of `lang` (the language it is written in). */
  speak: (text: string, lang: Lang) => call<void>('speak_text', { text, lang }),
  stopSpeech: () => call<void>('stop_speech'),
  onSyncStatus: (handler: (view: SyncView) => void): Promise<UnlistenFn> =>
    listen<SyncView>(SYNC_STATUS_EVENT, (event) => handler(event.payload)),
};
