import { z } from 'zod';
import { PolicySchema } from './policy.js';

/** The JSON Schema editors use for policies/*.json, generated from the zod schema (never written by hand). */
export function policyJsonSchema(): unknown {
  return z.toJSONSchema(PolicySchema, { io: 'input', target: 'draft-2020-12' });
}
