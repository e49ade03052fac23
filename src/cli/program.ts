import { Command, InvalidArgumentError, Option } from 'commander';
import { ENV_HELP, type EnvVariable } from '../config/env.js';
import { LEGACY_ENV_HELP } from '../config/legacy-env.js';
import { runDoctorCommand, runImage, runReap, type ImageOptions } from './commands.js';
import { parseCount, parseDurationMs, parsePort, SERVE_DEFAULTS } from './options.js';
import { version } from './paths.js';
import { runServe } from './serve.js';
import { runStdio } from './stdio.js';

/** An option parser's error, as commander reports it (one line naming the option). */
function cliArg<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** The `--help` section listing the variables a command reads: nearly all configuration is there, not in flags. */
const RELOAD_HELP =
  '\nThe files they name (mcp.json, the policies in use, the tenants file) are watched: a change is in force within\n' +
  '5 s (SIGHUP: at once); one that fails validation is reported on stderr and the last good configuration stays.\n';

const table = (rows: [string, string][], width: number) =>
  rows.map(([n, text]) => `  ${n.padEnd(width)}  ${text}`).join('\n');

/** The variables a command reads; the full table also lists the original project's names, marked legacy. */
function environmentHelp(names?: EnvVariable[]): string {
  const rows = (names ?? (Object.keys(ENV_HELP) as EnvVariable[])).map((n): [string, string] => [
    n,
    ENV_HELP[n],
  ]);
  const legacy = names ? [] : Object.entries(LEGACY_ENV_HELP);
  const width = Math.max(...[...rows, ...legacy].map(([n]) => n.length));
  const text = `\nEnvironment (read once at start-up; the README's "Environment" says more):\n${table(rows, width)}\n${RELOAD_HELP}`;
  return legacy.length === 0
    ? text
    : `${text}\nLegacy names of the original MCP Conductor (README: "Migrating from the original MCP Conductor"):\n${table(legacy, width)}\n`;
}

/** A mistake on the command line is one line on stderr and exit 1 (`--help` shows the whole text). */
function oneLineErrors(command: Command): void {
  command.configureOutput({
    outputError: (text, write) => write(`mcp-conductor: ${text.replace(/^error: /, '')}`),
  });
  for (const sub of command.commands) oneLineErrors(sub);
}

interface ServeFlags {
  host: string;
  port: number;
  stateless?: boolean;
  allowedHost: string[];
  allowedOrigin: string[];
  auditLog?: string;
  grace: number;
  sessionIdleTimeout: number;
  maxSessions: number;
  insecureNoAuth?: boolean;
}

function serveCommand(): Command {
  return new Command('serve')
    .description('serve MCP over Streamable HTTP at /mcp, with /healthz, /readyz and /metrics')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v) => cliArg(() => parsePort(v)), 8787)
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
    .option(
      '--audit-log <file>',
      'append a JSON line per run_deno_code call to this file (wins over MCP_CONDUCTOR_AUDIT_LOG)',
    )
    .option(
      '--metrics-token-file <file>',
      'require "Authorization: Bearer <token>" on /metrics, the token read from this file (none: /metrics is open)',
    )
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
    .addHelpText('after', environmentHelp())
    .action(async ({ grace, sessionIdleTimeout, ...rest }: ServeFlags) =>
      runServe({ ...rest, graceMs: grace, sessionIdleTimeoutMs: sessionIdleTimeout }),
    );
}

/** The command line: what each command is and which options it takes; the work is in the run* functions. */
export function buildProgram(): Command {
  const program = new Command()
    .name('mcp-conductor')
    .description('Runs model-written TypeScript in a throwaway, locked-down Docker container per execution.')
    .version(version)
    .addHelpText('after', environmentHelp());
  program
    .command('stdio')
    .description(
      'serve MCP over stdio (Claude Desktop, Cursor); only JSON-RPC on stdout, JSON logs on stderr',
    )
    .addHelpText('after', environmentHelp())
    .action(runStdio);
  program.addCommand(serveCommand());
  program
    .command('image')
    .description(
      'build (or reuse, by content hash) the sandbox image from image.json and its lock file deno.lock; progress on stderr, the tag on stdout',
    )
    .option('--force', 'rebuild even when an image with the same content hash exists')
    .option(
      '--update-lock',
      'resolve every dependency anew (the newest versions the ranges in image.json allow), rewrite deno.lock beside image.json, then build',
    )
    .option(
      '--list',
      'after building (or --import), print the bill of materials instead of the tag: every package with its resolved version and integrity, and the CLI tools with their Debian versions',
    )
    .option(
      '--export <file>',
      'after building, write the image to a tar file (for a machine with no registry)',
    )
    .option('--import <file>', 'load an image tar written by --export instead of building')
    .option(
      '--image-dir <dir>',
      'the image folder (image.json, deno.lock, runtime/) to use instead of images/deno',
    )
    .addHelpText('after', environmentHelp(['NPM_CONFIG_REGISTRY', 'JSR_URL', 'DOCKER_HOST']))
    .action((opts: ImageOptions) => runImage(opts));
  program
    .command('doctor')
    .description(
      'check Docker reachability, runtimes, the image and what it holds, config and policies; exit 1 with the reason',
    )
    .option(
      '--image-dir <dir>',
      'the image folder (image.json, deno.lock, runtime/) to use instead of images/deno',
    )
    .addHelpText('after', environmentHelp())
    .action((opts: { imageDir?: string }) => runDoctorCommand(opts));
  program
    .command('reap')
    .description(
      'remove containers and socket directories left by a conductor that died, and unmount its workspace quota images',
    )
    .option('--all', 'also remove the containers of conductors that are still running')
    .addHelpText('after', environmentHelp(['DOCKER_HOST']))
    .action((opts: { all?: boolean }) => runReap(opts));
  oneLineErrors(program);
  return program;
}
