import { describe, expect, it } from 'vitest';
import { itemSpeech } from '../lib/readAloud';

describe('read-aloud text', () => {
  it('reads the introduction and the item, each as a sentence', () => {
    expect(itemSpeech('Hvordan har du haft det den sidste uge, også i dag?', 'Personligt'))
      .toBe('Hvordan har du haft det den sidste uge, også i dag? Personligt.');
  });

  it('reads the options of a choice item after the item, in order', () => {
    expect(itemSpeech('Over the last two weeks:', 'I have felt cheerful', ['All of the time', 'Most of the time', 'At no time']))
      .toBe('Over the last two weeks: I have felt cheerful. All of the time. Most of the time. At no time.');
  });

  it('reads the help after the item, before any options', () => {
    expect(itemSpeech('Hvordan går det?', 'Individuelt', [], 'Dig selv: humør, krop og søvn'))
      .toBe('Hvordan går det? Individuelt. Dig selv: humør, krop og søvn.');
  });

  it('leaves out empty parts', () => {
    expect(itemSpeech('  ', 'Generelt …', ['', ' Aldrig '])).toBe('Generelt … Aldrig.');
  });
});
