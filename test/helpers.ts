import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import {
  LoggingMessageNotificationSchema,
  type CallToolResult,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import { createDockerClient, LABEL_EXECUTION, type ManagedContainer } from '../src/docker/index.js';

export const repoRoot = new URL('..', import.meta.url).pathname;
/** The entry script of an @modelcontextprotocol package installed for the tests (a real upstream server, a suite). */
export const mcpPackage = (name: string) =>
  join(repoRoot, 'node_modules', '@modelcontextprotocol', name, 'dist', 'index.js');
export const cliPath = join(repoRoot, 'dist', 'cli.js');
export const fixturePolicy = (name: string) => join(repoRoot, 'test', 'fixtures', 'policies', `${name}.json`);
/** Where the conductors the tests start keep their per-execution socket directories (the CLI's default). */
export const socketBaseDir = join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);

export interface Conductor {
  client: Client;
  /** the base URL of `serve` (HTTP only) */
  url?: string;
  stderr: () => string;
  run(code: string, timeout?: number): Promise<{ text: string; result: ExecutionResult; isError: boolean }>;
  close(): Promise<void>;
}

export type TransportKind = 'stdio' | 'http';
export const TRANSPORTS: TransportKind[] = ['stdio', 'http'];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function baseEnv(env: Record<string, string>): Promise<Record<string, string>> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    MCP_CONDUCTOR_LOG_LEVEL: 'warn',
    MCP_CONDUCTOR_WORKSPACE: env.MCP_CONDUCTOR_WORKSPACE ?? (await mkdtemp(join(tmpdir(), 'mcpc-ws-'))),
    ...env,
  };
}

/** A command line that runs the conductor as another user (`setpriv …`); empty: as this process's user. */
export type Launcher = string[];

/** The command and arguments that run the CLI with `args`, through `launcher` when given. */
function cliCommand(args: string[], launcher: Launcher): [string, string[]] {
  const [first, ...rest] = [...launcher, process.execPath, cliPath, ...args];
  return [first!, rest];
}

/** Starts `mcp-conductor serve` on a loopback port (a free one unless given) and waits until /healthz answers. */
export async function startHttpServer(
  env: Record<string, string> = {},
  args: string[] = [],
  fixedPort?: number,
  launcher: Launcher = [],
): Promise<{
  url: string;
  port: number;
  child: ChildProcess;
  stderr: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}> {
  const port = fixedPort ?? (await freePort());
  const child = spawn(...cliCommand(['serve', '--port', String(port), ...args], launcher), {
    env: await baseEnv(env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited early: ${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error(`serve did not come up: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    child,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts the conductor as a real child process over the given transport and connects the SDK's client to it. */
export async function startConductor(
  kind: TransportKind,
  env: Record<string, string> = {},
  token?: string,
  launcher: Launcher = [],
): Promise<Conductor> {
  const client = new Client({ name: 'conductor-test', version: '1.0.0' });
  let stderr = () => '';
  let url: string | undefined;
  let stop: () => Promise<unknown> = () => Promise.resolve();
  if (kind === 'stdio') {
    const [command, args] = cliCommand(['stdio'], launcher);
    const transport = new StdioClientTransport({
      command,
      args,
      env: await baseEnv(env),
      stderr: 'pipe',
    });
    let buf = '';
    transport.stderr?.on('data', (d: Buffer) => (buf += d.toString()));
    stderr = () => buf;
    await client.connect(transport);
  } else {
    const server = await startHttpServer(env, [], undefined, launcher);
    url = server.url;
    stderr = server.stderr;
    stop = () => server.stop();
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } }),
    );
  }
  return {
    client,
    url,
    stderr,
    async run(code, timeout) {
      const r = (await client.callTool(
        { name: 'run_deno_code', arguments: { deno_code: code, ...(timeout ? { timeout } : {}) } },
        undefined,
        {
          timeout: 300_000,
        },
      )) as CallToolResult;
      const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      return { text, result: r.structuredContent as ExecutionResult, isError: r.isError === true };
    },
    close: async () => {
      await client.close();
      await stop();
    },
  };
}

/** Lists the labelled containers every 100 ms until `done` holds of them or `tries` run out; returns the last list. */
export async function waitForManaged(
  done: (containers: ManagedContainer[]) => boolean,
  tries = 50,
): Promise<ManagedContainer[]> {
  const docker = createDockerClient();
  let left = await docker.listManaged();
  for (let i = 0; i < tries && !done(left); i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await docker.listManaged();
  }
  return left;
}

/** Every Docker suite ends here: no labelled container and no socket directory may be left behind. */
export async function expectNoLeftovers(): Promise<void> {
  const left = await waitForManaged((l) => l.length === 0);
  expect(left.map((c) => c.labels['mcp-conductor.execution-id'])).toEqual([]);
  const dirs = await readdir(socketBaseDir).catch(() => [] as string[]);
  expect(dirs).toEqual([]);
}

/** A Streamable HTTP MCP server script (server-everything by default) on a fixed loopback port; resolves once it answers. */
export async function startHttpMcpServer(
  port: number,
  args = [mcpPackage('server-everything'), 'streamableHttp'],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, PORT: String(port) },
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited`);
    const up = await fetch(`http://127.0.0.1:${port}/mcp`).then(
      () => true,
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${args.join(' ')} did not come up`);
}

/** SIGKILL, and wait until the process is gone; a process that already exited is fine. */
export async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(check: () => boolean, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await sleep(25))
    if (Date.now() > end) throw new Error('condition not met in time');
}

export type Log = LoggingMessageNotification['params'] & { at: number };
export type Line = { executionId: string; stream?: string; line?: string; notice?: string };

/** Collects the log notifications this client receives, with their arrival time. */
export function collectLogs(client: Client): Log[] {
  const logs: Log[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push({ ...n.params, at: performance.now() });
  });
  return logs;
}

export const lineOf = (l: Log) => l.data as Line;

/** The execution id of the run that printed `line`, once its notification arrived. */
export async function executionPrinting(logs: Log[], line: string): Promise<string> {
  await until(() => logs.some((l) => lineOf(l).line === line));
  return lineOf(logs.find((l) => lineOf(l).line === line)!).executionId;
}

/**
 * Milliseconds from `since` (a performance.now() reading: the moment of the cancel, say; by default now) until the
 * engine lists no container of this execution any more. Asks the engine every 20 ms, for at most `maxMs`.
 */
export async function goneWithin(
  executionId: string,
  since = performance.now(),
  maxMs = 10_000,
): Promise<number> {
  const docker = createDockerClient();
  const alive = async () => (await docker.listManaged({ [LABEL_EXECUTION]: executionId })).length > 0;
  const deadline = performance.now() + maxMs;
  while ((await alive()) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ms = performance.now() - since;
  expect(await alive()).toBe(false);
  return ms;
}
