import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { describe, expect, it } from 'vitest';
import { formatBom, fromCycloneDx, importableSpecifiers, toCycloneDx, type ImageBom } from './bom.js';

const bom: ImageBom = {
  deno: { packageName: '@deno/linux-x64-glibc', version: '2.9.6', sha256: 'ab'.repeat(32) },
  packages: [
    {
      ecosystem: 'npm',
      name: 'fast-xml-parser',
      version: '4.5.7',
      integrity:
        'sha512-a6Qh1RMCNbSrU1+sAyAAZH3rTe+OaWJbNZIq0S+ifZciUUOQtlVxBJwoTUE2bYhysmG/RYyI5WJFIKdBahJdrQ==',
      specifiers: ['npm:fast-xml-parser@^4'],
      dependencies: ['npm:strnum@1.1.2'],
    },
    {
      ecosystem: 'npm',
      name: 'strnum',
      version: '1.1.2',
      integrity:
        'sha512-vrN+B7DBIoTTZjnPNewwhx6cBA/H+IS7rfW68n7XxC1y7uoiGQBxaKzqucGUgavX15dJgiGztLJ8vxuEzwqBdA==',
      specifiers: [],
      dependencies: [],
    },
    {
      ecosystem: 'jsr',
      name: '@std/path',
      version: '1.1.2',
      integrity: 'cd'.repeat(32),
      specifiers: ['jsr:@std/path@^1', 'jsr:@std/path'],
      dependencies: ['jsr:@std/internal@1.0.10'],
    },
    {
      ecosystem: 'jsr',
      name: '@std/internal',
      version: '1.0.10',
      integrity: 'ef'.repeat(32),
      specifiers: [],
      dependencies: [],
    },
  ],
  tools: [
    {
      program: 'git',
      path: '/usr/bin/git',
      debian: { name: 'git', version: '1:2.39.5-0+deb12u3', architecture: 'amd64' },
    },
    { program: 'jq', path: '/usr/local/bin/jq' },
  ],
  system: [{ name: 'libc6', version: '2.36-9+deb12u14', architecture: 'amd64' }],
  distribution: 'debian',
};

const image = { name: 'mcp-conductor-sandbox', version: '0123456789abcdef' };

describe('the bill of materials', () => {
  it('is CycloneDX 1.6 JSON that passes the specification’s strict schema', async () => {
    const json = JSON.stringify(toCycloneDx(bom, image));
    const problems: unknown = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json);
    expect(problems).toBeNull();
  });

  it('names each package the way scanners match it: purls, SHA-512 of npm tarballs, Debian versions', () => {
    const doc = toCycloneDx(bom, image) as { components: Record<string, unknown>[] };
    const byRef = new Map(doc.components.map((c) => [c['bom-ref'], c]));
    expect(byRef.get('npm:fast-xml-parser@4.5.7')).toMatchObject({
      purl: 'pkg:npm/fast-xml-parser@4.5.7',
      hashes: [{ alg: 'SHA-512', content: expect.stringMatching(/^6ba421d5[0-9a-f]{120}$/) as string }],
    });
    expect(byRef.get('npm:@deno/linux-x64-glibc@2.9.6')).toMatchObject({
      group: '@deno',
      name: 'linux-x64-glibc',
      purl: 'pkg:npm/%40deno/linux-x64-glibc@2.9.6',
    });
    expect(byRef.get('tool:/usr/bin/git')).toMatchObject({
      version: '1:2.39.5-0+deb12u3',
      purl: 'pkg:deb/debian/git@1%3A2.39.5-0%2Bdeb12u3?arch=amd64',
    });
    expect(byRef.get('jsr:@std/path@1.1.2')).toMatchObject({
      group: '@std',
      name: 'path',
      externalReferences: [{ type: 'distribution', url: 'https://jsr.io/@std/path/1.1.2' }],
    });
  });

  it('is the same for the same content (no timestamp; the serial number comes from the content)', () => {
    expect(JSON.stringify(toCycloneDx(bom, image))).toBe(
      JSON.stringify(toCycloneDx(structuredClone(bom), image)),
    );
    const other = toCycloneDx({ ...bom, packages: bom.packages.slice(1) }, image);
    expect(other.serialNumber).not.toBe(toCycloneDx(bom, image).serialNumber);
  });

  it('reads back exactly what it wrote (what doctor and `image --list` show of an imported image)', () => {
    expect(fromCycloneDx(JSON.parse(JSON.stringify(toCycloneDx(bom, image))))).toEqual(bom);
  });

  it('lists every package, tool and system package with version and integrity', () => {
    const lines = formatBom(bom).split('\n');
    expect(lines[0]).toMatch(/^kind +name +version +integrity +imported as$/);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^npm +fast-xml-parser +4\.5\.7 +sha512-a6Qh1RMC\S+ +npm:fast-xml-parser@\^4$/),
        expect.stringMatching(/^npm +strnum +1\.1\.2 +sha512-\S+ +\(dependency\)$/),
        expect.stringMatching(/^jsr +@std\/path +1\.1\.2 +(cd){32} +jsr:@std\/path@\^1 jsr:@std\/path$/),
        expect.stringMatching(/^tool +git +1:2\.39\.5-0\+deb12u3 +deb git amd64 +\/usr\/bin\/git$/),
        expect.stringMatching(/^tool +jq +\(not from a Debian package\) +\/usr\/local\/bin\/jq$/),
        expect.stringMatching(/^debian +libc6 +2\.36-9\+deb12u14 +amd64$/),
      ]),
    );
    expect(importableSpecifiers(bom)).toEqual([
      { specifier: 'npm:fast-xml-parser@^4', name: 'fast-xml-parser', version: '4.5.7' },
      { specifier: 'jsr:@std/path@^1', name: '@std/path', version: '1.1.2' },
      { specifier: 'jsr:@std/path', name: '@std/path', version: '1.1.2' },
    ]);
  });
});
