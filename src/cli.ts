#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { readSettings, type ConductorSettings } from './config/env.js';
import { runDoctor } from './doctor.js';
import { effectivePermissions, loadPolicy } from './config/load-policy.js';
import { parseRunArgs } from './config/run-args.js';
import { ImageMissingError, isAppError } from './core/index.js';
import { createDockerClient, type DockerPort } from './docker/index.js';
import { ensureImage, planImage } from './image/index.js';
import { createServer } from './mcp/index.js';
import { createLogger, type Logger } from './obs/index.js';
import {
  createColdSource,
  createExecutor,
  createLimiter,
  createWarmPool,
  reap,
  SANDBOX_UID,
  type SandboxProfile,
} from './sandbox/index.js';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const imageDir = join(packageRoot, 'images', 'deno');
const policiesDir = join(packageRoot, 'policies');
/** Idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set. */
const STDIO_POOL_SIZE = 2;
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

function socketBaseDir(): string {
  return join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
}

async function prepareWorkspace(dir: string, logger: Logger): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) await chown(dir, SANDBOX_UID, SANDBOX_UID);
  else logger.warn({ workspace: dir }, 'not running as root: the sandbox user (65534) may be unable to write the workspace');
}

/** Everything stdio and serve share: Docker, the image, the policy, the executor. */
async function startConductor(settings: ConductorSettings, logger: Logger, defaultPoolSize: number) {
  const docker: DockerPort = createDockerClient();
  await docker.ping();
  const plan = await planImage({ docker, imageDir, registries: settings.registries });
  if (!(await docker.inspectImage(plan.tag))) {
    throw new ImageMissingError(`The sandbox image ${plan.tag} is not built yet. Run \`mcp-conductor image\` (or \`make image\`).`);
  }
  const policy = await loadPolicy(settings.policy, { policiesDir });
  const runArgs = settings.runArgs?.trim() ? parseRunArgs(settings.runArgs) : undefined;
  const instanceId = randomUUID();
  const baseDir = socketBaseDir();
  await mkdir(baseDir, { recursive: true, mode: 0o700 });
  const reaped = await reap(docker, { onlyDead: true, socketBaseDir: baseDir });
  if (reaped > 0) logger.info({ reaped }, 'removed containers left by a conductor that died');
  if (policy.workspace.mode !== 'none') await prepareWorkspace(settings.workspaceDir, logger);
  if (policy.container.network !== 'none') {
    await docker.ensureNetwork(policy.container.network, { 'mcp-conductor.managed': 'true' });
  }
  const profile: SandboxProfile = {
    image: plan.tag,
    policy,
    permissions: effectivePermissions(policy, runArgs),
    tenant: 'local',
    workspaceDir: policy.workspace.mode === 'none' ? undefined : settings.workspaceDir,
  };
  const prepareDeps = { docker, logger, instanceId, socketBaseDir: baseDir, startupTimeoutMs: 30_000 };
  const cold = createColdSource(prepareDeps);
  const poolSize = settings.poolSize ?? defaultPoolSize;
  const pool = poolSize > 0 ? createWarmPool(prepareDeps, { size: poolSize, maxIdleAgeMs: 5 * 60_000, cold }) : undefined;
  const source = pool ?? cold;
  const executor = createExecutor({
    docker,
    logger,
    source,
    limiter: createLimiter(settings.maxConcurrency, settings.maxQueued),
  });
  pool?.warm(profile);
  logger.info({ image: plan.tag, policy: settings.policy, instanceId, poolSize }, 'conductor ready');
  return {
    executor,
    profile,
    dependencies: plan.config.dependencies,
    async close() {
      await pool?.close();
      await executor.drain();
      await reap(docker, { instanceId, socketBaseDir: baseDir });
    },
  };
}

function onShutdown(logger: Logger, close: () => Promise<void>): void {
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
  process.stdin.once('end', () => stop('stdin closed'));
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
    const conductor = await startConductor(settings, logger, STDIO_POOL_SIZE);
    const server = createServer({
      executor: conductor.executor,
      profile: conductor.profile,
      dependencies: conductor.dependencies,
      directory: undefined,
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
  .description('serve MCP over Streamable HTTP at /mcp (not implemented yet)')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port to listen on', '8787')
  .action(() => {
    process.stderr.write('mcp-conductor serve: the Streamable HTTP server is not implemented yet; use `mcp-conductor stdio`.\n');
    process.exitCode = 2;
  });

program
  .command('image')
  .description('build (or reuse, by content hash) the sandbox image; progress on stderr, the tag on stdout')
  .option('--force', 'rebuild even when an image with the same content hash exists')
  .option('--export <file>', 'after building, write the image to a tar file (for a machine with no registry)')
  .option('--import <file>', 'load an image tar written by --export instead of building')
  .action(async (opts: { force?: boolean; export?: string; import?: string }) => {
    const settings = readSettings(process.env);
    const docker = createDockerClient();
    const say = (line: string) => process.stderr.write(`${line}\n`);
    if (opts.import) {
      say(`loading ${opts.import}`);
      await docker.importImage(createReadStream(opts.import));
      say('loaded');
      return;
    }
    const ref = await ensureImage({ docker, imageDir, registries: settings.registries, force: opts.force, hostEnv: process.env, onProgress: say });
    if (opts.export) {
      say(`exporting ${ref.tag} to ${opts.export}`);
      await pipeline(await docker.exportImage(ref.tag), createWriteStream(opts.export));
    }
    process.stdout.write(`${ref.tag}\n`);
  });

program
  .command('doctor')
  .description('check Docker reachability, runtimes, the image, config and policies; exit 1 with the reason')
  .action(async () => {
    const settings = readSettings(process.env);
    const checks = await runDoctor(createDockerClient(), settings, { imageDir, policiesDir }, process.env);
    for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(10)} ${c.detail}\n`);
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
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
    process.stderr.write(`mcp-conductor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exitCode = 1;
});
