/**
 * The log's decoded-field filter (issue 15): terms `name:glob` separated by spaces, all of which
 * a row's decoded fields (ui/app-view.ts `fieldText`, `event:chat` lines) must match — `event:chat`,
 * `topic:sensors/*`, `type:event event:chat`. Names compare case-insensitively; in a glob `*`
 * matches any run of characters and `?` one, as in an MQTT-less shell glob; values are compared
 * whole. Pure.
 */

export interface FieldTerm {
  readonly name: string;
  readonly glob: string;
  readonly re: RegExp;
}

/** At most this many terms, each at most MAX_TERM characters: the filter is typed at a prompt. */
const MAX_TERMS = 16;
const MAX_TERM = 200;

/** The terms of `text`, or the reason it is not a filter (shown as the notice). */
export function parseFieldTerms(text: string): { readonly terms: readonly FieldTerm[] } | { readonly error: string } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length > MAX_TERMS) return { error: `at most ${MAX_TERMS} terms` };
  const terms: FieldTerm[] = [];
  for (const w of words) {
    const colon = w.indexOf(':');
    if (colon <= 0 || w.length > MAX_TERM) return { error: `'${w.slice(0, 40)}' is not name:glob (e.g. event:chat, topic:sensors/*)` };
    const name = w.slice(0, colon).toLowerCase();
    const glob = w.slice(colon + 1);
    terms.push({ name, glob, re: globRegExp(glob) });
  }
  return { terms };
}

/** `*` any run, `?` one character, everything else literal; the whole value. */
function globRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** Whether `fieldText` (one `name:value` per line) satisfies every term. No terms: true. */
export function fieldsMatch(terms: readonly FieldTerm[], fieldText: string | undefined): boolean {
  if (terms.length === 0) return true;
  if (!fieldText) return false;
  const fields = fieldText.split('\n').map((l) => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1)] as const;
  });
  return terms.every((t) => fields.some(([name, value]) => name === t.name && t.re.test(value)));
}
