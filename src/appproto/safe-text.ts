/**
 * Summaries carry peer-controlled text (event names, topics, destinations). Before a terminal
 * sees them, control characters (C0, DEL, C1, which include ESC and CSI) become `\uXXXX`
 * escapes and the line is cut, so a payload can neither move the cursor nor break the line.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function safeLine(text: string, max = 160): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
