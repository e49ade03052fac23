import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { openRetentionStore, type RetentionStore } from './store.js';

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const alive = { pid: 'alive' };

/** Keeps `text` as one execution's stdout, written in pieces as the collectors pass it on. */
async function keep(store: RetentionStore, tenant: string, id: string, text: string, budget = 1000) {
  const run = store.begin(tenant, id, budget);
  const out = run.writer('stdout', 10);
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += 7) out.write(bytes.subarray(at, at + 7));
  return run.finish();
}

describe('retention store', () => {
  let base: string;
  let now: number;
  let store: RetentionStore;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'mcpc-retention-'));
    now = 1_000_000;
    store = await openRetentionStore(base, ID(999), alive, (o) => o.pid === 'alive', { now: () => now });
  });

  it('keeps nothing, and takes nothing from the budget, for output within the threshold', async () => {
    expect(await keep(store, 'a', ID(1), 'x'.repeat(400))).toHaveLength(1);
    expect(await keep(store, 'a', ID(2), 'short')).toEqual([]);
    expect(await store.read('a', ID(2), 'stdout')).toBeUndefined();
    // The short one evicted nothing: the first is still there.
    expect(await store.read('a', ID(1), 'stdout')).toBe('x'.repeat(400));
  });

  it('gives the whole text to its own tenant only; another tenant gets what a missing one gets', async () => {
    const text = 'line é\n'.repeat(30);
    const [ref] = await keep(store, 'a', ID(1), text);
    expect(ref).toMatchObject({
      uri: `conductor://executions/${ID(1)}/stdout`,
      stream: 'stdout',
      bytes: Buffer.byteLength(text),
      complete: true,
    });
    expect(await store.read('a', ID(1), 'stdout')).toBe(text);
    expect(await store.read('b', ID(1), 'stdout')).toBeUndefined();
    expect(await store.read('a', ID(1), 'stderr')).toBeUndefined();
    expect(store.list('a').map((r) => r.uri)).toEqual([ref!.uri]);
    expect(store.list('b')).toEqual([]);
  });

  it("evicts the tenant's oldest outputs first, and never another tenant's", async () => {
    await keep(store, 'b', ID(9), 'b'.repeat(600));
    await keep(store, 'a', ID(1), '1'.repeat(400));
    await keep(store, 'a', ID(2), '2'.repeat(400));
    await keep(store, 'a', ID(3), '3'.repeat(400));
    expect(await store.read('a', ID(1), 'stdout')).toBeUndefined();
    expect(await store.read('a', ID(2), 'stdout')).toBe('2'.repeat(400));
    expect(await store.read('a', ID(3), 'stdout')).toBe('3'.repeat(400));
    expect(await store.read('b', ID(9), 'stdout')).toBe('b'.repeat(600));
    await store.sweep();
    expect((await readdir(join(base, ID(999)))).sort()).toEqual(
      [`${ID(2)}.stdout`, `${ID(3)}.stdout`, `${ID(9)}.stdout`, 'owner.json'].sort(),
    );
  });

  it('cuts an output at the budget, never inside a character, and says it is not complete', async () => {
    const [ref] = await keep(store, 'a', ID(1), 'é'.repeat(100), 51);
    expect(ref).toMatchObject({ bytes: 51, complete: false });
    expect(await store.read('a', ID(1), 'stdout')).toBe('é'.repeat(25));
  });

  it('forgets outputs after an hour and removes their files', async () => {
    await keep(store, 'a', ID(1), 'x'.repeat(100));
    now += 59 * 60_000;
    expect(await store.read('a', ID(1), 'stdout')).toBe('x'.repeat(100));
    now += 60_000;
    expect(store.list('a')).toEqual([]);
    expect(await store.read('a', ID(1), 'stdout')).toBeUndefined();
    expect(existsSync(join(base, ID(999), `${ID(1)}.stdout`))).toBe(false);
  });

  it('removes the folders of conductors that are gone, keeps live ones, and its own on close', async () => {
    for (const [id, pid] of [
      [ID(1), 'dead'],
      [ID(2), 'alive'],
    ] as const) {
      await mkdir(join(base, id));
      await writeFile(join(base, id, 'owner.json'), JSON.stringify({ pid }));
    }
    await mkdir(join(base, ID(3)));
    // The judge may ask the engine (a replica's container): an async answer is awaited.
    const other = await openRetentionStore(base, ID(4), alive, (o) => Promise.resolve(o.pid === 'alive'));
    expect((await readdir(base)).sort()).toEqual([ID(2), ID(4), ID(999)]);
    await other.close();
    await store.close();
    expect(await readdir(base)).toEqual([ID(2)]);
  });
});
