import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../core/index.js';
import { loadJsonConfig } from './json-config.js';
import { loadTenantsFile } from './tenants.js';

const Schema = z.object({ name: z.string(), tags: z.array(z.string().min(1)) }).strict();

async function failure(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as Error).message;
}

describe('loadJsonConfig: every admin file fails the same way', () => {
  it('names a missing file', async () => {
    expect(await failure(loadJsonConfig(Schema, '/nonexistent/x.json', 'thing /nonexistent/x.json'))).toBe(
      'the thing /nonexistent/x.json is not found',
    );
  });

  it('gives the line and column of a JSON error, and accepts a byte-order mark', async () => {
    const read = (text: string) => () => Promise.resolve(text);
    expect(
      await failure(loadJsonConfig(Schema, 'f', 'thing f', read('{\n  "name": "a",\n  oops\n}'))),
    ).toMatch(/^the thing f is not valid JSON: .*\(line 3, column 3\)$/);
    expect(await loadJsonConfig(Schema, 'f', 'thing f', read('\uFEFF{"name":"a","tags":[]}'))).toEqual({
      name: 'a',
      tags: [],
    });
  });

  it('lists every schema problem with its JSON path', async () => {
    const read = () => Promise.resolve('{"tags":["ok",""],"extra":1}');
    expect((await failure(loadJsonConfig(Schema, 'f', 'thing f', read))).split('\n')).toEqual([
      'the thing f is invalid:',
      '- name: Invalid input: expected string, received undefined',
      '- tags[1]: Too small: expected string to have >=1 characters',
      '- (root): Unrecognized key: "extra"',
    ]);
  });

  it('is what the tenants file uses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenants-'));
    const file = join(dir, 'tenants.json');
    await writeFile(file, JSON.stringify({ tenants: [{ id: 'Acme', tokenSha256: 'x' }] }));
    expect((await failure(loadTenantsFile(file))).split('\n')).toEqual([
      `the tenants file ${file} is invalid:`,
      '- tenants[0].id: tenant ids are lower-case letters, digits, _ and - (at most 63)',
      '- tenants[0].tokenSha256: expected 64 lower-case hex characters (sha256 of the token)',
    ]);
  });
});
