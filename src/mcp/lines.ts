/**
 * Control characters (C0 but tab, DEL, C1) and the bidirectional overrides, written as `\u00XX`: a streamed line is
 * the sandbox's text, and must not restyle, reorder or rewrite what a client shows around it.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface LineSplitter {
  /** The lines this text completes (without their line ends). */
  push(text: string): string[];
  /** What is left of an unterminated last line, if anything. */
  flush(): string[];
}

/** Splits streamed text into lines as they complete; a line longer than `maxChars` is handed on in pieces. */
export function createLineSplitter(maxChars: number): LineSplitter {
  let partial = '';
  const trim = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);
  return {
    push(text) {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      const lines = parts.map(trim);
      while (partial.length > maxChars) {
        lines.push(partial.slice(0, maxChars));
        partial = partial.slice(maxChars);
      }
      return lines;
    },
    flush() {
      const rest = partial;
      partial = '';
      return rest === '' ? [] : [trim(rest)];
    },
  };
}
