import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * What the image holds, recorded as a CycloneDX 1.6 JSON BOM in the image's `mcp-conductor.bom` label: Deno, every
 * npm and JSR package (with the lock's integrity and the image.json specifiers that import it), the CLI tools and
 * the Debian packages of the host files copied in. `image --list`, `doctor` and the tool description read it back;
 * a scanner reads the label of an imported image without running it.
 */
export const BOM_SPEC_VERSION = '1.6';
const P = 'mcp-conductor:';

export interface BomPackage {
  ecosystem: 'npm' | 'jsr';
  name: string;
  version: string;
  /** as in the lock: `sha512-<base64>` (npm tarball) or the hex sha256 of the JSR version manifest */
  integrity: string;
  /** the image.json specifiers that resolve to it (none: a dependency of another package) */
  specifiers: string[];
  /** `ecosystem:name@version` of what it imports */
  dependencies: string[];
}

export interface BomDebian {
  name: string;
  version: string;
  architecture: string;
}

export interface BomTool {
  program: string;
  /** where it is, in the image as on the build host */
  path: string;
  debian?: BomDebian;
}

export interface ImageBom {
  deno: { packageName: string; version: string; sha256: string };
  packages: BomPackage[];
  tools: BomTool[];
  /** Debian packages of the shared libraries and other host files (not the tools themselves) */
  system: BomDebian[];
  /** purl namespace of the Debian packages: `debian`, `ubuntu`… */
  distribution: string;
}

export const packageRef = (p: Pick<BomPackage, 'ecosystem' | 'name' | 'version'>) =>
  `${p.ecosystem}:${p.name}@${p.version}`;

function splitScope(name: string): { group?: string; name: string } {
  const m = /^(@[^/]+)\/(.+)$/.exec(name);
  return m ? { group: m[1]!, name: m[2]! } : { name };
}

const npmPurl = (name: string, version: string) => {
  const { group, name: base } = splitScope(name);
  return `pkg:npm/${group ? `${encodeURIComponent(group)}/` : ''}${encodeURIComponent(base)}@${encodeURIComponent(version)}`;
};
const debPurl = (d: BomDebian, distro: string) =>
  `pkg:deb/${distro}/${encodeURIComponent(d.name)}@${encodeURIComponent(d.version)}?arch=${encodeURIComponent(d.architecture)}`;

function hashesOf(p: BomPackage): { alg: string; content: string }[] {
  if (p.ecosystem === 'jsr') return [{ alg: 'SHA-256', content: p.integrity }];
  const m = /^sha512-(.+)$/.exec(p.integrity);
  return m ? [{ alg: 'SHA-512', content: Buffer.from(m[1]!, 'base64').toString('hex') }] : [];
}

const props = (entries: [string, string | undefined][]) =>
  entries.filter(([, v]) => v !== undefined).map(([name, value]) => ({ name: `${P}${name}`, value: value! }));

/** The BOM as CycloneDX JSON; no timestamp and a serial number derived from the content, so equal images agree. */
export function toCycloneDx(
  bom: ImageBom,
  image: { name: string; version: string },
): Record<string, unknown> {
  const imageRef = `image:${image.name}@${image.version}`;
  const denoRef = `npm:${bom.deno.packageName}@${bom.deno.version}`;
  const components: Record<string, unknown>[] = [
    {
      type: 'application',
      'bom-ref': denoRef,
      ...splitScope(bom.deno.packageName),
      version: bom.deno.version,
      description: 'the Deno runtime that runs the sandboxed code',
      purl: npmPurl(bom.deno.packageName, bom.deno.version),
      hashes: [{ alg: 'SHA-256', content: bom.deno.sha256 }],
      properties: props([['kind', 'deno']]),
    },
  ];
  for (const p of bom.packages) {
    components.push({
      type: 'library',
      'bom-ref': packageRef(p),
      ...splitScope(p.name),
      version: p.version,
      scope: 'required',
      hashes: hashesOf(p),
      ...(p.ecosystem === 'npm'
        ? { purl: npmPurl(p.name, p.version) }
        : { externalReferences: [{ type: 'distribution', url: `https://jsr.io/${p.name}/${p.version}` }] }),
      properties: props([
        ['kind', p.ecosystem],
        ['integrity', p.integrity],
        ...p.specifiers.map((s): [string, string] => ['specifier', s]),
      ]),
    });
  }
  for (const t of bom.tools) {
    components.push({
      type: 'application',
      'bom-ref': `tool:${t.path}`,
      name: t.program,
      ...(t.debian ? { version: t.debian.version, purl: debPurl(t.debian, bom.distribution) } : {}),
      properties: props([
        ['kind', 'tool'],
        ['path', t.path],
        ['debian-package', t.debian?.name],
        ['debian-architecture', t.debian?.architecture],
      ]),
    });
  }
  for (const d of bom.system) {
    components.push({
      type: 'library',
      'bom-ref': `deb:${d.name}@${d.version}`,
      name: d.name,
      version: d.version,
      purl: debPurl(d, bom.distribution),
      properties: props([
        ['kind', 'debian'],
        ['debian-architecture', d.architecture],
      ]),
    });
  }
  const direct = bom.packages.filter((p) => p.specifiers.length > 0).map(packageRef);
  const dependencies = [
    { ref: imageRef, dependsOn: [denoRef, ...direct, ...bom.tools.map((t) => `tool:${t.path}`)] },
    ...bom.packages.map((p) => ({ ref: packageRef(p), dependsOn: p.dependencies })),
  ];
  const body = {
    metadata: {
      tools: { components: [{ type: 'application', name: 'mcp-conductor' }] },
      component: { type: 'container', 'bom-ref': imageRef, name: image.name, version: image.version },
    },
    components,
    dependencies,
  };
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  const uuid = `${digest.slice(0, 8)}-${digest.slice(8, 12)}-5${digest.slice(13, 16)}-a${digest.slice(17, 20)}-${digest.slice(20, 32)}`;
  return {
    bomFormat: 'CycloneDX',
    specVersion: BOM_SPEC_VERSION,
    serialNumber: `urn:uuid:${uuid}`,
    version: 1,
    ...body,
  };
}

const PropertySchema = z.object({ name: z.string(), value: z.string() });
const ComponentSchema = z.looseObject({
  'bom-ref': z.string().optional(),
  group: z.string().optional(),
  name: z.string(),
  version: z.string().optional(),
  purl: z.string().optional(),
  hashes: z.array(z.looseObject({ alg: z.string(), content: z.string() })).default([]),
  properties: z.array(PropertySchema).default([]),
});
const CycloneDxSchema = z.looseObject({
  bomFormat: z.literal('CycloneDX'),
  components: z.array(ComponentSchema).default([]),
  dependencies: z
    .array(z.looseObject({ ref: z.string(), dependsOn: z.array(z.string()).default([]) }))
    .default([]),
});

/** Reads back a BOM written by toCycloneDx (the label of an image, maybe built elsewhere). */
export function fromCycloneDx(json: unknown): ImageBom {
  const doc = CycloneDxSchema.parse(json);
  const distribution =
    doc.components.map((c) => /^pkg:deb\/([^/]+)\//.exec(c.purl ?? '')?.[1]).find(Boolean) ?? 'debian';
  const bom: ImageBom = {
    deno: { packageName: '', version: '', sha256: '' },
    packages: [],
    tools: [],
    system: [],
    distribution,
  };
  const dependsOn = new Map(doc.dependencies.map((d) => [d.ref, d.dependsOn]));
  for (const c of doc.components) {
    const prop = (n: string) => c.properties.find((p) => p.name === `${P}${n}`)?.value;
    const name = c.group ? `${c.group}/${c.name}` : c.name;
    const kind = prop('kind');
    const version = c.version ?? '';
    if (kind === 'deno') bom.deno = { packageName: name, version, sha256: c.hashes[0]?.content ?? '' };
    else if (kind === 'npm' || kind === 'jsr') {
      bom.packages.push({
        ecosystem: kind,
        name,
        version,
        integrity: prop('integrity') ?? '',
        specifiers: c.properties.filter((p) => p.name === `${P}specifier`).map((p) => p.value),
        dependencies: dependsOn.get(c['bom-ref'] ?? '') ?? [],
      });
    } else if (kind === 'tool') {
      const debName = prop('debian-package');
      bom.tools.push({
        program: c.name,
        path: prop('path') ?? c.name,
        ...(debName
          ? { debian: { name: debName, version, architecture: prop('debian-architecture') ?? '' } }
          : {}),
      });
    } else if (kind === 'debian') {
      bom.system.push({ name: c.name, version, architecture: prop('debian-architecture') ?? '' });
    }
  }
  return bom;
}

/** The `image --list` table: one line per package, tool and system package. */
export function formatBom(bom: ImageBom): string {
  const rows: string[][] = [['kind', 'name', 'version', 'integrity', 'imported as']];
  rows.push(['deno', bom.deno.packageName, bom.deno.version, `sha256-${bom.deno.sha256}`, '']);
  for (const p of bom.packages)
    rows.push([p.ecosystem, p.name, p.version, p.integrity, p.specifiers.join(' ') || '(dependency)']);
  for (const t of bom.tools)
    rows.push([
      'tool',
      t.program,
      t.debian?.version ?? '(not from a Debian package)',
      t.debian ? `deb ${t.debian.name} ${t.debian.architecture}` : '',
      t.path,
    ]);
  for (const d of bom.system) rows.push(['debian', d.name, d.version, d.architecture, '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export interface ImportablePackage {
  specifier: string;
  name: string;
  version: string;
}

/** What `import` resolves to, for the tool description: `npm:zod@^3` → zod 3.25.76. */
export function importableSpecifiers(bom: ImageBom): ImportablePackage[] {
  return bom.packages.flatMap((p) =>
    p.specifiers.map((specifier) => ({ specifier, name: p.name, version: p.version })),
  );
}
