/**
 * The container side of the framing in src/proxy/frames.ts: a 4-byte unsigned big-endian length, then that many
 * bytes of UTF-8 JSON. Inbound frames are bounded before their body is buffered.
 */
import { P } from './primordials.ts';
import { FRAME_HEADER_BYTES } from './protocol.ts';

export const MAX_INBOUND_FRAME_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export function encodeFrame(message: unknown): Uint8Array {
  const body = P.encodeUtf8(P.JSONStringify(message));
  const n = body.length;
  const frame = new P.Uint8ArrayCtor(FRAME_HEADER_BYTES + n);
  frame[0] = (n >>> 24) & 0xff;
  frame[1] = (n >>> 16) & 0xff;
  frame[2] = (n >>> 8) & 0xff;
  frame[3] = n & 0xff;
  P.TypedArrayPrototypeSet(frame, body, FRAME_HEADER_BYTES);
  return frame;
}

export type ReadFn = (buffer: Uint8Array) => Promise<number | null>;

/** Reads whole frames from a byte stream (a Deno.Conn's read, captured before user code runs). */
export class FrameReader {
  readonly #read: ReadFn;
  readonly #maxFrameBytes: number;
  #chunk = new P.Uint8ArrayCtor(CHUNK_BYTES);
  #start = 0;
  #end = 0;

  constructor(read: ReadFn, maxFrameBytes = MAX_INBOUND_FRAME_BYTES) {
    this.#read = read;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The next message, or null when the peer closed the stream between frames. */
  async next(): Promise<unknown> {
    const header = await this.#readExactly(FRAME_HEADER_BYTES, true);
    if (header === null) return null;
    const n =
      (((header[0] as number) << 24) |
        ((header[1] as number) << 16) |
        ((header[2] as number) << 8) |
        (header[3] as number)) >>>
      0;
    if (n > this.#maxFrameBytes) {
      throw new FrameError(`frame of ${n} bytes exceeds the limit of ${this.#maxFrameBytes} bytes`);
    }
    const body = await this.#readExactly(n, false);
    let text: string;
    try {
      text = P.decodeUtf8(body as Uint8Array);
    } catch {
      throw new FrameError('frame is not valid UTF-8');
    }
    try {
      return P.JSONParse(text);
    } catch {
      throw new FrameError('frame is not valid JSON');
    }
  }

  async #readExactly(n: number, eofAllowed: boolean): Promise<Uint8Array | null> {
    const out = new P.Uint8ArrayCtor(n);
    let filled = 0;
    while (filled < n) {
      if (this.#start === this.#end) {
        const got = await this.#read(this.#chunk);
        if (got === null || got === 0) {
          if (eofAllowed && filled === 0) return null;
          throw new FrameError('the connection closed in the middle of a frame');
        }
        this.#start = 0;
        this.#end = got;
      }
      const take = P.MathMin(n - filled, this.#end - this.#start);
      P.TypedArrayPrototypeSet(
        out,
        P.TypedArrayPrototypeSubarray(this.#chunk, this.#start, this.#start + take),
        filled,
      );
      this.#start += take;
      filled += take;
    }
    return out;
  }
}

export type WriteFn = (bytes: Uint8Array) => Promise<number>;

/** Writes frames one after another (a frame is never interleaved with another); send() never rejects. */
export class FrameWriter {
  readonly #write: WriteFn;
  readonly #queue: { bytes: Uint8Array; done: (ok: boolean) => void }[] = [];
  #head = 0;
  #draining = false;
  #failed = false;

  constructor(write: WriteFn) {
    this.#write = write;
  }

  /** Resolves true once the whole frame is written, false if the connection failed. */
  send(message: unknown): Promise<boolean> {
    const bytes = encodeFrame(message);
    return new P.PromiseCtor<boolean>((done) => {
      if (this.#failed) return done(false);
      this.#queue[this.#queue.length] = { bytes, done };
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#head < this.#queue.length) {
      const item = this.#queue[this.#head] as { bytes: Uint8Array; done: (ok: boolean) => void };
      this.#queue[this.#head++] = undefined as never;
      let ok = !this.#failed;
      let off = 0;
      try {
        while (ok && off < item.bytes.length) {
          off += await this.#write(P.TypedArrayPrototypeSubarray(item.bytes, off));
        }
      } catch {
        ok = false;
        // Failing before the first byte (user code broke Deno's I/O glue) leaves the stream in step; after it, not.
        if (off > 0) this.#failed = true;
      }
      item.done(ok);
    }
    this.#queue.length = 0;
    this.#head = 0;
    this.#draining = false;
  }
}
