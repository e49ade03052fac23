import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { SandboxError } from '../core/index.js';
import { containerLabels, createDemuxer, type ContainerSpec, type DockerPort } from '../docker/index.js';
import { dockerUser, tmpfsOptions, type ContainerLease, type SandboxProfile } from '../sandbox/index.js';
import { LspClient } from './lsp.js';

export interface CheckerDeps {
  docker: DockerPort;
  instanceId: string;
  ownerToken: string;
  /** every container takes its place in the conductor's budget, the checker's too */
  acquireLease(): Promise<ContainerLease>;
  /** specifiers pre-cached in the image: their types are loaded while the checker warms up */
  dependencies: string[];
  /** how long a new checker may take to be ready (default 90 s: it parses every library's types) */
  startupTimeoutMs?: number;
}

/** The language server's own view of a diagnostic (0-based positions, UTF-16 columns). */
export interface LspDiagnostic {
  range: { start: { line: number; character: number } };
  severity?: number;
  code?: string | number;
  source?: string;
  message: string;
}

/** The runtime's declarations in the image; file: URLs, since a plain path would load them a second time. */
const RUNTIME_TYPES = ['mcp-factory.d.ts', 'progress.d.ts', 'globals.d.ts'].map(
  (file) => `file:///opt/conductor/runtime/${file}`,
);
const TOOLS_URI = 'file:///check/mcp-tools.d.ts';
/** The type checker keeps every library's syntax trees in memory: about 300 MB with the default packages. */
const MIN_MEMORY_MB = 512;
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** The checker's container: the sandbox image and limits, with no workspace, no socket and no network. */
function checkerSpec(deps: CheckerDeps, profile: SandboxProfile, id: string): ContainerSpec {
  const { container } = profile.policy;
  const memoryMb = Math.max(container.memoryMb, MIN_MEMORY_MB);
  return {
    name: `mcp-conductor-${deps.instanceId.slice(0, 8)}-check-${id.slice(0, 12)}`,
    image: profile.image,
    cmd: ['deno', 'lsp'],
    env: [`DENO_V8_FLAGS=--max-old-space-size=${Math.floor(memoryMb * 0.75)}`],
    labels: containerLabels({
      instanceId: deps.instanceId,
      executionId: `check-${id}`,
      tenant: profile.tenant,
      socketDir: '',
      host: hostname(),
      pid: process.pid,
      owner: deps.ownerToken,
    }),
    user: dockerUser(),
    runtime: container.runtime,
    network: 'none',
    memoryBytes: memoryMb * 1024 * 1024,
    nanoCpus: Math.round(container.cpus * 1e9),
    pidsLimit: container.pidsLimit,
    maxOpenFiles: container.maxOpenFiles,
    tmpfs: { '/tmp': tmpfsOptions(64) },
    binds: [],
    workingDir: '/',
    openStdin: true,
  };
}

/**
 * One warm type checker: Deno's language server in its own container, with the standard library's and the
 * pre-cached packages' types already parsed, so a check costs only the code's own (about 0.1 s, against 2-3 s of
 * CPU for a fresh `deno check`). It never runs code: it reads the code as text, and closes each document after its
 * check, so a later check cannot import an earlier one.
 */
export class CheckerSession {
  readonly exited: Promise<number>;
  checks = 0;
  #declarations = '';
  #toolsVersion = 1;
  #stderr = '';

  private constructor(
    readonly docker: DockerPort,
    readonly containerId: string,
    readonly lease: ContainerLease,
    readonly lsp: LspClient,
    readonly stream: Duplex,
  ) {
    this.exited = docker.wait(containerId);
    this.exited.then(
      (code) => lsp.close(new SandboxError(`the type checker stopped (exit code ${code})`)),
      () => lsp.close(new SandboxError('the type checker stopped')),
    );
    const demux = createDemuxer((kind, data) => {
      if (kind === 'stdout') lsp.push(data);
      else if (this.#stderr.length < 4096) this.#stderr += data.toString('utf8');
    });
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    stream.on('error', () => undefined);
  }

  static async start(deps: CheckerDeps, profile: SandboxProfile): Promise<CheckerSession> {
    const lease = await deps.acquireLease();
    let containerId: string | undefined;
    try {
      containerId = await deps.docker.createContainer(checkerSpec(deps, profile, randomUUID()));
      const stream = await deps.docker.attach(containerId, { stdin: true });
      const lsp = new LspClient((bytes) => stream.write(bytes), { maxMessageBytes: MAX_MESSAGE_BYTES });
      const session = new CheckerSession(deps.docker, containerId, lease, lsp, stream);
      await deps.docker.start(containerId);
      await session.#warmUp(deps.dependencies, deps.startupTimeoutMs ?? 90_000);
      return session;
    } catch (error) {
      if (containerId) await deps.docker.remove(containerId).catch(() => undefined);
      lease.release();
      throw error;
    }
  }

  async #warmUp(dependencies: string[], timeoutMs: number): Promise<void> {
    const timer = setTimeout(
      () => this.lsp.close(new SandboxError(`the type checker did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await this.lsp.request('initialize', {
        processId: null,
        rootUri: null,
        capabilities: { textDocument: { diagnostic: {} }, workspace: { configuration: true } },
        initializationOptions: { enable: true, lint: false },
      });
      this.lsp.notify('initialized', {});
      this.lsp.notify('textDocument/didOpen', {
        textDocument: {
          uri: TOOLS_URI,
          languageId: 'typescript',
          version: this.#toolsVersion,
          text: this.#toolsText(),
        },
      });
      // Parsing the libraries' types is most of a check's cost: done once, here.
      const imports = dependencies
        .filter((d) => d.startsWith('npm:'))
        .map((d) => `import ${JSON.stringify(d)};`);
      await this.diagnose('file:///check/warm-up.ts', `${imports.join('\n')}\nawait mcpFactory.list();\n`);
    } catch (error) {
      const said = this.#stderr.trim().split('\n').slice(-3).join(' ').slice(0, 300);
      throw new SandboxError(
        `the type checker could not start: ${(error as Error).message}${said ? ` (${said})` : ''}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  #toolsText(): string {
    const references = RUNTIME_TYPES.map((url) => `/// <reference path="${url}" />\n`).join('');
    return `${references}${this.#declarations}`;
  }

  /** The generated tool declarations in force from now on. */
  useDeclarations(text: string): void {
    if (text === this.#declarations) return;
    this.#declarations = text;
    this.lsp.notify('textDocument/didChange', {
      textDocument: { uri: TOOLS_URI, version: ++this.#toolsVersion },
      contentChanges: [{ text: this.#toolsText() }],
    });
  }

  /** Opens a document, asks for its diagnostics and closes it again. */
  async diagnose(uri: string, text: string): Promise<LspDiagnostic[]> {
    this.checks++;
    this.lsp.notify('textDocument/didOpen', {
      textDocument: { uri, languageId: 'typescript', version: 1, text },
    });
    try {
      const report = await this.lsp.request<{ items?: unknown }>('textDocument/diagnostic', {
        textDocument: { uri },
      });
      return Array.isArray(report?.items) ? (report.items as LspDiagnostic[]) : [];
    } finally {
      this.lsp.notify('textDocument/didClose', { textDocument: { uri } });
    }
  }

  async oomKilled(): Promise<boolean> {
    return (await this.docker.inspectContainer(this.containerId).catch(() => undefined))?.oomKilled === true;
  }

  /** Removes the container and gives its place back; idempotent. */
  async dispose(): Promise<void> {
    this.lsp.close(new SandboxError('the type checker was stopped'));
    this.stream.destroy();
    try {
      await this.docker.remove(this.containerId);
    } finally {
      this.lease.release();
    }
  }
}
