#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSettings } from './config/env.js';
import { startConductor } from './conductor.js';
import type { ServeOptions } from './serve.js';
import { parseCount, parseDurationMs, SERVE_DEFAULTS } from './serve-options.js';
import { doctorExitCode, runDoctor } from './doctor.js';
import { isAppError } from './core/index.js';
import { createDockerClient } from './docker/index.js';
import { ensureImage, exportImageFile, importImageFile } from './image/index.js';
import { createServer } from './mcp/index.js';
import { createLogger, type Logger } from './obs/index.js';
import { reap } from './sandbox/index.js';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const imageDir = join(packageRoot, 'images', 'deno');
const policiesDir = join(packageRoot, 'policies');
/** Idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set. */
const STDIO_POOL_SIZE = 2;
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

function socketBaseDir(): string {
  return join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
}

const paths = { imageDir, policiesDir, socketBaseDir: socketBaseDir() };

function parsePort(value: string, what = 'port'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`${what} must be a whole number from 0 to 65535`);
  return n;
}

function cliArg<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function onShutdown(logger: Logger, close: () => Promise<void>, stdinEnds = true): void {
  let closing = false;
  const stop = (why: string) => {
    if (closing) return;
    closing = true;
    logger.info({ why }, 'shutting down');
    close()
      .catch((error: unknown) => logger.error({ err: error }, 'shutdown failed'))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  if (stdinEnds) process.stdin.once('end', () => stop('stdin closed'));
}

const program = new Command()
  .name('mcp-conductor')
  .description('Runs model-written TypeScript in a throwaway, locked-down Docker container per execution.')
  .version(version)
  .showHelpAfterError();

program
  .command('stdio')
  .description('serve MCP over stdio (Claude Desktop, Cursor); only JSON-RPC on stdout, JSON logs on stderr')
  .action(async () => {
    const settings = readSettings(process.env);
    const logger = createLogger(settings.logLevel);
    const conductor = await startConductor(
      createDockerClient(),
      settings,
      process.env,
      paths,
      logger,
      STDIO_POOL_SIZE,
    );
    const local = await conductor.local();
    const server = createServer({
      executor: local.executor,
      profile: local.profile,
      dependencies: conductor.dependencies,
      directory: local.directory,
      logger,
      version,
    });
    onShutdown(logger, async () => {
      await server.close();
      await conductor.close();
    });
    await server.connect(new StdioServerTransport());
  });

program
  .command('serve')
  .description('serve MCP over Streamable HTTP at /mcp, with /healthz, /readyz and /metrics')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port to listen on', (v) => parsePort(v), 8787)
  .option(
    '--stateless',
    'no sessions: every request gets a fresh server (for load balancers without affinity)',
  )
  .option(
    '--allowed-host <host...>',
    'extra Host header values to accept (e.g. the name behind your proxy)',
    [],
  )
  .option(
    '--allowed-origin <origin...>',
    'browser origins allowed to call /mcp, with CORS headers for exactly these (none by default: CORS off)',
    [],
  )
  .option('--audit-log <file>', 'append a JSON line per run_deno_code call to this file')
  .addOption(
    new Option(
      '--grace <duration>',
      'on SIGTERM/SIGINT, how long running executions may finish: ms, or with a unit (30s, 2m)',
    )
      .argParser((v) => cliArg(() => parseDurationMs(v, 'grace')))
      .default(SERVE_DEFAULTS.graceMs, `${SERVE_DEFAULTS.graceMs / 1000}s`),
  )
  .addOption(
    new Option(
      '--session-idle-timeout <duration>',
      'close a session after this long without requests: ms, or with a unit (90s, 30m)',
    )
      .argParser((v) => cliArg(() => parseDurationMs(v, 'session idle timeout', 1_000)))
      .default(SERVE_DEFAULTS.sessionIdleTimeoutMs, `${SERVE_DEFAULTS.sessionIdleTimeoutMs / 60_000}m`),
  )
  .option(
    '--max-sessions <n>',
    'open sessions across all tenants (each tenant also has its own maxSessions)',
    (v) => cliArg(() => parseCount(v, 'max sessions', 1, 100_000)),
    SERVE_DEFAULTS.maxSessions,
  )
  .option('--insecure-no-auth', 'allow binding a non-loopback address without a tenants file')
  .action(async (opts: ServeOptions) => {
    const settings = readSettings(process.env);
    const logger = createLogger(settings.logLevel);
    const { serveHttp } = await import('./serve.js');
    await serveHttp({
      settings,
      env: process.env,
      paths,
      logger,
      version,
      options: opts,
      onShutdown: (close) => onShutdown(logger, close, false),
    });
  });

program
  .command('image')
  .description('build (or reuse, by content hash) the sandbox image; progress on stderr, the tag on stdout')
  .option('--force', 'rebuild even when an image with the same content hash exists')
  .option('--export <file>', 'after building, write the image to a tar file (for a machine with no registry)')
  .option('--import <file>', 'load an image tar written by --export instead of building')
  .option('--image-dir <dir>', 'the image folder (image.json and runtime/) to use instead of images/deno')
  .action(async (opts: { force?: boolean; export?: string; import?: string; imageDir?: string }) => {
    const settings = readSettings(process.env);
    const docker = createDockerClient();
    const say = (line: string) => process.stderr.write(`${line}\n`);
    if (opts.import) {
      const tag = await importImageFile({
        docker,
        file: opts.import,
        imageDir: opts.imageDir ?? imageDir,
        registries: settings.registries,
        onProgress: say,
      });
      process.stdout.write(`${tag}\n`);
      return;
    }
    const ref = await ensureImage({
      docker,
      imageDir: opts.imageDir ?? imageDir,
      registries: settings.registries,
      force: opts.force,
      hostEnv: process.env,
      onProgress: say,
    });
    if (opts.export) {
      say(`exporting ${ref.tag} to ${opts.export}`);
      await exportImageFile(docker, ref.tag, opts.export);
    }
    process.stdout.write(`${ref.tag}\n`);
  });

program
  .command('doctor')
  .description('check Docker reachability, runtimes, the image, config and policies; exit 1 with the reason')
  .action(async () => {
    const settings = readSettings(process.env);
    const checks = await runDoctor(createDockerClient(), settings, { imageDir, policiesDir }, process.env);
    for (const c of checks)
      process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(12)} ${c.detail}\n`);
    process.exitCode = doctorExitCode(checks);
  });

program
  .command('reap')
  .description('remove containers and socket directories left by a conductor that died')
  .option('--all', 'also remove the containers of conductors that are still running')
  .action(async (opts: { all?: boolean }) => {
    const removed = await reap(createDockerClient(), { onlyDead: !opts.all, socketBaseDir: socketBaseDir() });
    process.stderr.write(`removed ${removed} container(s)\n`);
  });

program.parseAsync().catch((error: unknown) => {
  if (isAppError(error)) {
    process.stderr.write(`mcp-conductor: ${error.message}\n`);
  } else {
    process.stderr.write(
      `mcp-conductor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exitCode = 1;
});
