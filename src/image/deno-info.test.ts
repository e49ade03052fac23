import { describe, expect, it } from 'vitest';
import { parseJsrSpecifier, parseJsrUrl, parseNpmSpecifier } from './deno-info.js';

describe('specifiers and registry URLs as deno info reports them', () => {
  it('splits jsr: specifiers with and without range and subpath', () => {
    expect(parseJsrSpecifier('jsr:@std/path')).toEqual({ name: '@std/path', range: undefined, subpath: '' });
    expect(parseJsrSpecifier('jsr:@std/path@^1/posix/join')).toEqual({
      name: '@std/path',
      range: '^1',
      subpath: '/posix/join',
    });
    expect(parseJsrSpecifier('npm:zod')).toBeUndefined();
  });

  it('splits npm: specifiers and resolutions, scoped or not', () => {
    expect(parseNpmSpecifier('npm:/@scope/pkg@1.2.3/sub')).toEqual({
      name: '@scope/pkg',
      range: '1.2.3',
      subpath: '/sub',
    });
    expect(parseNpmSpecifier('npm:zod@^3')).toEqual({ name: 'zod', range: '^3', subpath: '' });
    expect(parseNpmSpecifier('jsr:@std/path')).toBeUndefined();
  });

  it('reads package, version and file from a JSR URL under the registry base, and nothing else', () => {
    expect(parseJsrUrl('https://jsr.io/@std/path/1.1.2/posix/join.ts', 'https://jsr.io')).toEqual({
      name: '@std/path',
      version: '1.1.2',
      path: '/posix/join.ts',
    });
    expect(
      parseJsrUrl('http://127.0.0.1:9/t/jsr/@a/b/1.0.0/mod.ts', 'http://127.0.0.1:9/t/jsr/'),
    ).toMatchObject({
      name: '@a/b',
    });
    expect(parseJsrUrl('https://evil.example/@std/path/1.1.2/mod.ts', 'https://jsr.io/')).toBeUndefined();
  });
});
