// How a screen runs a worker's action: busy while it runs (buttons wait), its error in plain
// words on the screen, nothing thrown further. The visit and the group screens share it.

import type { AppError } from '../api';
import { errorText } from './i18n.svelte';

export interface Runner {
  readonly busy: boolean;
  error: string | null;
  run: (action: () => Promise<unknown>) => Promise<void>;
}

export function runner(): Runner {
  let busy = $state(false);
  let error = $state<string | null>(null);
  return {
    get busy() {
      return busy;
    },
    get error() {
      return error;
    },
    set error(value: string | null) {
      error = value;
    },
    async run(action) {
      busy = true;
      error = null;
      try {
        await action();
      } catch (e) {
        error = errorText(e as AppError);
      } finally {
        busy = false;
      }
    },
  };
}
