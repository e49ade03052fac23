/**
 * The sandbox's main module. It connects to the conductor's socket, says hello, receives the code, installs
 * `mcpFactory` and `progress`, runs the code as a module and reports its outcome (see src/proxy/protocol.ts for the
 * sequence).
 *
 * Exit codes: 0 once the result frame is written, whatever the user's code did (its failure is in the frame);
 * 70 when the runtime itself cannot do its job (no socket, protocol violation, the host went away).
 * After the result the process stays until the host closes the socket (at most HOST_CLOSE_WAIT_MS): the host reads
 * the container's cgroup (peak memory, pids) meanwhile, and a cgroup goes away with its last process.
 * The bootstrap uses no top-level await, so when the user's code waits on something that can never happen
 * Deno fires `beforeunload` and the run fails with a clear error instead of hanging until the deadline.
 */
import { P, restoreIntrinsics } from './primordials.ts';
import { DEFAULT_SOCKET_PATH, endMarker, PROTOCOL_VERSION, VALUE_PART_CHARS } from './protocol.ts';
import { FrameReader, FrameWriter } from './frames.ts';
import { egressFromArgs, installEgress } from './egress.ts';
import { McpConnection } from './mcp-connection.ts';
import { createMcpFactory } from './mcp-factory.ts';
import { createProgress } from './progress.ts';
import { createImportPlaybook, frozenPermissions } from './playbooks.ts';
import { renderValue, utf8Prefix } from './render.ts';
import { type Cleaner, createCleaner, type ErrorInfo, toErrorInfo, toLoadErrorInfo } from './errors.ts';

const CONNECT_TIMEOUT_MS = 5_000;
const CONNECT_RETRY_MS = 50;
const EXIT_RUNTIME_FAILURE = 70;
const HOST_CLOSE_WAIT_MS = 2_000;
const RUNTIME_DIR_URL = new URL('./', import.meta.url).href;

/**
 * `retainBytes`: how much of a return value past maxReturnBytes the host keeps (sent as value parts). `globals`:
 * what WORKSPACE_DIR and PERMISSIONS say (absent from an older host: no workspace, no permissions).
 */
type Run = {
  code: string;
  nonce: string;
  maxReturnBytes: number;
  retainBytes: number;
  globals: { workspaceDir: string | undefined; permissions: unknown };
};
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | { ok: false; info: ErrorInfo };

const sleep = (ms: number) => new P.PromiseCtor<void>((resolve) => P.setTimeout(resolve, ms));

function die(message: string): never {
  try {
    writeAllSync(P.writeStderrSync, P.encodeUtf8(`mcp-conductor runtime: ${message}\n`));
  } catch {
    // Nowhere left to say it; the exit code still does.
  }
  return P.exit(EXIT_RUNTIME_FAILURE);
}

function writeAllSync(writeSync: (b: Uint8Array) => number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) off += writeSync(P.TypedArrayPrototypeSubarray(bytes, off));
}

/** An argument (no permission needed), else CONDUCTOR_SOCKET (when --allow-env grants it), else the default. */
function socketPath(): string {
  const arg = P.args[0];
  if (typeof arg === 'string' && arg !== '' && P.StringPrototypeSlice(arg, 0, 2) !== '--') return arg;
  try {
    const env = P.envGet('CONDUCTOR_SOCKET');
    if (env !== undefined && env !== '') return env;
  } catch {
    // No --allow-env for it: the production default.
  }
  return DEFAULT_SOCKET_PATH;
}

/** The host creates the socket before starting the container, but allow for a slow bind mount. */
async function connect(path: string): Promise<Deno.UnixConn> {
  const deadline = P.DateNow() + CONNECT_TIMEOUT_MS;
  for (;;) {
    try {
      return await P.connect({ transport: 'unix', path });
    } catch (error) {
      const retry = error instanceof P.errors.NotFound || error instanceof P.errors.ConnectionRefused;
      if (!retry || P.DateNow() >= deadline) throw error;
      await sleep(CONNECT_RETRY_MS);
    }
  }
}

function parseRun(message: unknown): Run {
  const m = (typeof message === 'object' && message !== null ? message : {}) as Record<string, unknown>;
  const { t, code, nonce, maxReturnBytes, retainBytes, globals } = m;
  if (t !== 'run' || typeof code !== 'string' || typeof nonce !== 'string' || nonce === '') {
    die('expected a run frame from the host');
  }
  if (typeof maxReturnBytes !== 'number' || !(maxReturnBytes >= 0))
    die('the run frame has no valid maxReturnBytes');
  const retain = typeof retainBytes === 'number' && retainBytes > 0 ? retainBytes : 0;
  const g = (typeof globals === 'object' && globals !== null ? globals : {}) as Record<string, unknown>;
  const workspaceDir = typeof g.workspaceDir === 'string' ? g.workspaceDir : undefined;
  return {
    code,
    nonce,
    maxReturnBytes,
    retainBytes: retain,
    globals: { workspaceDir, permissions: g.permissions },
  };
}

/** Imports the code and awaits its default export; a module that fails to load is reported as such. */
async function runModule(url: string, cleaner: Cleaner): Promise<Outcome> {
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    return { ok: false, info: toLoadErrorInfo(error, cleaner) };
  }
  try {
    const entry = module.default;
    // Called detached so the stack says `__conductorMain`, not `Module.__conductorMain`.
    const value: unknown = typeof entry === 'function' ? await (entry as () => unknown)() : await entry;
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * The result frame, and the whole rendered value when it is past maxReturnBytes and the host keeps it (rendered
 * once, up to the larger of the two: a getter with side effects is not run twice).
 */
function resultFrame(
  outcome: Outcome,
  run: Run,
  cleaner: Cleaner,
): { frame: Record<string, unknown>; whole?: string } {
  if (!outcome.ok) {
    const error = 'info' in outcome ? outcome.info : toErrorInfo(outcome.error, cleaner);
    return { frame: { t: 'result', ok: false, error } };
  }
  const max = run.retainBytes > run.maxReturnBytes ? run.retainBytes : run.maxReturnBytes;
  const rendered = renderValue(outcome.value, max, { cleanStack: cleaner.stack });
  if (rendered.json === undefined) return { frame: { t: 'result', ok: true, valueTruncated: false } };
  const shown = utf8Prefix(rendered.json, run.maxReturnBytes);
  const frame = { t: 'result', ok: true, value: shown.text, valueTruncated: shown.cut || rendered.truncated };
  return shown.cut && run.retainBytes > 0 ? { frame, whole: rendered.json } : { frame };
}

/**
 * `Deno[Deno.internal]` needs no permission and holds Deno's core: with it, code could write frames of its own on
 * this runtime's connection (a forged result, say). Deno's own modules keep their own reference to it (only `deno
 * test`, `jupyter` and the REPL read it through the global), and nothing here uses it, so it goes before any user code
 * is loaded. Workers get their own, but their resources are their own too: they cannot reach this connection.
 * The host still bounds everything it parses from the connection; this only takes the easy way in away.
 */
function hideInternals(): void {
  // Not in Deno's public types: the symbol is there at run time all the same.
  const deno = Deno as unknown as Record<symbol, unknown> & { internal: symbol };
  delete deno[deno.internal];
  if (deno[deno.internal] !== undefined) die("cannot hide Deno's internals from the code");
}

async function main(): Promise<void> {
  hideInternals();
  // Before hello, so a pooled sandbox is ready for HTTP(S) before any code arrives.
  try {
    const egress = egressFromArgs(P.args);
    if (egress) await installEgress(egress);
  } catch (error) {
    return die(`cannot set up egress: ${error instanceof Error ? error.message : P.StringCtor(error)}`);
  }
  const path = socketPath();
  let conn: Deno.UnixConn;
  try {
    conn = await connect(path);
  } catch (error) {
    return die(`cannot connect to ${path}: ${error instanceof Error ? error.message : P.StringCtor(error)}`);
  }
  // Captured now: user code could patch the connection's prototype later.
  const read = P.uncurry(conn.read);
  const write = P.uncurry(conn.write);
  const ref = P.uncurry(conn.ref);
  const unref = P.uncurry(conn.unref);
  const close = P.uncurry(conn.close);
  const reader = new FrameReader((buffer) => read(conn, buffer));
  const writer = new FrameWriter((bytes) => write(conn, bytes));

  if (!(await writer.send({ t: 'hello', v: PROTOCOL_VERSION }))) die('the host closed the connection');
  let run: Run;
  try {
    run = parseRun(await reader.next());
  } catch (error) {
    return die(`no run frame: ${error instanceof Error ? error.message : P.StringCtor(error)}`);
  }

  // While no call waits for a reply, the socket must not keep the process alive (see beforeunload below).
  const connection = new McpConnection(
    (message) => writer.send(message),
    (busy) => (busy ? ref(conn) : unref(conn)),
  );
  P.ObjectDefineProperty(P.globalThis, 'mcpFactory', {
    value: createMcpFactory(connection),
    writable: false,
    configurable: false,
    enumerable: false,
  });
  const installed: Record<string, unknown> = {
    progress: createProgress((message) => writer.send(message)),
    importPlaybook: createImportPlaybook(connection),
    WORKSPACE_DIR: run.globals.workspaceDir,
    PERMISSIONS: frozenPermissions(run.globals.permissions),
  };
  for (const name of P.ObjectKeys(installed)) {
    P.ObjectDefineProperty(P.globalThis, name, {
      value: installed[name],
      writable: false,
      configurable: false,
      enumerable: false,
    });
  }

  const url = `data:application/typescript;base64,${P.toBase64(P.encodeUtf8(run.code))}`;
  const cleaner = createCleaner(url, RUNTIME_DIR_URL);
  let finished = false;

  const finish = async (outcome: Outcome): Promise<never> => {
    finished = true;
    let result: Record<string, unknown>;
    let whole: string | undefined;
    try {
      ({ frame: result, whole } = resultFrame(outcome, run, cleaner));
    } catch (error) {
      // Rendering is built not to throw; should it anyway, the run still ends with a report.
      const message = `the runtime could not report the result: ${P.StringCtor(error)}`;
      result = { t: 'result', ok: false, error: { name: 'Error', message } };
    }
    // The markers tell the host it has every byte the code wrote before them.
    const marker = P.encodeUtf8(endMarker(run.nonce));
    try {
      writeAllSync(P.writeStdoutSync, marker);
    } catch {
      // The code closed its stdout: the host falls back on the end of the stream.
    }
    try {
      writeAllSync(P.writeStderrSync, marker);
    } catch {
      // As above, for stderr.
    }
    restoreIntrinsics();
    ref(conn);
    let sent = true;
    for (let at = 0; whole !== undefined && sent && at < whole.length; at += VALUE_PART_CHARS) {
      sent = await writer.send({
        t: 'value_part',
        text: P.StringPrototypeSlice(whole, at, at + VALUE_PART_CHARS),
      });
    }
    sent = sent && (await writer.send(result));
    if (sent) {
      // The socket stays referenced, so this wait holds the process even when nothing else is pending.
      // No Promise.race: the code may have replaced it (`then` is restored above).
      await new P.PromiseCtor<void>((resolve) => {
        const timer = P.setTimeout(resolve, HOST_CLOSE_WAIT_MS);
        void hostClosed.then(() => {
          P.clearTimeout(timer);
          resolve();
        });
      });
    }
    try {
      close(conn);
    } catch {
      // Already closed by the host.
    }
    return P.exit(sent ? 0 : EXIT_RUNTIME_FAILURE);
  };
  const fail = (error: unknown) => {
    if (!finished) void finish({ ok: false, error });
  };

  P.addEventListener('unhandledrejection', (event: PromiseRejectionEvent) => {
    event.preventDefault();
    fail(event.reason);
  });
  P.addEventListener('error', (event: ErrorEvent) => {
    event.preventDefault();
    fail(event.error ?? event.message);
  });
  P.addEventListener('beforeunload', (event: Event) => {
    if (finished) return;
    event.preventDefault();
    const message =
      'The code never finished: it is waiting for something that can no longer happen ' +
      '(an await on a promise that nothing resolves?).';
    void finish({ ok: false, info: { name: 'Error', message } });
  });

  const hostClosed = (async () => {
    try {
      for (;;) {
        const message = (await reader.next()) as { t?: unknown; id?: unknown } | null;
        if (message === null) break;
        if (message.t === 'reply') connection.deliver(message);
      }
      connection.close('the host closed it');
    } catch (error) {
      connection.close(error instanceof Error ? error.message : P.StringCtor(error));
    }
  })();
  unref(conn);

  const outcome = await runModule(url, cleaner);
  if (finished) return;
  // A rejection nobody handled in the code's last moments is reported after a macrotask turn: wait for it.
  await sleep(0);
  if (!finished) await finish(outcome);
}

void main();
