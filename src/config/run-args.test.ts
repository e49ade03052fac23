import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { parseRunArgs } from './run-args.js';

const refuse = (raw: string, pattern: RegExp) => {
  expect(() => parseRunArgs(raw)).toThrow(ConfigError);
  expect(() => parseRunArgs(raw)).toThrow(pattern);
};

describe('MCP_CONDUCTOR_RUN_ARGS', () => {
  it('parses the seed format, a bare token continuing the list before it', () => {
    expect(parseRunArgs('allow-read=/workspace,allow-write=/workspace,allow-net,allow-run=gh,git')).toEqual({
      read: ['/workspace'],
      write: ['/workspace'],
      net: true,
      run: ['gh', 'git'],
    });
  });

  it.each([
    [undefined, {}],
    ['', {}],
    ['   ', {}],
    ['--allow-net', { net: true }],
    ['allow-net=localhost:8080,api.example.com', { net: ['localhost:8080', 'api.example.com'] }],
    ['allow-net=[::1]:80,127.0.0.1', { net: ['[::1]:80', '127.0.0.1'] }],
    ['allow-read=/a allow-read=/b,/a', { read: ['/a', '/b'] }],
    ['allow-read=/a,allow-read', { read: true }],
    ['allow-run=gh,git,allow-net', { run: ['gh', 'git'], net: true }],
    [' allow-env=AWS_*,HOME , ', { env: ['AWS_*', 'HOME'] }],
    ['allow-sys=hostname,cpus', { sys: ['hostname', 'cpus'] }],
    ['allow-run=/usr/bin/git', { run: ['/usr/bin/git'] }],
    ['allow-import=jsr.io', { import: ['jsr.io'] }],
  ])('%j → %j', (raw, expected) => {
    expect(parseRunArgs(raw)).toEqual(expected);
  });

  it.each([
    ['allow-all', /allow-all.*refused.*every permission/],
    ['-A', /"-A" is refused/],
    ['allow-ffi', /allow-ffi.*refused/],
    ['--inspect=0.0.0.0:9229', /inspect.*refused/],
    ['inspect-brk', /refused/],
    ['v8-flags=--max-old-space-size=99999', /v8-flags.*refused/],
    ['config=/tmp/deno.json', /config.*refused/],
    ['-P', /refused/],
    ['unstable-ffi', /unstable.*refused/],
    ['deny-net', /deny-\* flags are not supported/],
    ['allow-hrtime', /refused/],
    ['allow-everything', /not a known flag/],
    ['git', /"git" is not a known flag/],
    ['allow-net,foo', /"foo" is not a known flag \(allow-net takes no list/],
    ['allow-read=', /empty value/],
    ['allow-read=workspace', /must be absolute/],
    ['allow-read=/a,b', /must be absolute: "b"/],
    ['allow-write=/workspace/../etc', /must not contain ".."/],
    ['allow-net=exa mple.com:99999', /not a known flag|invalid/],
    ['allow-net=host:70000', /invalid port/],
    ['allow-env=1BAD', /variable names/],
    ['allow-sys=kernel', /does not know "kernel"/],
    ['allow-run=rm;reboot', /command names/],
    ['allow-read=/a\u0007b', /control character/],
  ])('refuses %j', (raw, pattern) => refuse(raw, pattern));

  it('lists every problem at once', () => {
    try {
      parseRunArgs('allow-all,allow-ffi,bogus');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message.split('\n').filter((l) => l.startsWith('- '))).toHaveLength(3);
    }
  });
});
