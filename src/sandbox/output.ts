import { createEventStream, type EventStream } from '../core/index.js';

/**
 * Collects one output stream of the sandbox: keeps at most `maxBytes`, counts everything, and watches for the
 * end-of-output marker the runtime writes after the code settled (which may straddle chunks, and is cut away).
 * Memory held is bounded by maxBytes + the marker length, whatever the container writes.
 *
 * `kept` streams the kept bytes as they arrive, exactly those the result will carry: never past the cap, never the
 * marker or what follows it. Bytes that could be the start of the marker are held back until the next chunk (or
 * `flush`) shows they are not.
 */
export interface OutputCollector {
  push(chunk: Buffer): void;
  /** The stream ended (or the run is over): hand on what was held back as a possible marker start. */
  flush(): void;
  readonly kept: EventStream<Buffer>;
  readonly passed: EventStream<Buffer>;
  readonly totalBytes: number;
  readonly markerSeen: Promise<void>;
  /** The kept text, cut before the marker, at a UTF-8 character boundary. */
  text(): string;
  readonly truncated: boolean;
}

/** The length of the longest end of `bytes` that is a start of `marker` (shorter than the whole marker). */
function markerPrefixAtEnd(bytes: Buffer, marker: Buffer): number {
  for (let k = Math.min(marker.length - 1, bytes.length); k > 0; k--) {
    if (bytes.subarray(bytes.length - k).equals(marker.subarray(0, k))) return k;
  }
  return 0;
}

export function createOutputCollector(maxBytes: number, marker: Buffer): OutputCollector {
  const kept: Buffer[] = [];
  const stream = createEventStream<Buffer>();
  let keptBytes = 0;
  let total = 0;
  let markerAt = -1;
  let tail: Buffer = Buffer.alloc(0);
  /** kept bytes not handed on yet: they may begin the marker */
  let held: Buffer = Buffer.alloc(0);
  let emitted = 0;
  const passed = createEventStream<Buffer>();
  /** bytes of the whole stream not handed on yet: they may begin the marker */
  let unpassed: Buffer = Buffer.alloc(0);
  let passedBytes = 0;
  let resolveMarker!: () => void;
  const markerSeen = new Promise<void>((r) => (resolveMarker = r));

  /** Hands on `candidate` (the kept bytes after `emitted`) up to stream offset `limit`; holds the rest. */
  const release = (candidate: Buffer, limit: number) => {
    const n = Math.max(0, Math.min(candidate.length, limit - emitted));
    if (n > 0) {
      stream.emit(candidate.subarray(0, n));
      emitted += n;
    }
    held = markerAt >= 0 ? Buffer.alloc(0) : candidate.subarray(n);
  };
  /** The same for every byte of the stream up to `limit`. */
  const pass = (limit: number) => {
    const n = Math.max(0, Math.min(unpassed.length, limit - passedBytes));
    if (n > 0) {
      passed.emit(unpassed.subarray(0, n));
      passedBytes += n;
    }
    unpassed = markerAt >= 0 ? Buffer.alloc(0) : unpassed.subarray(n);
  };

  return {
    push(chunk) {
      if (markerAt >= 0) return;
      const window = Buffer.concat([tail, chunk]);
      const hit = window.indexOf(marker);
      if (hit >= 0) {
        markerAt = total - tail.length + hit;
        resolveMarker();
      }
      let piece: Buffer = Buffer.alloc(0);
      if (keptBytes < maxBytes) {
        piece = chunk.subarray(0, maxBytes - keptBytes);
        kept.push(piece);
        keptBytes += piece.length;
      }
      total += chunk.length;
      tail = window.subarray(Math.max(0, window.length - (marker.length - 1)));
      const limit = markerAt >= 0 ? markerAt : total - markerPrefixAtEnd(window, marker);
      release(held.length > 0 ? Buffer.concat([held, piece]) : piece, limit);
      unpassed = unpassed.length > 0 ? Buffer.concat([unpassed, chunk]) : chunk;
      pass(limit);
    },
    flush() {
      if (held.length > 0) release(held, markerAt >= 0 ? markerAt : Number.MAX_SAFE_INTEGER);
      if (unpassed.length > 0) pass(markerAt >= 0 ? markerAt : Number.MAX_SAFE_INTEGER);
    },
    kept: stream,
    passed,
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
