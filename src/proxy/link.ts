import type { Socket } from 'node:net';
import { createFrameDecoder, encodeFrame, FrameError, type FrameDecoder } from './frames.js';

/** The peer broke the rules of the link or the protocol on top of it; the run ends with this as its reason. */
export class ProtocolViolation extends Error {}

export function isProtocolViolation(error: unknown): boolean {
  return error instanceof ProtocolViolation;
}

export interface LinkLimits {
  maxFrameBytes: number;
  /** every message after the first counts, answered or not; one more ends the link */
  maxMessages: number;
  /** work the layer above still owes the peer (calls awaiting replies); at the cap, reading pauses */
  maxPending: number;
  /** bytes queued for a peer that does not read, above which reading pauses */
  maxUnsentBytes: number;
  /** bytes left unsent this long (the peer stopped reading) end the link */
  stallTimeoutMs: number;
  /** a frame must complete within this time once its first byte arrived */
  frameTimeoutMs: number;
}

/**
 * One framed connection to an untrusted peer: length-prefixed JSON in both directions, with every bound the peer
 * cannot talk its way past. Nothing the peer does makes the host hold unbounded memory: while replies pile up unread,
 * or too much work is pending, the link stops reading (the peer's writes then block in its own kernel buffer) and
 * parks the messages it already decoded. What the messages mean is the session's business (`onMessage`), like the
 * MCP SDK's Transport under its Protocol.
 */
export class FramedLink {
  onMessage: (message: unknown) => void = () => undefined;
  /** called once, with the reason, when the link ends for any reason */
  onClose: (reason: Error) => void = () => undefined;

  readonly #socket: Socket;
  readonly #limits: LinkLimits;
  readonly #decoder: FrameDecoder;
  readonly #parked: unknown[] = [];
  #pending = 0;
  #messages = 0;
  #holding = false;
  #ended: Error | undefined;
  #frameTimer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, limits: LinkLimits) {
    this.#socket = socket;
    this.#limits = limits;
    this.#decoder = createFrameDecoder(limits.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('drain', () => this.#flow());
    socket.on('error', () => undefined);
    socket.on('close', () => this.close(new ProtocolViolation('the sandbox runtime closed its connection')));
  }

  /** Why the link ended, or undefined while it is open. */
  get ended(): Error | undefined {
    return this.#ended;
  }

  get open(): boolean {
    return this.#ended === undefined && !this.#socket.destroyed;
  }

  send(message: unknown): void {
    if (!this.open) return;
    this.#socket.write(encodeFrame(message));
    this.#flow();
  }

  /** The layer above owes one more (+1) or one less (-1) answer; reading pauses while too many are owed. */
  adjustPending(delta: number): void {
    this.#pending += delta;
    this.#flow();
  }

  close(reason: Error): void {
    if (this.#ended) return;
    this.#ended = reason;
    clearTimeout(this.#frameTimer);
    clearTimeout(this.#stallTimer);
    this.#socket.destroy();
    this.onClose(reason);
  }

  #receive(chunk: Buffer): void {
    if (this.#ended) return;
    const wasPartial = this.#decoder.partial;
    let messages: unknown[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (error) {
      this.close(error instanceof FrameError ? new ProtocolViolation(error.message) : (error as Error));
      return;
    }
    this.#timeFrame(messages.length > 0 || !wasPartial);
    // Every message counts, answered or not; the first (the hello) is free.
    this.#messages += messages.length;
    if (this.#messages > this.#limits.maxMessages + 1) {
      this.close(
        new ProtocolViolation(`the sandbox runtime sent more than ${this.#limits.maxMessages} messages`),
      );
      return;
    }
    this.#parked.push(...messages);
    this.#pump();
  }

  #pump(): void {
    while (!this.#holding && !this.#ended && this.#parked.length > 0) this.onMessage(this.#parked.shift());
  }

  /** A frame's clock starts with its first byte, so a peer cannot hold a connection by dribbling one. */
  #timeFrame(newFrame: boolean): void {
    if (!this.#decoder.partial || this.#holding) {
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
    } else if (newFrame || !this.#frameTimer) {
      clearTimeout(this.#frameTimer);
      const ms = this.#limits.frameTimeoutMs;
      this.#frameTimer = setTimeout(
        () => this.close(new ProtocolViolation(`a frame did not complete within ${ms} ms`)),
        ms,
      );
    }
  }

  #flow(): void {
    const socket = this.#socket;
    if (!this.open) return;
    const backlog = socket.writableLength > this.#limits.maxUnsentBytes;
    if (backlog && !this.#stallTimer) {
      const ms = this.#limits.stallTimeoutMs;
      this.#stallTimer = setTimeout(
        () =>
          this.close(
            new ProtocolViolation(
              `the sandbox runtime stopped reading replies (${socket.writableLength} bytes unsent for ${ms} ms)`,
            ),
          ),
        ms,
      );
    } else if (!backlog && this.#stallTimer) {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
    }
    const hold = backlog || this.#pending >= this.#limits.maxPending;
    if (hold && !this.#holding) {
      this.#holding = true;
      socket.pause();
      // The peer cannot finish a frame the host is not reading.
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
    } else if (!hold && this.#holding) {
      this.#holding = false;
      this.#pump();
      if (!this.#holding) {
        socket.resume();
        this.#timeFrame(true);
      }
    }
  }
}
