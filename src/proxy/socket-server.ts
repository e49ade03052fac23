import { chown, chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeFrame, createFrameDecoder, FrameError } from './frames.js';
import {
  CallMessageSchema,
  ContainerMessageSchema,
  SOCKET_NAME,
  type CallMessage,
  type ReplyMessage,
  type ResultMessage,
  type RunMessage,
} from './protocol.js';

/** Handles the `call` messages of one execution (the mcpFactory proxy). */
export interface CallHandler {
  handle(msg: CallMessage): Promise<ReplyMessage>;
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
}

class ProtocolViolation extends Error {}

export async function createExecutionSocket(opts: ExecutionSocketOptions): Promise<ExecutionSocket> {
  const dir = await mkdtemp(join(opts.baseDir, 'x-'));
  const path = join(dir, SOCKET_NAME);
  let conn: Socket | undefined;
  let onMessage: (msg: unknown) => void = () => undefined;
  let onEnd: (error: Error) => void = () => undefined;
  let helloSeen = false;
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  ready.catch(() => undefined);

  const server: Server = createServer({ allowHalfOpen: false }, (socket) => {
    // Only the runtime's own connection, opened before any user code ran, is served.
    if (conn) {
      socket.destroy();
      return;
    }
    conn = socket;
    const decoder = createFrameDecoder(opts.maxFrameBytes);
    const helloTimer = setTimeout(
      () => fail(new ProtocolViolation('no hello from the sandbox runtime')),
      opts.helloTimeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(helloTimer);
      socket.destroy();
      rejectReady(error);
      onEnd(error);
    };
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (error) {
        fail(error instanceof FrameError ? new ProtocolViolation(error.message) : (error as Error));
        return;
      }
      for (const raw of messages) {
        if (!helloSeen) {
          const parsed = ContainerMessageSchema.safeParse(raw);
          if (!parsed.success || parsed.data.t !== 'hello')
            return fail(new ProtocolViolation('expected hello'));
          helloSeen = true;
          clearTimeout(helloTimer);
          resolveReady();
          continue;
        }
        onMessage(raw);
      }
    });
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
      return helloSeen && conn !== undefined && !conn.destroyed;
    },
    run(message, calls) {
      return new Promise<ResultMessage>((resolve, reject) => {
        const socket = conn;
        if (!socket || !helloSeen)
          return reject(new ProtocolViolation('the sandbox runtime is not connected'));
        let settled = false;
        onEnd = (error) => {
          if (settled) return;
          settled = true;
          reject(error);
        };
        onMessage = (raw) => {
          const parsed = ContainerMessageSchema.safeParse(raw);
          if (!parsed.success) {
            // A malformed call still gets an answer when it carries a usable id; anything else ends the link.
            const id = (raw as { id?: unknown } | null)?.id;
            if ((raw as { t?: unknown } | null)?.t === 'call' && Number.isSafeInteger(id)) {
              const reason = CallMessageSchema.safeParse(raw).error?.issues[0]?.message ?? 'invalid call';
              socket.write(
                encodeFrame({
                  t: 'reply',
                  id,
                  ok: false,
                  error: { message: `invalid call: ${reason}`, code: 'bad_request' },
                }),
              );
              return;
            }
            socket.destroy();
            return onEnd(new ProtocolViolation('the sandbox runtime sent an invalid message'));
          }
          const msg = parsed.data;
          if (msg.t === 'result') {
            settled = true;
            resolve(msg);
          } else if (msg.t === 'call') {
            const reply: Promise<ReplyMessage> = calls
              ? calls.handle(msg)
              : Promise.resolve({
                  t: 'reply',
                  id: msg.id,
                  ok: false,
                  error: { message: 'No MCP servers are configured.', code: 'unknown_server' },
                });
            void reply.then((r) => !socket.destroyed && socket.write(encodeFrame(r)));
          } else {
            socket.destroy();
            onEnd(new ProtocolViolation('unexpected hello'));
          }
        };
        socket.write(encodeFrame(message));
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      conn?.destroy();
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
