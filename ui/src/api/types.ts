// The shapes the app's commands take and return. Almost all are made from the Rust types
// (`bindings.ts`); what is still written here is named below with its reason.

import type { AppError } from './bindings';

export * from './bindings';

// The sync engine's status, as the shell sends it (`src-tauri/src/shell.rs`, `SyncView`).
export interface SyncProgress { sent: number; to_send: number; received: number }

export interface SyncView {
  online: boolean;
  running: boolean;
  progress: SyncProgress;
  last_sync_ms: number | null;
  last_error: AppError | null;
  blocked: string | null;
  pending_changes: number | null;
  oldest_pending_age_ms: number | null;
}
