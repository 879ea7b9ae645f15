import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, type AppError } from '../api/bindings';
import { alertLabel, errorCodeText, errorText, formatTenths, locale, t } from '../lib/i18n.svelte';

describe('texts', () => {
  afterEach(() => {
    locale.lang = 'da';
  });

  it('writes tenths with a decimal comma in Danish and a point in English', () => {
    expect(formatTenths(249, 'da')).toBe('24,9');
    expect(formatTenths(249, 'en')).toBe('24.9');
    expect(formatTenths(0, 'da')).toBe('0,0');
    expect(formatTenths(-5, 'en')).toBe('-0.5');
  });

  it('speaks Danish by default and switches to English', () => {
    expect(t('start_visit')).toBe('Start besøg');
    locale.lang = 'en';
    expect(t('start_visit')).toBe('Start visit');
    expect(t('cm_item_of', { n: 2, total: 4 })).toBe('Question 2 of 4');
  });

  it('puts known errors in plain words and never shows the raw message of unknown ones', () => {
    expect(errorText({ code: 'pin.wrong', message: 'wrong PIN (3 tries left)' })).toBe('Forkert PIN-kode.');
    expect(errorText({ code: 'unknown', message: 'the code was used' })).toBe(t('error_unknown'));
    expect(errorText({ code: 'sync.something_new' as AppError['code'], message: 'raw server text' })).not.toContain('raw server text');
    expect(errorText({ code: 'sync.offline', message: 'no connection to the server' }))
      .toBe('Ingen forbindelse til serveren. Prøv igen, når der er net.');
    expect(alertLabel('ors.below_cutoff')).toBe('Under klinisk grænse');
    expect(alertLabel('some.new_alert')).toBe('some.new_alert');
  });

  it('has Danish and English words for every error code', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(50);
    for (const lang of ['da', 'en'] as const) {
      locale.lang = lang;
      const missing = ERROR_CODES.filter((code) => !errorCodeText(code));
      expect(missing, `codes without a ${lang} text`).toEqual([]);
    }
  });
});
