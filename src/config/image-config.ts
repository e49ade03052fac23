import { z } from 'zod';
import { loadJsonConfig, validateConfig } from './json-config.js';

const Specifier = z
  .string()
  .regex(
    /^(npm|jsr):@?[a-z0-9][\w.-]*(\/[\w.-]+)?(@[\w.^~<>=*| -]+)?(\/[\w./-]*)?$/i,
    'expected npm:name@range or jsr:@scope/name@range',
  );

const ProgramName = z.string().regex(/^[\w./+-]+$/, 'expected a program name on PATH or an absolute path');
const HostPath = z
  .string()
  .regex(/^\/[\w./+@-]*$/, 'expected an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

/**
 * A host program copied into the image, with the data files and helper programs it needs (`paths`: files or
 * directories, copied to the same place; `exclude`: paths under them to leave out). Every ELF file brings its
 * shared libraries. A plain string is a program with no extra paths.
 */
export const ToolSchema = z
  .union([
    ProgramName,
    z
      .object({
        program: ProgramName,
        paths: z.array(HostPath).default([]),
        exclude: z.array(HostPath).default([]),
      })
      .strict(),
  ])
  .transform((t) => (typeof t === 'string' ? { program: t, paths: [], exclude: [] } : t));
export type Tool = z.infer<typeof ToolSchema>;

export const ImageConfigSchema = z
  .object({
    $comment: z.string().optional(),
    /** npm:/jsr: specifiers pre-cached into the image's DENO_DIR. */
    dependencies: z.array(Specifier).default([]),
    /** Host programs copied into the image; usable only where allow-run grants them. */
    tools: z.array(ToolSchema).default([]),
  })
  .strict();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export function parseImageConfig(json: unknown, where: string): ImageConfig {
  return validateConfig(ImageConfigSchema, json, `image config ${where}`);
}

export async function loadImageConfig(path: string): Promise<ImageConfig> {
  return loadJsonConfig(ImageConfigSchema, path, `image config ${path}`);
}
