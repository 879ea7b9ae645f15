import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { api, COMMANDS, isAppError } from '../api';

describe('the API layer', () => {
  let calls: { cmd: string; args: unknown }[];

  beforeEach(() => {
    calls = [];
  });
  afterEach(() => clearMocks());

  it('sends snake_case arguments to the commands', async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return cmd === 'start_visit' ? 'visit-1' : null;
    });
    await expect(api.startVisit('citizen-1')).resolves.toBe('visit-1');
    await api.enroll('http://127.0.0.1:8080', 'abc');
    await api.enroll('https://fit.kommune.dk', 'abc', '-----BEGIN CERTIFICATE-----');
    await api.recordNotGiven('visit-1', 'srs', 'too_unwell');
    await api.recordCitizenAnswer({ kind: 'given', answers: [['individually', 55]] });
    await api.recordReadAloud('visit-1', 'ors', [['individually', 40]]);
    await api.correctResponse('response-1', { kind: 'withdraw', reason: 'entered_twice' });
    await api.recordPaper('citizen-1', '2026-11-20', 'ors', [['individually', 40]]);
    await api.speak('Hvordan har du det?', 'da');
    expect(calls).toEqual([
      { cmd: 'start_visit', args: { citizen: 'citizen-1' } },
      { cmd: 'enroll_device', args: { server_url: 'http://127.0.0.1:8080', code: 'abc', certificate: null } },
      {
        cmd: 'enroll_device',
        args: { server_url: 'https://fit.kommune.dk', code: 'abc', certificate: '-----BEGIN CERTIFICATE-----' },
      },
      {
        cmd: 'record_response',
        args: { visit: 'visit-1', input: { scale: 'srs', content: { not_given: { reason: 'too_unwell' } } } },
      },
      { cmd: 'record_citizen_answer', args: { answer: { kind: 'given', answers: [['individually', 55]] } } },
      {
        cmd: 'record_response',
        args: {
          visit: 'visit-1',
          input: { scale: 'ors', content: { given: { marked_by: 'read_aloud_verbal', answers: [{ item: 'individually', value: 40 }] } } },
        },
      },
      { cmd: 'correct_response', args: { response: 'response-1', correction: { kind: 'withdraw', reason: 'entered_twice' } } },
      {
        cmd: 'record_paper',
        args: { citizen: 'citizen-1', paper_day: '2026-11-20', scale: 'ors', answers: [['individually', 40]] },
      },
      { cmd: 'speak_text', args: { text: 'Hvordan har du det?', lang: 'da' } },
    ]);
  });

  it('passes a {code, message} error through unchanged', async () => {
    mockIPC(() => {
      throw { code: 'citizen_mode.active', message: 'the worker PIN is needed' };
    });
    await expect(api.caseload()).rejects.toEqual({ code: 'citizen_mode.active', message: 'the worker PIN is needed' });
  });

  it('turns any other failure into a {code, message} error', async () => {
    mockIPC(() => {
      throw new Error('boom');
    });
    const error = await api.lock().catch((e: unknown) => e);
    expect(isAppError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'app.ipc' });
  });

  it('calls every command of the app, and only those', async () => {
    const called = new Set<string>();
    mockIPC((cmd) => {
      called.add(cmd);
      return null;
    });
    for (const method of Object.values(api)) {
      // Each method with placeholder arguments; the mock answers every command.
      await (method as (...args: unknown[]) => Promise<unknown>)('x', 'y', 'z').catch(() => undefined);
    }
    // `plugin:event|listen` is Tauri's own (the sync-status events), granted apart from the commands.
    const own = [...called].filter((cmd) => !cmd.startsWith('plugin:event|'));
    expect(own.filter((cmd) => !(COMMANDS as readonly string[]).includes(cmd))).toEqual([]);
    expect(COMMANDS.filter((cmd) => !called.has(cmd))).toEqual([]);
  });
});
