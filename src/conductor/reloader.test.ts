import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createReloader, type Reloader, type ReloaderOptions, type ReloadOutcome } from './reloader.js';

let dir: string;
let reloader: Reloader | undefined;
afterEach(async () => {
  reloader?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A reloader of one JSON file, recording what it applied and reported. */
async function setup(overrides: Partial<ReloaderOptions<unknown>> = {}) {
  dir = await mkdtemp(join(tmpdir(), 'reloader-'));
  const file = join(dir, 'config.json');
  await writeFile(file, '{"v":1}');
  const applied: unknown[] = [];
  const outcomes: ReloadOutcome[] = [];
  let loads = 0;
  reloader = createReloader<unknown>({
    files: () => [file],
    load: async () => {
      loads++;
      const json = JSON.parse(await readFile(file, 'utf8')) as { v?: unknown };
      if (typeof json.v !== 'number') throw new Error(`${file}: "v" must be a number`);
      return json;
    },
    apply: (next) => Promise.resolve(void applied.push(next)),
    onOutcome: (o) => void outcomes.push(o),
    debounceMs: 50,
    pollMs: 60_000,
    ...overrides,
  });
  // The first fingerprint is taken asynchronously: let it settle before changing the file.
  await reloader.reloadNow();
  applied.length = 0;
  outcomes.length = 0;
  loads = 0;
  return { file, applied, outcomes, loads: () => loads };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('createReloader', () => {
  it('applies a burst of writes once, with the last content', async () => {
    const s = await setup();
    for (let v = 2; v <= 5; v++) await writeFile(s.file, `{"v":${v}}`);
    await until(() => s.outcomes.length > 0);
    expect(s.applied).toEqual([{ v: 5 }]);
    expect(s.loads()).toBe(1);
  });

  it('sees a file an editor replaced by renaming a new one over it', async () => {
    const s = await setup();
    const tmp = join(dir, '.config.json.swp');
    await writeFile(tmp, '{"v":7}');
    await rename(tmp, s.file);
    await until(() => s.applied.length > 0);
    expect(s.applied).toEqual([{ v: 7 }]);
    // The directory is still watched after the rename: the next save is seen too.
    await writeFile(s.file, '{"v":8}');
    await until(() => s.applied.length > 1);
    expect(s.applied[1]).toEqual({ v: 8 });
  });

  it('keeps the last good configuration when a change fails validation, and says why once', async () => {
    const s = await setup({ pollMs: 30 });
    await writeFile(s.file, '{"v":"two"}');
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ result: 'failed', reason: `${s.file}: "v" must be a number` }]);
    expect(s.applied).toEqual([]);
    // The poll keeps looking, but the same bad content is not reported again.
    const loads = s.loads();
    await new Promise((r) => setTimeout(r, 150));
    expect(s.loads()).toBe(loads);
    await writeFile(s.file, '{"v":3}');
    await until(() => s.applied.length > 0);
    expect(s.applied).toEqual([{ v: 3 }]);
  });

  it('keeps the last good configuration when applying it fails', async () => {
    const s = await setup({
      apply: () => Promise.reject(new Error('the network "host" is Docker’s own')),
    });
    await writeFile(s.file, '{"v":2}');
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ result: 'failed', reason: 'the network "host" is Docker’s own' }]);
  });

  it('finds a change by polling when file events are lost', async () => {
    const s = await setup({ watch: () => ({ close: () => undefined }), pollMs: 30 });
    await writeFile(s.file, '{"v":9}');
    await until(() => s.applied.length > 0);
    expect(s.applied).toEqual([{ v: 9 }]);
  });

  it('sees a file that was missing appear', async () => {
    const s = await setup({ pollMs: 30 });
    await rm(s.file);
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes[0]?.result).toBe('failed');
    await writeFile(s.file, '{"v":4}');
    await until(() => s.applied.length > 0);
    expect(s.applied).toEqual([{ v: 4 }]);
  });

  it('reloads at once when asked (SIGHUP), even with the files unchanged', async () => {
    const s = await setup();
    await expect(reloader!.reloadNow()).resolves.toEqual({ result: 'applied' });
    expect(s.applied).toEqual([{ v: 1 }]);
    await writeFile(s.file, '{"v":"bad"}');
    await expect(reloader!.reloadNow()).resolves.toMatchObject({ result: 'failed' });
  });
});
