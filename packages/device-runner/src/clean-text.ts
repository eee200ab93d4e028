/**
 * Text that came from another machine (a phone's progress line, its user agent, a board's error) is
 * printed to a terminal and put into results. A terminal obeys escape sequences (ESC, C1 CSI), carriage
 * returns and backspaces, so such text could rewrite what the user sees or drive the terminal. This keeps
 * it printable: every C0 control (tab and newline become a space), ESC, DEL, every C1 control, the
 * bidirectional overrides/isolates (which reorder what is shown) and the line/paragraph separators go.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/**
 * Returns `text` without control characters (see above), cut to at most `maxChars` code points
 * (an ellipsis marks a cut). Whitespace controls become spaces so that words stay apart.
 */
export function cleanText(text: string, maxChars: number): string {
  const cleaned = text.replace(UNSAFE, (c) => (c === '\t' || c === '\n' || c === '\r' ? ' ' : ''));
  // Cut by code points (never half a surrogate pair); only scan as far as needed on huge inputs.
  let count = 0;
  let end = 0;
  for (const char of cleaned) {
    if (count === maxChars) return `${cleaned.slice(0, end)}…`;
    count++;
    end += char.length;
  }
  return cleaned;
}
