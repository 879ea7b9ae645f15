// The app's navigation and shared state: which screen shows, the device status, the sync view.

import { api, type AppError, type AppSettings, type AppStatus, type SyncView } from '../api';
import { locale } from './i18n.svelte';

export type Screen =
  | { name: 'caseload' }
  | { name: 'citizen'; citizen: string }
  | { name: 'visit'; citizen: string; visit: string }
  | { name: 'group'; group: string }
  | { name: 'sync' }
  | { name: 'settings' };

export const app = $state<{
  status: AppStatus | null;
  screen: Screen;
  sync: SyncView | null;
  settings: AppSettings | null;
  fatal: AppError | null;
  /** Said once on the next screen of the worker's view (a visit closed, cancelled). */
  notice: string | null;
  /** Said on the lock screen: why the app locked itself (the worker's notices stay behind). */
  lockNotice: string | null;
}>({ status: null, screen: { name: 'caseload' }, sync: null, settings: null, fatal: null, notice: null, lockNotice: null });

export async function refreshStatus(): Promise<void> {
  const next = await api.status();
  // Asked every few seconds to follow the service's lock: the screens redraw only on a change.
  if (JSON.stringify(next) === JSON.stringify(app.status)) return;
  // A notice of the worker's screen is not left for whoever unlocks next.
  if (app.status?.unlocked && !next.unlocked) app.notice = null;
  app.status = next;
}

export async function refreshSync(): Promise<void> {
  try {
    app.sync = await api.syncStatus();
  } catch {
    // The status line keeps its last value; the sync screen shows errors itself.
  }
}

export async function loadSettings(): Promise<void> {
  app.settings = await api.settings();
  locale.lang = app.settings.lang;
}

/** Shows `screen`; a notice of the screen before is not carried over. */
export function go(screen: Screen): void {
  app.notice = null;
  app.screen = screen;
  window.scrollTo?.(0, 0);
}
