import { doctorExitCode, reapWorkspaceMounts, runDoctor } from '../conductor/index.js';
import { findOwnContainer } from '../docker/index.js';
import { describeIssuer } from '../http/index.js';
import { ensureImage, exportImageFile, formatBom, importImageFile, readImageBom } from '../image/index.js';
import { reap } from '../sandbox/index.js';
import { imageDir, playbooksDir, policiesDir } from './paths.js';
import { basics } from './runtime.js';

export interface ImageOptions {
  force?: boolean;
  updateLock?: boolean;
  list?: boolean;
  export?: string;
  import?: string;
  imageDir?: string;
}

/**
 * `mcp-conductor image`: build (or reuse, or first update the lock), export or import the sandbox image; progress on
 * stderr, the tag (or with `list`, the bill of materials) on stdout.
 */
export async function runImage(opts: ImageOptions): Promise<void> {
  const { docker, settings, env } = basics();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const dir = opts.imageDir ?? imageDir;
  const print = async (tag: string) =>
    process.stdout.write(opts.list ? `${formatBom(await readImageBom(docker, tag))}\n` : `${tag}\n`);
  if (opts.import) {
    await print(await importImageFile({ docker, file: opts.import, imageDir: dir, onProgress: say }));
    return;
  }
  const ref = await ensureImage({
    docker,
    imageDir: dir,
    registries: settings.registries,
    force: opts.force,
    updateLock: opts.updateLock,
    hostEnv: env,
    onProgress: say,
  });
  if (opts.export) {
    say(`exporting ${ref.tag} to ${opts.export}`);
    await exportImageFile(docker, ref.tag, opts.export);
  }
  await print(ref.tag);
}

/** Each identity-provider request of `doctor`: an IdP that does not answer by then is reported as such. */
const DOCTOR_FETCH_TIMEOUT_MS = 3_000;

/** `mcp-conductor doctor`: one line per check; exit 1 when any failed. */
export async function runDoctorCommand(opts: { imageDir?: string } = {}): Promise<void> {
  const { docker, settings, env, logger } = basics();
  const checks = await runDoctor(
    docker,
    settings,
    { imageDir: opts.imageDir ?? imageDir, policiesDir, playbooksDir },
    env,
    { issuer: (issuer) => describeIssuer(issuer, { timeoutMs: DOCTOR_FETCH_TIMEOUT_MS }) },
    logger.child({ check: 'upstream' }),
  );
  for (const c of checks)
    process.stdout.write(
      `${c.ok ? (c.warning ? 'WARN' : 'ok  ') : 'FAIL'} ${c.name.padEnd(12)} ${c.detail}\n`,
    );
  process.exitCode = doctorExitCode(checks);
}

/** `mcp-conductor reap`: remove what a conductor that died left behind (`all`: containers of live ones too). */
export async function runReap(opts: { all?: boolean }): Promise<void> {
  const { docker, settings, logger } = basics();
  const removed = await reap(docker, {
    onlyDead: !opts.all,
    socketBaseDir: settings.socketDir,
    ownContainerId: (await findOwnContainer(docker))?.id,
    logger,
  });
  process.stderr.write(`removed ${removed} container(s)\n`);
  // Only a dead conductor's images, even with --all: unmounting a live one's would leave its next container the
  // bare directory, without the quota.
  const unmounted = await reapWorkspaceMounts(settings.workspaceDir, logger);
  if (unmounted > 0) process.stderr.write(`unmounted ${unmounted} workspace image(s)\n`);
}
