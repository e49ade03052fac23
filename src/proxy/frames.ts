/**
 * Length-prefixed JSON framing for the execution socket. The decoder is fed raw chunks from an untrusted peer: it
 * checks each declared length against the limit before buffering the body, so a peer cannot make the host hold more
 * than `maxFrameBytes` (+4) at a time, and it parses JSON with a reviver that drops `__proto__` keys.
 */
export const FRAME_HEADER_BYTES = 4;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

// JSON.parse makes `__proto__` an own data property, harmless until a later merge (Object.assign, a zod record)
// assigns it and swaps a prototype. `constructor` and `prototype` are ordinary keys as data: tool arguments keep them.
function safeReviver(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value;
}

/** Parses JSON text without letting it reach Object.prototype, and bounds nesting depth. */
export function parseUntrustedJson(text: string, maxDepth = 64): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new FrameError(`message nests deeper than ${maxDepth} levels`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return JSON.parse(text, safeReviver) as unknown;
}

export interface FrameDecoder {
  /** Feeds a chunk; returns the complete messages it finished. Throws FrameError on a violation. */
  push(chunk: Buffer): unknown[];
  /** Bytes held while waiting for the rest of a frame. */
  readonly bufferedBytes: number;
  /** true while a frame has started (some of its header or body arrived) but is not complete */
  readonly partial: boolean;
}

export function createFrameDecoder(maxFrameBytes: number): FrameDecoder {
  let chunks: Buffer[] = [];
  let held = 0;
  let need = -1;

  const take = (n: number): Buffer => {
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    chunks = rest.length > 0 ? [rest] : [];
    held = rest.length;
    return out;
  };

  return {
    get bufferedBytes() {
      return held;
    },
    get partial() {
      return need >= 0 || held > 0;
    },
    push(chunk) {
      chunks.push(chunk);
      held += chunk.length;
      const messages: unknown[] = [];
      for (;;) {
        if (need < 0) {
          if (held < FRAME_HEADER_BYTES) break;
          need = take(FRAME_HEADER_BYTES).readUInt32BE(0);
          if (need > maxFrameBytes) {
            throw new FrameError(`frame of ${need} bytes exceeds the limit of ${maxFrameBytes} bytes`);
          }
        }
        if (held < need) break;
        const body = take(need);
        need = -1;
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(body);
        } catch {
          throw new FrameError('frame is not valid UTF-8');
        }
        try {
          messages.push(parseUntrustedJson(text));
        } catch (error) {
          if (error instanceof FrameError) throw error;
          throw new FrameError('frame is not valid JSON');
        }
      }
      return messages;
    },
  };
}
