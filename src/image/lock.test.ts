import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockMismatch, normalizeLock, readLock } from './lock.js';

// What Deno 2.9.6 prints for each kind of disagreement (taken from real runs against the loopback mirrors).
const JSR_MANIFEST = `error: Integrity check failed for package. The source code is invalid, as it does not match the expected hash in the lock file.

  Package: @conductor-test/hello@1.0.0
  Actual: b65bba82e00b6811477d98faee91fc4aa72cc99b57549791a2c0c229b13dcf3e
  Expected: c65bba82e00b6811477d98faee91fc4aa72cc99b57549791a2c0c229b13dcf3e
`;
const JSR_FILE = `error: Integrity check failed in package. The package may have been tampered with.

  Specifier: http://127.0.0.1:37277/jsr/@conductor-test/hello/1.0.0/mod.ts
  Actual: 93035dd07ef85ec3021192ae9541d3c2dbfaba32a5b27c649389f2adcedd009c
`;
const NPM_TARBALL = `error: Failed caching npm package '@conductor-test/greet@1.0.0'
    0: Tarball checksum did not match what was provided by npm registry for @conductor-test/greet@1.0.0.

       Expected: Xhyw9f7PaVanWexw7ZDzDLUB7Qr5mH73DDkpeuRuo9dz8O7OzVhEPfnRe6+iC7tsL0eQQkg6SIPlgi8+e1CHQA==
`;
const OUT_OF_DATE = `error: The lockfile is out of date. Run \`deno install --frozen=false\`, or rerun with \`--frozen=false\` to update it.
changes:
 5 | -    "npm:@conductor-test/greet@1": "1.0.0"
 5 | +    "npm:@conductor-test/greet@1": "1.0.0",
 6 | +    "npm:@conductor-test/greet@1.0.0": "1.0.0"
`;

describe('the lock file', () => {
  it('names the package whose download disagrees with the lock, for each check Deno makes', () => {
    const say = (stderr: string) => lockMismatch(stderr, 'images/deno/deno.lock', {});
    expect(say(JSR_MANIFEST)).toMatch(
      /^jsr:@conductor-test\/hello@1\.0\.0 does not match the lock file images\/deno\/deno\.lock/,
    );
    expect(say(JSR_FILE)).toMatch(
      /^jsr:@conductor-test\/hello@1\.0\.0 \(its file \/mod\.ts\) does not match the lock/,
    );
    expect(say(NPM_TARBALL)).toMatch(/^npm:@conductor-test\/greet@1\.0\.0 does not match the lock file/);
    expect(say(OUT_OF_DATE)).toMatch(
      /^npm:@conductor-test\/greet@1\.0\.0 is not in the lock file images\/deno\/deno\.lock: image\.json changed.*--update-lock/,
    );
    expect(say('error: Import "npm:nope" not found')).toBeUndefined();
  });

  it('drops tarball URLs of the mirror it was made with, keeping every integrity', () => {
    const made = JSON.stringify({
      version: '5',
      npm: {
        'a@1.0.0': {
          integrity: 'sha512-A',
          tarball: 'https://user:token@npm.example.internal/a/-/a-1.0.0.tgz',
        },
        'b@1.0.0': { integrity: 'sha512-B', tarball: 'https://elsewhere.example/b.tgz' },
      },
    });
    const lock = JSON.parse(normalizeLock(made, { npm: 'https://user:token@npm.example.internal' })) as {
      npm: Record<string, Record<string, string>>;
    };
    expect(lock.npm['a@1.0.0']).toEqual({ integrity: 'sha512-A' });
    expect(lock.npm['b@1.0.0']).toEqual({
      integrity: 'sha512-B',
      tarball: 'https://elsewhere.example/b.tgz',
    });
  });

  it('refuses a missing, broken or foreign lock file with the command that makes one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lock-'));
    await expect(readLock(dir)).rejects.toThrow(/no lock file .*mcp-conductor image --update-lock/);
    await writeFile(join(dir, 'deno.lock'), '{ nope');
    await expect(readLock(dir)).rejects.toThrow(/not valid JSON/);
    await writeFile(join(dir, 'deno.lock'), JSON.stringify({ version: '3', remote: {} }));
    await expect(readLock(dir)).rejects.toThrow(/not a Deno lock of version 5/);
    await writeFile(join(dir, 'deno.lock'), JSON.stringify({ version: '5' }));
    expect((await readLock(dir)).lock).toMatchObject({ specifiers: {}, npm: {}, jsr: {} });
  });
});
