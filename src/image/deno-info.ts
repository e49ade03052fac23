import { z } from 'zod';

/** The parts of `deno info --json` (Deno 2.9) the build reads: the module graph and where Deno cached it. */
const DependencySchema = z.looseObject({ specifier: z.string() });

const ModuleSchema = z.looseObject({
  specifier: z.string(),
  kind: z.string().optional(),
  /** the cached copy (remote modules): the body followed by Deno's metadata line */
  local: z.string().nullish(),
  error: z.string().optional(),
  dependencies: z.array(DependencySchema).default([]),
});

const NpmPackageSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  dependencies: z.array(z.string()).default([]),
  localPath: z.string().nullish(),
});

export const DenoInfoSchema = z.looseObject({
  modules: z.array(ModuleSchema).default([]),
  /** jsr: and npm: specifiers → what they resolved to (a https URL, or `npm:/name@version[/sub]`) */
  redirects: z.record(z.string(), z.string()).default({}),
  npmPackages: z.record(z.string(), NpmPackageSchema).default({}),
});
export type DenoInfo = z.infer<typeof DenoInfoSchema>;

export function parseDenoInfo(text: string): DenoInfo {
  return DenoInfoSchema.parse(JSON.parse(text));
}

/** `jsr:@scope/name@^1/sub` → its parts; undefined for anything else. */
export function parseJsrSpecifier(
  specifier: string,
): { name: string; range?: string; subpath: string } | undefined {
  const m = /^jsr:\/?(@[^/@]+\/[^/@]+)(?:@([^/]+))?(\/.*)?$/.exec(specifier);
  return m ? { name: m[1]!, range: m[2], subpath: m[3] ?? '' } : undefined;
}

/** `npm:/@scope/name@1.2.3/sub` or `npm:name@^1` → name, version or range, subpath. */
export function parseNpmSpecifier(
  specifier: string,
): { name: string; range?: string; subpath: string } | undefined {
  const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]+))?(\/.*)?$/.exec(specifier);
  return m ? { name: m[1]!, range: m[2], subpath: m[3] ?? '' } : undefined;
}

/** A JSR file URL under the registry base → package, version and the file's path in the package. */
export function parseJsrUrl(
  url: string,
  jsrBase: string,
): { name: string; version: string; path: string } | undefined {
  const base = jsrBase.replace(/\/?$/, '/');
  if (!url.startsWith(base)) return undefined;
  const m = /^(@[^/]+\/[^/]+)\/([^/]+)(\/.+)$/.exec(url.slice(base.length));
  return m ? { name: m[1]!, version: m[2]!, path: m[3]! } : undefined;
}
