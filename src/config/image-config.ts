import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../core/index.js';

const Specifier = z
  .string()
  .regex(
    /^(npm|jsr):@?[a-z0-9][\w.-]*(\/[\w.-]+)?(@[\w.^~<>=*| -]+)?(\/[\w./-]*)?$/i,
    'expected npm:name@range or jsr:@scope/name@range',
  );

export const ImageConfigSchema = z
  .object({
    $comment: z.string().optional(),
    /** npm:/jsr: specifiers pre-cached into the image's DENO_DIR. */
    dependencies: z.array(Specifier).default([]),
    /** Host programs (names on PATH or absolute paths) copied into the image with their shared libraries. */
    tools: z.array(z.string().regex(/^[\w./+-]+$/)).default([]),
  })
  .strict();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export async function loadImageConfig(path: string): Promise<ImageConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the image config ${path}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the image config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ImageConfigSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `- ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`the image config ${path} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
