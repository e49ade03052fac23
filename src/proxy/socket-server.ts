import { chown, chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeFrame, createFrameDecoder, FrameError } from './frames.js';
import {
  CallMessageSchema,
  ContainerMessageSchema,
  SOCKET_NAME,
  type CallMessage,
  type HostMessage,
  type ReplyMessage,
  type ResultMessage,
  type RunMessage,
} from './protocol.js';

/** Handles the `call` messages of one execution (the mcpFactory proxy). */
export interface CallHandler {
  /** `signal` fires when the execution ends (its result arrived or its link closed): stop working for it then. */
  handle(msg: CallMessage, signal?: AbortSignal): Promise<ReplyMessage>;
}

export interface ExecutionSocket {
  /** host directory to bind-mount at /run/conductor */
  readonly dir: string;
  /** resolves when the in-container runtime has connected and said hello */
  readonly ready: Promise<void>;
  /** false once the runtime's connection has closed (the process died or was killed) */
  readonly alive: boolean;
  /** Sends the code and serves calls until the result arrives. Rejects on a protocol violation or a closed link. */
  run(message: RunMessage, calls: CallHandler | undefined): Promise<ResultMessage>;
  close(): Promise<void>;
}

export interface ExecutionSocketOptions {
  /** parent directory for per-execution socket directories (0700, owned by the conductor) */
  baseDir: string;
  maxFrameBytes: number;
  /** drop a connection that has not said hello within this time */
  helloTimeoutMs: number;
  /** uid/gid the container runs as: the socket is handed to it when the conductor runs as root */
  sandboxUid: number;
  /** every message after hello counts, answered or not; one more ends the run (default 10 000) */
  maxMessages?: number;
  /** calls still waiting for their reply; at the cap the host stops reading until replies go out (default 64) */
  maxOutstandingCalls?: number;
  /** reply bytes queued for a peer that does not read, above which the host stops reading (default 1 MiB) */
  maxUnsentBytes?: number;
  /**
   * replies left unsent this long (the peer stopped reading) end the run (default 30 s: generous, since code that
   * blocks its event loop also stops reading for a while, and memory is already bounded by the pause)
   */
  stallTimeoutMs?: number;
  /** a frame must complete within this time once its first byte arrived (default 30 s) */
  frameTimeoutMs?: number;
}

class ProtocolViolation extends Error {}

/** Answers when no MCP server is configured: nothing to list, every name unknown. */
const NO_SERVERS: CallHandler = {
  handle: (msg) =>
    Promise.resolve(
      msg.op === 'list'
        ? { t: 'reply', id: msg.id, ok: true, result: [] }
        : {
            t: 'reply',
            id: msg.id,
            ok: false,
            error: {
              message: `Unknown MCP server "${msg.server ?? ''}". Available: none (no MCP servers are configured)`,
              code: 'unknown_server',
            },
          },
    ),
};

export async function createExecutionSocket(opts: ExecutionSocketOptions): Promise<ExecutionSocket> {
  const maxMessages = opts.maxMessages ?? 10_000;
  const maxOutstandingCalls = opts.maxOutstandingCalls ?? 64;
  const maxUnsentBytes = opts.maxUnsentBytes ?? 1024 * 1024;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
  const frameTimeoutMs = opts.frameTimeoutMs ?? 30_000;
  const dir = await mkdtemp(join(opts.baseDir, 'x-'));
  const path = join(dir, SOCKET_NAME);
  let conn: Socket | undefined;
  let onMessage: (msg: unknown) => void = () => undefined;
  let onEnd: (error: Error) => void = () => undefined;
  let ended: Error | undefined;
  let helloSeen = false;
  let outstanding = 0;
  let helloTimer: NodeJS.Timeout | undefined;
  let frameTimer: NodeJS.Timeout | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  let timeFrame: (newFrame: boolean) => void = () => undefined;
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  ready.catch(() => undefined);

  const fail = (error: Error) => {
    if (ended) return;
    ended = error;
    clearTimeout(helloTimer);
    clearTimeout(frameTimer);
    clearTimeout(stallTimer);
    conn?.destroy();
    rejectReady(error);
    onEnd(error);
  };

  // Nothing a peer does may make the host hold unbounded memory: while replies pile up unread, or too many calls
  // wait for theirs, the host stops reading (the peer's writes then block in its own kernel buffer) and parks the
  // messages it already decoded.
  let holding = false;
  const parked: unknown[] = [];
  let handle: (raw: unknown) => void = () => undefined;
  const pump = () => {
    while (!holding && !ended && parked.length > 0) handle(parked.shift());
  };
  const flow = () => {
    const socket = conn;
    if (!socket || socket.destroyed || ended) return;
    const backlog = socket.writableLength > maxUnsentBytes;
    if (backlog && !stallTimer) {
      stallTimer = setTimeout(
        () =>
          fail(
            new ProtocolViolation(
              `the sandbox runtime stopped reading replies (${socket.writableLength} bytes unsent for ${stallTimeoutMs} ms)`,
            ),
          ),
        stallTimeoutMs,
      );
    } else if (!backlog && stallTimer) {
      clearTimeout(stallTimer);
      stallTimer = undefined;
    }
    const hold = backlog || outstanding >= maxOutstandingCalls;
    if (hold && !holding) {
      holding = true;
      socket.pause();
      // The peer cannot finish a frame the host is not reading.
      clearTimeout(frameTimer);
      frameTimer = undefined;
    } else if (!hold && holding) {
      holding = false;
      pump();
      if (!holding) {
        socket.resume();
        timeFrame(true);
      }
    }
  };

  const send = (message: HostMessage) => {
    if (ended || !conn || conn.destroyed) return;
    conn.write(encodeFrame(message));
    flow();
  };

  const server: Server = createServer({ allowHalfOpen: false }, (socket) => {
    // Only the runtime's own connection, opened before any user code ran, is served.
    if (conn) {
      socket.destroy();
      return;
    }
    conn = socket;
    const decoder = createFrameDecoder(opts.maxFrameBytes);
    let messageCount = 0;
    helloTimer = setTimeout(
      () => fail(new ProtocolViolation('no hello from the sandbox runtime')),
      opts.helloTimeoutMs,
    );
    // A frame's clock starts with its first byte, so a peer cannot hold a connection by dribbling one.
    timeFrame = (newFrame: boolean) => {
      if (!decoder.partial || holding) {
        clearTimeout(frameTimer);
        frameTimer = undefined;
      } else if (newFrame || !frameTimer) {
        clearTimeout(frameTimer);
        frameTimer = setTimeout(
          () => fail(new ProtocolViolation(`a frame did not complete within ${frameTimeoutMs} ms`)),
          frameTimeoutMs,
        );
      }
    };
    handle = (raw) => {
      if (helloSeen) return onMessage(raw);
      const parsed = ContainerMessageSchema.safeParse(raw);
      if (!parsed.success || parsed.data.t !== 'hello') return fail(new ProtocolViolation('expected hello'));
      helloSeen = true;
      clearTimeout(helloTimer);
      resolveReady();
    };
    socket.on('data', (chunk: Buffer) => {
      if (ended) return;
      let messages: unknown[];
      const wasPartial = decoder.partial;
      try {
        messages = decoder.push(chunk);
      } catch (error) {
        fail(error instanceof FrameError ? new ProtocolViolation(error.message) : (error as Error));
        return;
      }
      timeFrame(messages.length > 0 || !wasPartial);
      // Every message counts, answered or not; the hello is the one free message.
      messageCount += messages.length;
      if (messageCount > maxMessages + 1)
        return fail(new ProtocolViolation(`the sandbox runtime sent more than ${maxMessages} messages`));
      parked.push(...messages);
      pump();
    });
    socket.on('drain', flow);
    socket.on('error', () => undefined);
    socket.on('close', () => fail(new ProtocolViolation('the sandbox runtime closed its connection')));
  });
  server.maxConnections = 4;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await handToSandbox(dir, path, opts.sandboxUid);

  let closed = false;
  return {
    dir,
    ready,
    get alive() {
      return helloSeen && !ended && conn !== undefined && !conn.destroyed;
    },
    run(message, calls) {
      return new Promise<ResultMessage>((resolve, reject) => {
        if (ended) return reject(ended);
        if (!conn || !helloSeen) return reject(new ProtocolViolation('the sandbox runtime is not connected'));
        const handler = calls ?? NO_SERVERS;
        // Fires when this run ends however it ends, so upstream work started for it stops with it.
        const execution = new AbortController();
        let settled = false;
        const finish = () => {
          settled = true;
          onMessage = () => undefined;
          execution.abort(new Error('the execution ended'));
        };
        onEnd = (error) => {
          if (settled) return;
          finish();
          reject(error);
        };
        onMessage = (raw) => {
          const parsed = ContainerMessageSchema.safeParse(raw);
          if (!parsed.success) {
            // A malformed call still gets an answer when it carries a usable id; anything else ends the link.
            const id = (raw as { id?: unknown } | null)?.id;
            if ((raw as { t?: unknown } | null)?.t === 'call' && Number.isSafeInteger(id)) {
              const reason = CallMessageSchema.safeParse(raw).error?.issues[0]?.message ?? 'invalid call';
              return send({
                t: 'reply',
                id: id as number,
                ok: false,
                error: { message: `invalid call: ${reason}`, code: 'bad_request' },
              });
            }
            return fail(new ProtocolViolation('the sandbox runtime sent an invalid message'));
          }
          const msg = parsed.data;
          if (msg.t === 'result') {
            finish();
            resolve(msg);
          } else if (msg.t === 'call') {
            outstanding++;
            flow();
            void handler
              .handle(msg, execution.signal)
              .catch((): ReplyMessage => ({
                t: 'reply',
                id: msg.id,
                ok: false,
                error: { message: 'the conductor could not handle the call', code: 'internal' },
              }))
              .then((reply) => {
                outstanding--;
                send(reply);
              });
          } else {
            fail(new ProtocolViolation('unexpected hello'));
          }
        };
        send(message);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      fail(new ProtocolViolation('the execution socket was closed'));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function handToSandbox(dir: string, path: string, uid: number): Promise<void> {
  if (process.getuid?.() === 0) {
    await chown(dir, uid, uid);
    await chown(path, uid, uid);
    await chmod(dir, 0o700);
    await chmod(path, 0o600);
  } else {
    // Not root: the base dir (0700, ours) keeps other host users out; the sandbox user needs to reach the socket.
    await chmod(dir, 0o711);
    await chmod(path, 0o666);
  }
}

export function isProtocolViolation(error: unknown): boolean {
  return error instanceof ProtocolViolation;
}
