/**
 * Collects one output stream of the sandbox: keeps at most `maxBytes`, counts everything, and watches for the
 * end-of-output marker the runtime writes after the code settled (which may straddle chunks, and is cut away).
 * Memory held is bounded by maxBytes + the marker length, whatever the container writes.
 */
export interface OutputCollector {
  push(chunk: Buffer): void;
  readonly totalBytes: number;
  readonly markerSeen: Promise<void>;
  /** The kept text, cut before the marker, at a UTF-8 character boundary. */
  text(): string;
  readonly truncated: boolean;
}

export function createOutputCollector(maxBytes: number, marker: Buffer): OutputCollector {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  let markerAt = -1;
  let tail = Buffer.alloc(0);
  let resolveMarker!: () => void;
  const markerSeen = new Promise<void>((r) => (resolveMarker = r));

  return {
    push(chunk) {
      if (markerAt >= 0) return;
      const window = Buffer.concat([tail, chunk]);
      const hit = window.indexOf(marker);
      if (hit >= 0) {
        markerAt = total - tail.length + hit;
        resolveMarker();
      }
      if (keptBytes < maxBytes) {
        const piece = chunk.subarray(0, maxBytes - keptBytes);
        kept.push(piece);
        keptBytes += piece.length;
      }
      total += chunk.length;
      tail = window.subarray(Math.max(0, window.length - (marker.length - 1)));
    },
    get totalBytes() {
      return markerAt >= 0 ? markerAt : total;
    },
    markerSeen,
    get truncated() {
      return (markerAt >= 0 ? markerAt : total) > maxBytes;
    },
    text() {
      const end = Math.min(keptBytes, markerAt >= 0 ? markerAt : keptBytes);
      const bytes = Buffer.concat(kept, keptBytes).subarray(0, end);
      return new TextDecoder().decode(bytes.subarray(0, utf8Boundary(bytes)));
    },
  };
}

/** Length of the longest prefix that does not end inside a multi-byte UTF-8 character. */
export function utf8Boundary(bytes: Buffer): number {
  let i = bytes.length;
  let back = 0;
  while (i > 0 && back < 4 && (bytes[i - 1]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i === 0) return bytes.length;
  const lead = bytes[i - 1]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need === back + 1 ? bytes.length : i - 1;
}
