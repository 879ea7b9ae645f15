// Every text the worker or the citizen reads, in Danish (the default) and English. The language
// is reactive state: switching it re-renders every screen.

import type { Lang, Text } from '../api/types';

const da = {
  app_name: 'FIT Field',
  loading: 'Indlæser …',
  // Enroll and PIN
  enroll_title: 'Tilmeld enheden',
  enroll_intro: 'Skriv serverens adresse og den engangskode, du har fået af din administrator.',
  server_url: 'Serverens adresse',
  enroll_code: 'Tilmeldingskode',
  choose_pin: 'Vælg en PIN-kode (mindst 6 tegn)',
  repeat_pin: 'Gentag PIN-koden',
  pins_differ: 'De to PIN-koder er ikke ens.',
  enroll_button: 'Tilmeld',
  enrolling: 'Tilmelder …',
  lock_title: 'Enheden er låst',
  lock_intro: 'Skriv din PIN-kode for at låse op.',
  pin: 'PIN-kode',
  unlock: 'Lås op',
  unlocking: 'Låser op …',
  lock: 'Lås',
  // Navigation
  nav_caseload: 'Borgere',
  nav_sync: 'Synkronisering',
  nav_settings: 'Indstillinger',
  back: 'Tilbage',
  // Caseload
  caseload_title: 'Mine borgere',
  caseload_empty: 'Der er ingen borgere i din sag endnu. De kommer, når enheden har synkroniseret.',
  last_ors: 'Seneste ORS',
  no_ors: 'Ingen ORS endnu',
  trend_up: 'stigende',
  trend_down: 'faldende',
  trend_flat: 'uændret',
  pending_changes: 'ikke sendt',
  // Citizen page
  start_visit: 'Start besøg',
  continue_visit: 'Fortsæt besøget',
  trajectory: 'Forløb',
  chart_ors: 'ORS i alt',
  chart_cutoff: 'Klinisk grænse',
  chart_band: 'Pålidelig ændring fra første måling',
  chart_srs: 'SRS i alt',
  chart_srs_concern: 'SRS-grænse (36)',
  chart_who5: 'WHO-5',
  chart_visit: 'Besøg',
  no_measurements: 'Ingen målinger endnu.',
  alerts: 'Opmærksomhed',
  no_alerts: 'Ingen advarsler.',
  goals: 'Mål',
  no_goals: 'Ingen mål endnu.',
  new_goal: 'Nyt mål',
  add_goal: 'Tilføj mål',
  goal_active: 'I gang',
  goal_achieved: 'Nået',
  goal_dropped: 'Opgivet',
  remove: 'Fjern',
  notes: 'Noter',
  no_notes: 'Ingen noter endnu.',
  new_note: 'Ny note',
  add_note: 'Gem note',
  history: 'Besøg',
  no_visits: 'Ingen besøg endnu.',
  visit_open: 'i gang',
  not_given: 'ikke givet',
  // Visit flow
  visit_title: 'Besøg',
  step_ors: '1. ORS: hvordan går det?',
  step_review: '2. Sammen: forløbet',
  step_srs: '3. SRS: hvordan var besøget?',
  step_close: '4. Note og mål',
  handover_ors: 'Giv enheden til borgeren for ORS',
  handover_srs: 'Giv enheden til borgeren for SRS',
  handover_hint: 'Borgeren ser kun skalaen. Du skal bruge din PIN-kode for at komme tilbage.',
  mark_not_given: 'Skalaen blev ikke givet',
  reason: 'Årsag',
  reason_declined: 'Borgeren ønskede ikke',
  reason_too_unwell: 'For dårlig',
  reason_no_time: 'Ikke tid',
  reason_other: 'Anden årsag',
  save_not_given: 'Gem årsagen',
  ors_given: 'ORS er udfyldt',
  ors_total: 'ORS i alt',
  srs_total: 'SRS i alt',
  note_for_visit: 'Note til besøget',
  close_visit: 'Afslut besøget',
  visit_closed: 'Besøget er afsluttet og gemt på enheden.',
  // Citizen mode
  cm_item_of: 'Spørgsmål {n} af {total}',
  cm_intro_ors: 'Hvordan har du haft det den sidste uge, også i dag?',
  cm_intro_srs: 'Hvordan var samtalen i dag?',
  cm_tap_line: 'Tryk på linjen, hvor det passer for dig. Venstre er lavt, højre er højt.',
  cm_low: 'Lavt',
  cm_high: 'Højt',
  cm_read_aloud: 'Læs højt',
  cm_minus: 'Lidt lavere',
  cm_plus: 'Lidt højere',
  cm_next: 'Næste',
  cm_previous: 'Forrige',
  cm_review: 'Er det rigtigt?',
  cm_confirm: 'Ja, det er rigtigt',
  cm_redo: 'Gør om',
  cm_saving: 'Gemmer …',
  cm_thanks: 'Tak! Giv enheden tilbage til medarbejderen.',
  cm_decline: 'Jeg vil ikke svare',
  cm_decline_ask: 'Vil du hellere lade være med at svare i dag? Det er helt i orden.',
  cm_decline_yes: 'Ja, spring over',
  cm_decline_no: 'Nej, jeg svarer',
  cm_worker: 'Medarbejder',
  cm_worker_take_back: 'Medarbejder: tag enheden tilbage',
  cm_worker_pin: 'Medarbejderens PIN-kode',
  cm_leave: 'Tilbage til medarbejdervisning',
  cm_cancel: 'Fortryd',
  cm_no_mark: 'Ingen markering endnu',
  cm_mark_at: 'Markeret ved {value} af 10',
  // Sync
  sync_title: 'Synkronisering',
  online: 'Forbundet',
  offline: 'Ingen forbindelse',
  syncing: 'Synkroniserer …',
  pending: 'Ændringer, der venter på at blive sendt',
  oldest_pending: 'Ældste ventende ændring',
  last_sync: 'Sidst synkroniseret',
  never: 'aldrig',
  last_error: 'Seneste problem',
  no_error: 'Ingen problemer.',
  sync_now: 'Synkronisér nu',
  sync_auto: 'Enheden synkroniserer af sig selv, når serveren kan nås, og hver nat.',
  sent: 'sendt',
  received: 'modtaget',
  // Settings
  settings_title: 'Indstillinger',
  language: 'Sprog',
  auto_lock: 'Lås automatisk efter (minutter uden brug)',
  nightly: 'Synkronisér hver nat',
  nightly_time: 'Klokken',
  save: 'Gem',
  saved: 'Gemt.',
  change_pin: 'Skift PIN-kode',
  old_pin: 'Nuværende PIN-kode',
  new_pin: 'Ny PIN-kode',
  pin_changed: 'PIN-koden er skiftet.',
  minutes_ago: 'for {n} min. siden',
  just_now: 'lige nu',
  hours_ago: 'for {n} timer siden',
  days_ago: 'for {n} dage siden',
};

type Key = keyof typeof da;

const en: Record<Key, string> = {
  app_name: 'FIT Field',
  loading: 'Loading …',
  enroll_title: 'Enroll this device',
  enroll_intro: 'Enter the server address and the one-time code your administrator gave you.',
  server_url: 'Server address',
  enroll_code: 'Enrollment code',
  choose_pin: 'Choose a PIN (at least 6 characters)',
  repeat_pin: 'Repeat the PIN',
  pins_differ: 'The two PINs are not the same.',
  enroll_button: 'Enroll',
  enrolling: 'Enrolling …',
  lock_title: 'The device is locked',
  lock_intro: 'Enter your PIN to unlock.',
  pin: 'PIN',
  unlock: 'Unlock',
  unlocking: 'Unlocking …',
  lock: 'Lock',
  nav_caseload: 'Citizens',
  nav_sync: 'Sync',
  nav_settings: 'Settings',
  back: 'Back',
  caseload_title: 'My citizens',
  caseload_empty: 'There are no citizens in your caseload yet. They arrive when the device has synced.',
  last_ors: 'Last ORS',
  no_ors: 'No ORS yet',
  trend_up: 'rising',
  trend_down: 'falling',
  trend_flat: 'unchanged',
  pending_changes: 'not sent',
  start_visit: 'Start visit',
  continue_visit: 'Continue the visit',
  trajectory: 'Trajectory',
  chart_ors: 'ORS total',
  chart_cutoff: 'Clinical cutoff',
  chart_band: 'Reliable change from the first score',
  chart_srs: 'SRS total',
  chart_srs_concern: 'SRS threshold (36)',
  chart_who5: 'WHO-5',
  chart_visit: 'Visit',
  no_measurements: 'No measurements yet.',
  alerts: 'Alerts',
  no_alerts: 'No alerts.',
  goals: 'Goals',
  no_goals: 'No goals yet.',
  new_goal: 'New goal',
  add_goal: 'Add goal',
  goal_active: 'Active',
  goal_achieved: 'Achieved',
  goal_dropped: 'Dropped',
  remove: 'Remove',
  notes: 'Notes',
  no_notes: 'No notes yet.',
  new_note: 'New note',
  add_note: 'Save note',
  history: 'Visits',
  no_visits: 'No visits yet.',
  visit_open: 'open',
  not_given: 'not given',
  visit_title: 'Visit',
  step_ors: '1. ORS: how are things?',
  step_review: '2. Together: the trajectory',
  step_srs: '3. SRS: how was the visit?',
  step_close: '4. Note and goals',
  handover_ors: 'Hand the device to the citizen for the ORS',
  handover_srs: 'Hand the device to the citizen for the SRS',
  handover_hint: 'The citizen sees only the scale. You need your PIN to come back.',
  mark_not_given: 'The scale was not given',
  reason: 'Reason',
  reason_declined: 'The citizen declined',
  reason_too_unwell: 'Too unwell',
  reason_no_time: 'No time',
  reason_other: 'Other reason',
  save_not_given: 'Save the reason',
  ors_given: 'ORS is filled in',
  ors_total: 'ORS total',
  srs_total: 'SRS total',
  note_for_visit: 'Note for the visit',
  close_visit: 'Close the visit',
  visit_closed: 'The visit is closed and saved on the device.',
  cm_item_of: 'Question {n} of {total}',
  cm_intro_ors: 'How have you been doing over the last week, including today?',
  cm_intro_srs: 'How was our conversation today?',
  cm_tap_line: 'Tap the line where it fits you. Left is low, right is high.',
  cm_low: 'Low',
  cm_high: 'High',
  cm_read_aloud: 'Read aloud',
  cm_minus: 'A little lower',
  cm_plus: 'A little higher',
  cm_next: 'Next',
  cm_previous: 'Previous',
  cm_review: 'Is this right?',
  cm_confirm: 'Yes, that is right',
  cm_redo: 'Redo',
  cm_saving: 'Saving …',
  cm_thanks: 'Thank you! Please hand the device back to the worker.',
  cm_decline: 'I do not want to answer',
  cm_decline_ask: 'Would you rather not answer today? That is quite all right.',
  cm_decline_yes: 'Yes, skip it',
  cm_decline_no: 'No, I will answer',
  cm_worker: 'Worker',
  cm_worker_take_back: 'Worker: take the device back',
  cm_worker_pin: "The worker's PIN",
  cm_leave: 'Back to the worker view',
  cm_cancel: 'Cancel',
  cm_no_mark: 'No mark yet',
  cm_mark_at: 'Marked at {value} of 10',
  sync_title: 'Sync',
  online: 'Connected',
  offline: 'No connection',
  syncing: 'Syncing …',
  pending: 'Changes waiting to be sent',
  oldest_pending: 'Oldest waiting change',
  last_sync: 'Last synced',
  never: 'never',
  last_error: 'Last problem',
  no_error: 'No problems.',
  sync_now: 'Sync now',
  sync_auto: 'The device syncs by itself whenever the server is reachable, and every night.',
  sent: 'sent',
  received: 'received',
  settings_title: 'Settings',
  language: 'Language',
  auto_lock: 'Lock automatically after (minutes unused)',
  nightly: 'Sync every night',
  nightly_time: 'At',
  save: 'Save',
  saved: 'Saved.',
  change_pin: 'Change PIN',
  old_pin: 'Current PIN',
  new_pin: 'New PIN',
  pin_changed: 'The PIN is changed.',
  minutes_ago: '{n} min ago',
  just_now: 'just now',
  hours_ago: '{n} hours ago',
  days_ago: '{n} days ago',
};

const dictionaries: Record<Lang, Record<Key, string>> = { da, en };

/** The UI language; Danish until the settings say otherwise. */
export const locale = $state<{ lang: Lang }>({ lang: 'da' });

export function t(key: Key, values: Record<string, string | number> = {}): string {
  let text = dictionaries[locale.lang][key];
  for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, String(value));
  return text;
}

/** A pack or domain text in the current language, falling back to the other. */
export function tx(text: Text | null | undefined): string {
  if (!text) return '';
  return (locale.lang === 'da' ? text.da ?? text.en : text.en ?? text.da) ?? '';
}

/** Integer tenths as a decimal: 249 → "24,9" in Danish, "24.9" in English. */
export function formatTenths(tenths: number, lang: Lang = locale.lang): string {
  const sign = tenths < 0 ? '-' : '';
  const abs = Math.abs(tenths);
  return `${sign}${Math.floor(abs / 10)}${lang === 'da' ? ',' : '.'}${abs % 10}`;
}

export function formatDate(ms: number, lang: Lang = locale.lang): string {
  return new Date(ms).toLocaleDateString(lang === 'da' ? 'da-DK' : 'en-GB', {
    day: 'numeric', month: 'short', year: 'numeric',
  });
}

export function formatAge(ms: number): string {
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return t('just_now');
  if (minutes < 60) return t('minutes_ago', { n: minutes });
  if (minutes < 48 * 60) return t('hours_ago', { n: Math.floor(minutes / 60) });
  return t('days_ago', { n: Math.floor(minutes / 1440) });
}

const alertTexts: Record<string, Text> = {
  'ors.below_cutoff': { da: 'Under klinisk grænse', en: 'Below clinical cutoff' },
  'ors.reliable_deterioration': { da: 'Sikker forværring', en: 'Reliable deterioration' },
  'ors.no_reliable_improvement': { da: 'Ingen sikker bedring', en: 'No reliable improvement' },
  'ors.below_expected': { da: 'Under forventet forløb', en: 'Below the expected trajectory' },
  'srs.total_low': { da: 'SRS lav', en: 'SRS low' },
  'srs.item_low': { da: 'SRS: et spørgsmål lavt', en: 'SRS: one item low' },
  'srs.dropped': { da: 'SRS faldet', en: 'SRS dropped' },
  'who5.poor_wellbeing': { da: 'WHO-5: lav trivsel', en: 'WHO-5: poor well-being' },
  'who5.likely_depression': { da: 'WHO-5: mulig depression', en: 'WHO-5: likely depression' },
  'who5.decline': { da: 'WHO-5: fald', en: 'WHO-5: decline' },
};

/** The short badge text of an alert code. */
export function alertLabel(code: string): string {
  return alertTexts[code] ? tx(alertTexts[code]) : code;
}

const errorTexts: Record<string, Text> = {
  'pin.wrong': { da: 'Forkert PIN-kode.', en: 'Wrong PIN.' },
  'pin.too_soon': { da: 'For mange forkerte forsøg. Vent lidt, og prøv igen.', en: 'Too many wrong tries. Wait a moment and try again.' },
  'pin.too_short': { da: 'PIN-koden skal have mindst 6 tegn.', en: 'The PIN needs at least 6 characters.' },
  'store.wiped': { da: 'For mange forkerte PIN-koder: data på enheden er slettet. Tilmeld enheden igen.', en: 'Too many wrong PINs: the data on this device has been erased. Enroll it again.' },
  'sync.offline': { da: 'Ingen forbindelse til serveren. Prøv igen, når der er net.', en: 'No connection to the server. Try again when there is a network.' },
  'citizen_mode.active': { da: 'Borgeren udfylder en skala. Medarbejderens PIN-kode skal bruges.', en: "The citizen is filling in a scale. The worker's PIN is needed." },
  'input.invalid': { da: 'Noget af det indtastede kan ikke bruges.', en: 'Some of the input cannot be used.' },
};

/** An error in plain words: a known code in the current language, otherwise the message as sent. */
export function errorText(error: { code: string; message: string }): string {
  const known = errorTexts[error.code];
  if (!known) return error.message;
  // Input errors carry the specifics in their message; keep it beside the plain words.
  return error.code === 'input.invalid' ? `${tx(known)} (${error.message})` : tx(known);
}

const syncMessages: Record<string, Text> = {
  'no connection to the server': { da: 'Ingen forbindelse til serveren.', en: 'No connection to the server.' },
  'the server is busy; trying again later': { da: 'Serveren har travlt; prøver igen senere.', en: 'The server is busy; trying again later.' },
  'the app is locked: enter your PIN': { da: 'Enheden er låst.', en: 'The device is locked.' },
  'this device is not enrolled with a server': { da: 'Enheden er ikke tilmeldt en server.', en: 'This device is not enrolled with a server.' },
  'this device has been revoked; its local data has been erased': { da: 'Enheden er spærret, og dens data er slettet.', en: 'This device has been revoked; its data has been erased.' },
};

/** The sync engine's last error in plain words in the current language. */
export function syncErrorText(message: string): string {
  const known = syncMessages[message];
  return known ? tx(known) : message;
}
