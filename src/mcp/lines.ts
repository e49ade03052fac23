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
