// What read-aloud says for one item in citizen mode: the introduction, the item and its help as
// the citizen sees them and, for a choice item, its answer options in order. Each part ends as a
// sentence, so the speech engine pauses between them instead of running them together.

/** The text to speak, from the parts shown on screen (in the screen's language). */
export function itemSpeech(intro: string, item: string, options: readonly string[] = [], help = ''): string {
  return [intro, item, help, ...options]
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => (/[.!?:;…]$/.test(part) ? part : `${part}.`))
    .join(' ');
}
