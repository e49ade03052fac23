import type { TypeErrorInfo } from '../core/index.js';
import type { CheckRequest, CheckVerdict, CodeChecker, SandboxProfile } from '../sandbox/index.js';
import { lineColumnAt, offsetAt, userOffset } from '../wrap/index.js';
import { CheckerSession, type CheckerDeps, type LspDiagnostic } from './checker-session.js';
import type { ToolTypes } from './tool-types.js';

export interface TypeChecker extends CodeChecker {
  /** Removes the checker's container, if one runs. */
  close(): Promise<void>;
}

export interface TypeCheckerOptions {
  deps: CheckerDeps;
  profile: SandboxProfile;
  toolTypes: ToolTypes;
  /** a checker nobody used for this long is removed (default 10 min) */
  idleMs?: number;
  /** a checker is replaced after this many checks, so its memory stays bounded (default 500) */
  maxChecks?: number;
}

const MAX_ERRORS = 50;
const MAX_MESSAGE_CHARS = 2000;

/** Errors (not warnings or hints) of TypeScript and of Deno's module resolution, in the caller's coordinates. */
export function toTypeErrors(
  diagnostics: LspDiagnostic[],
  request: Pick<CheckRequest, 'code' | 'module' | 'segments'>,
  uri: string,
): TypeErrorInfo[] {
  const out: TypeErrorInfo[] = [];
  for (const d of diagnostics) {
    if (d.severity !== 1 || (d.source !== 'deno-ts' && d.source !== 'deno')) continue;
    const { line, character } = d.range?.start ?? { line: 0, character: 0 };
    const at = userOffset(request.segments, offsetAt(request.module, line, character));
    // Text the wrapper added (the `(0, x)` around a last expression, say) is not the caller's to fix.
    if (at === undefined) continue;
    const code = typeof d.code === 'number' ? `TS${d.code}` : String(d.code ?? 'error').slice(0, 60);
    const message = String(d.message).split(uri).join('code.ts').slice(0, MAX_MESSAGE_CHARS);
    out.push({ ...lineColumnAt(request.code, at), code, message });
    if (out.length === MAX_ERRORS) break;
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * One tenant's type checker: a warm language server in a sandbox container (see CheckerSession), started on the
 * first check, serving checks one at a time, replaced when it fails, times out or has served `maxChecks`, and
 * removed when idle. A check past its deadline is answered as a timeout and its checker is killed (hostile types
 * can make the checker spin).
 */
class LspTypeChecker implements TypeChecker {
  readonly #o: TypeCheckerOptions;
  #session: Promise<CheckerSession> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #idle: NodeJS.Timeout | undefined;
  #sequence = 0;
  #closed = false;

  constructor(options: TypeCheckerOptions) {
    this.#o = options;
  }

  check(request: CheckRequest): Promise<CheckVerdict> {
    const turn = this.#queue.then(() => this.#check(request));
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idle);
    await this.#drop();
  }

  async #check(request: CheckRequest): Promise<CheckVerdict> {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    if (this.#closed) throw new Error('the type checker is closed');
    clearTimeout(this.#idle);
    const declarations = await this.#o.toolTypes.forCode(request.code);
    const starting = (this.#session ??= CheckerSession.start(this.#o.deps, this.#o.profile));
    starting.catch(() => {
      if (this.#session === starting) this.#session = undefined;
    });
    // Warming up is the checker's start-up, bounded by its own timeout, not by the code's: only the check is.
    const session = await this.#within(starting, request, ms, false);
    if (!(session instanceof CheckerSession)) return session;
    const uri = `file:///check/${++this.#sequence}/code.ts`;
    session.useDeclarations(declarations);
    const found = await this.#within(session.diagnose(uri, request.module), request, ms);
    if (!Array.isArray(found)) {
      // Timed out, stopped or failed in the middle of a check: this checker cannot be trusted with the next one.
      const oom = found.kind === 'unfinished' && found.status === 'error' && (await session.oomKilled());
      await this.#drop();
      return oom ? this.#unfinished(ms(), 'error', this.#outOfMemory()) : found;
    }
    if (session.checks >= (this.#o.maxChecks ?? 500)) await this.#drop();
    else this.#idle = setTimeout(() => void this.#drop(), this.#o.idleMs ?? 600_000).unref();
    const errors = toTypeErrors(found, request, uri);
    return errors.length ? { kind: 'failed', ms: ms(), errors } : { kind: 'passed', ms: ms() };
  }

  /**
   * Waits for `work` until the caller's signal and, with `timed`, the check's deadline (measured from now); a
   * stopped checker is an unfinished check.
   */
  async #within<T>(
    work: Promise<T>,
    request: CheckRequest,
    ms: () => number,
    timed = true,
  ): Promise<T | CheckVerdict> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<CheckVerdict>((resolve) => {
      if (!timed) return;
      timer = setTimeout(
        () =>
          resolve(
            this.#unfinished(
              ms(),
              'timeout',
              `The type check did not finish within ${request.timeoutMs} ms.`,
            ),
          ),
        request.timeoutMs,
      );
    });
    const stopped = new Promise<CheckVerdict>((resolve) =>
      request.signal?.addEventListener(
        'abort',
        () => resolve(this.#unfinished(ms(), 'error', 'The type check was stopped: the call was cancelled.')),
        { once: true },
      ),
    );
    const failed = (error: unknown): CheckVerdict =>
      this.#unfinished(ms(), 'error', `The type check could not be completed: ${(error as Error).message}`);
    try {
      return await Promise.race([work.catch(failed), deadline, stopped]);
    } finally {
      clearTimeout(timer);
    }
  }

  #unfinished(ms: number, status: 'error' | 'timeout', message: string): CheckVerdict {
    return { kind: 'unfinished', ms, status, error: { name: 'TypeCheckError', message } };
  }

  #outOfMemory(): string {
    const mb = Math.max(this.#o.profile.policy.container.memoryMb, 512);
    return `The type checker ran out of memory (limit ${mb} MB) on this code; the code was not run.`;
  }

  async #drop(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    const s = await session?.catch(() => undefined);
    await s?.dispose().catch(() => undefined);
  }
}

export function createTypeChecker(options: TypeCheckerOptions): TypeChecker {
  return new LspTypeChecker(options);
}
