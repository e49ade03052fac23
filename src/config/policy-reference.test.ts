import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { policyReferenceMarkdown } from './policy-reference.js';

const readme = new URL('../../README.md', import.meta.url);
const START = '<!-- policy-reference:start (generated from src/config/policy.ts) -->';
const END = '<!-- policy-reference:end -->';

describe('README policy reference', () => {
  it('matches the schema (UPDATE_SCHEMA=1 npx vitest run --project unit src/config rewrites it)', async () => {
    const text = await readFile(readme, 'utf8');
    const start = text.indexOf(START);
    const end = text.indexOf(END);
    expect(start).toBeGreaterThan(0);
    const generated = `${START}\n${policyReferenceMarkdown()}\n${END}`;
    if (process.env.UPDATE_SCHEMA === '1')
      await writeFile(readme, text.slice(0, start) + generated + text.slice(end + END.length));
    expect((await readFile(readme, 'utf8')).slice(start, start + generated.length)).toBe(generated);
  });
});
