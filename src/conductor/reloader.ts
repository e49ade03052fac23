import { createHash } from 'node:crypto';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

export type ReloadOutcome =
  | { result: 'applied' }
  | { result: 'failed'; reason: string }
  /** a forced reload (SIGHUP) whose files say nothing new */
  | { result: 'unchanged' };

export interface ReloaderOptions<T> {
  /** the files the configuration in force was read from; asked again after every reload (a policy may be added) */
  files: () => string[];
  /** reads and validates every file; throws (a ConfigError) when one is wrong */
  load: () => Promise<T>;
  /** puts a loaded configuration in force; throws when it cannot (the last good one then stays) */
  apply: (next: T) => Promise<void>;
  onOutcome: (outcome: ReloadOutcome) => void;
  /** quiet time after the last file event before reading (editors write in several steps); default 200 ms */
  debounceMs?: number;
  /** the files are compared this often too, for file systems whose events get lost; default 2 s */
  pollMs?: number;
  watch?: (dir: string, listener: (event: string, file: string | null) => void) => Pick<FSWatcher, 'close'>;
}

export interface Reloader {
  /** Reads the files now and applies them whatever their content (SIGHUP). */
  reloadNow(): Promise<ReloadOutcome>;
  close(): void;
}

/** What the files hold now: a missing file is a state of its own, so its return is a change too. */
async function fingerprint(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [...files].sort()) {
    const text = await readFile(file).catch((error: NodeJS.ErrnoException) => `missing: ${error.code}`);
    hash.update(file).update('\0').update(text).update('\0');
  }
  return hash.digest('hex');
}

/**
 * Watches the configuration files and applies a change once it validates. The files' directories are watched, not
 * the files: an editor that saves by writing a new file and renaming it over the old one replaces the inode a file
 * watch would follow. Events are debounced; a poll catches what the events miss (network file systems, some
 * containers). A change that fails validation is reported once and the last good configuration stays in force.
 */
export function createReloader<T>(opts: ReloaderOptions<T>): Reloader {
  // A watcher's error (its directory removed, say) is no reason to stop: the poll still looks.
  const watchDir =
    opts.watch ??
    ((dir, listener) => fsWatch(dir, { persistent: false }, listener).on('error', () => undefined));
  let seen: Promise<string> = fingerprint(opts.files());
  let running: Promise<unknown> = Promise.resolve();
  let debounce: NodeJS.Timeout | undefined;
  let watchers: Pick<FSWatcher, 'close'>[] = [];
  let closed = false;

  const attempt = async (force: boolean): Promise<ReloadOutcome> => {
    const now = await fingerprint(opts.files());
    if (!force && now === (await seen)) return { result: 'unchanged' };
    seen = Promise.resolve(now);
    let outcome: ReloadOutcome;
    try {
      await opts.apply(await opts.load());
      outcome = { result: 'applied' };
      rewatch();
    } catch (error) {
      outcome = { result: 'failed', reason: (error as Error).message };
    }
    if (!closed) opts.onOutcome(outcome);
    return outcome;
  };
  // One reload at a time, in order: a change made while one is applied is looked at after it.
  const queue = (force: boolean): Promise<ReloadOutcome> => {
    const next = running.then(() => (closed ? { result: 'unchanged' as const } : attempt(force)));
    running = next.catch(() => undefined);
    return next;
  };
  const check = () => void queue(false).catch(() => undefined);

  const rewatch = () => {
    watchers.forEach((w) => w.close());
    const files = opts.files().map((f) => resolve(f));
    const names = new Set(files.map((f) => basename(f)));
    watchers = [...new Set(files.map((f) => dirname(f)))].flatMap((dir) => {
      try {
        return [
          watchDir(dir, (_event, file) => {
            if (file !== null && !names.has(basename(file))) return;
            clearTimeout(debounce);
            debounce = setTimeout(check, opts.debounceMs ?? 200);
            debounce.unref();
          }),
        ];
      } catch {
        return []; // a directory that does not exist (yet): the poll sees the file when it appears
      }
    });
  };
  rewatch();
  const poll = setInterval(check, opts.pollMs ?? 2000);
  poll.unref();

  return {
    reloadNow: () => queue(true),
    close() {
      closed = true;
      clearInterval(poll);
      clearTimeout(debounce);
      watchers.forEach((w) => w.close());
    },
  };
}
