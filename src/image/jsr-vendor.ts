import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ImageMissingError } from '../core/index.js';
import { parseJsrSpecifier, parseJsrUrl, parseNpmSpecifier, type DenoInfo } from './deno-info.js';
import type { DenoLock } from './lock.js';

/**
 * JSR packages go into the image as plain files, and an import map the conductor owns sends every jsr: specifier
 * to them. Deno resolves jsr: through the registry's meta.json, which it counts as a remote module even when
 * cached, so under --no-remote no jsr: import could load from the cache; a file: URL from the import map can.
 */
export const JSR_DIR_IN_IMAGE = '/opt/conductor/jsr';

export interface VendoredFile {
  /** absolute path in the image */
  path: string;
  content: Buffer;
}

export interface JsrPackage {
  name: string;
  version: string;
  /** the lock's integrity: sha256 of the version manifest, which holds every file's sha256 */
  integrity: string;
  files: number;
  /** `jsr:…@version` and `npm:…@version` of the packages its files import */
  dependencies: string[];
}

export interface VendoredJsr {
  packages: JsrPackage[];
  files: VendoredFile[];
  /** jsr: specifier → file: URL in the image */
  imports: Record<string, string>;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const METADATA_MARK = Buffer.from('\n// denoCacheMetadata=');

/** A file of Deno's global cache is its body followed by one metadata line. */
function cachedBody(raw: Buffer): Buffer {
  const at = raw.lastIndexOf(METADATA_MARK);
  return at < 0 ? raw : raw.subarray(0, at);
}

interface VersionManifest {
  manifest: Record<string, { checksum: string }>;
  exports?: Record<string, string>;
}

/** Deno names a cached file by the sha256 of its URL's path; the manifest sits beside the package's files. */
async function readManifest(
  name: string,
  version: string,
  sampleLocal: string,
  jsrBase: string,
  integrity: string,
): Promise<VersionManifest> {
  const url = new URL(`${jsrBase.replace(/\/?$/, '/')}${name}/${version}_meta.json`);
  const local = join(dirname(sampleLocal), sha256(url.pathname + url.search));
  const body = cachedBody(await readFile(local));
  if (sha256(body) !== integrity) {
    throw new ImageMissingError(
      `jsr:${name}@${version} in the build's cache does not match the lock (its version manifest has sha256 ${sha256(body)}, the lock says ${integrity}).`,
    );
  }
  return JSON.parse(body.toString('utf8')) as VersionManifest;
}

/** What a resolved specifier belongs to: `jsr:@scope/name@version` or `npm:name@version`. */
function packageOf(resolved: string, jsrBase: string): string | undefined {
  const jsr = parseJsrUrl(resolved, jsrBase);
  if (jsr) return `jsr:${jsr.name}@${jsr.version}`;
  const npm = parseNpmSpecifier(resolved);
  return npm?.range ? `npm:${npm.name}@${npm.range}` : undefined;
}

const inImage = (name: string, version: string, path: string) =>
  `${JSR_DIR_IN_IMAGE}/${name}/${version}${path}`;

/**
 * Copies every JSR module of the graph out of Deno's cache, checking each file against the checksum in its
 * package's manifest and each manifest against the lock, and maps the specifiers: each listed one (also without
 * its range and with the exact version), every export of a listed package that the graph holds, and every jsr:
 * specifier the packages use among themselves.
 */
export async function vendorJsr(
  info: DenoInfo,
  lock: DenoLock,
  listed: string[],
  jsrBase: string,
): Promise<VendoredJsr> {
  const byPackage = new Map<
    string,
    { name: string; version: string; modules: { path: string; local: string }[]; uses: Set<string> }
  >();
  for (const m of info.modules) {
    const at = parseJsrUrl(m.specifier, jsrBase);
    if (!at) continue;
    if (!m.local)
      throw new ImageMissingError(
        `${m.specifier} is not in the build's cache${m.error ? `: ${m.error}` : ''}`,
      );
    const id = `${at.name}@${at.version}`;
    const entry = byPackage.get(id) ?? { name: at.name, version: at.version, modules: [], uses: new Set() };
    entry.modules.push({ path: at.path, local: m.local });
    for (const d of m.dependencies) {
      const used = packageOf(info.redirects[d.specifier] ?? '', jsrBase);
      if (used && used !== `jsr:${id}`) entry.uses.add(used);
    }
    byPackage.set(id, entry);
  }
  const packages: JsrPackage[] = [];
  const files: VendoredFile[] = [];
  const exportsOf = new Map<string, Record<string, string>>();
  for (const [id, pkg] of [...byPackage].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const integrity = lock.jsr[id]?.integrity;
    if (!integrity)
      throw new ImageMissingError(`jsr:${id} is in the build's graph but not in the lock file.`);
    const manifest = await readManifest(pkg.name, pkg.version, pkg.modules[0]!.local, jsrBase, integrity);
    exportsOf.set(id, manifest.exports ?? {});
    for (const mod of pkg.modules.sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const body = cachedBody(await readFile(mod.local));
      const expected = manifest.manifest[mod.path]?.checksum;
      if (expected !== `sha256-${sha256(body)}`) {
        throw new ImageMissingError(
          `jsr:${id} in the build's cache does not match the lock: its file ${mod.path} ${expected ? 'differs from the checksum in the locked manifest' : 'is not in the locked manifest'}.`,
        );
      }
      files.push({ path: inImage(pkg.name, pkg.version, mod.path), content: body });
    }
    packages.push({
      name: pkg.name,
      version: pkg.version,
      integrity,
      files: pkg.modules.length,
      dependencies: [...pkg.uses].sort(),
    });
  }
  return {
    packages,
    files,
    imports: importMap(info, listed, jsrBase, exportsOf, new Set(files.map((f) => f.path))),
  };
}

function importMap(
  info: DenoInfo,
  listed: string[],
  jsrBase: string,
  exportsOf: Map<string, Record<string, string>>,
  vendored: Set<string>,
): Record<string, string> {
  const imports: Record<string, string> = {};
  const target = (specifier: string) => {
    const url = info.redirects[specifier];
    const at = url ? parseJsrUrl(url, jsrBase) : undefined;
    return at ? { ...at, file: inImage(at.name, at.version, at.path) } : undefined;
  };
  // What the packages import from each other, as written in their files.
  for (const m of info.modules) {
    if (!parseJsrUrl(m.specifier, jsrBase)) continue;
    for (const d of m.dependencies) {
      const t = parseJsrSpecifier(d.specifier) && target(d.specifier);
      if (t) imports[d.specifier] = pathToFileURL(t.file).href;
    }
  }
  for (const spec of listed) {
    const parsed = parseJsrSpecifier(spec);
    const t = parsed && target(spec);
    if (!parsed || !t) continue;
    const forms = (subpath: string) => [
      `jsr:${parsed.name}${parsed.range ? `@${parsed.range}` : ''}${subpath}`,
      `jsr:${parsed.name}${subpath}`,
      `jsr:${parsed.name}@${t.version}${subpath}`,
    ];
    for (const key of forms(parsed.subpath)) imports[key] ??= pathToFileURL(t.file).href;
    const exports = exportsOf.get(`${t.name}@${t.version}`) ?? {};
    for (const [exp, file] of Object.entries(exports)) {
      const path = inImage(t.name, t.version, file.replace(/^\.\//, '/'));
      if (!vendored.has(path)) continue;
      for (const key of forms(exp === '.' ? '' : exp.replace(/^\./, '')))
        imports[key] ??= pathToFileURL(path).href;
    }
  }
  return Object.fromEntries(Object.entries(imports).sort(([a], [b]) => (a < b ? -1 : 1)));
}
