import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { policyJsonSchema } from './policy-json-schema.js';

const file = new URL('../../policies/policy.schema.json', import.meta.url);

describe('policy JSON Schema', () => {
  it('is checked in as generated (UPDATE_SCHEMA=1 npx vitest run --project unit src/config/policy-json-schema rewrites it)', async () => {
    const generated = `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
    if (process.env.UPDATE_SCHEMA === '1') await writeFile(file, generated);
    expect(await readFile(file, 'utf8')).toBe(generated);
  });
});
