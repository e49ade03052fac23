import { describe, expect, it } from 'vitest';
import { explainDenials, hideMainFrame } from './error-text.js';

const deno = (kind: string, target: string) =>
  `Requires ${kind} access to "${target}", run again with the --allow-${kind} flag`;

describe('explainDenials', () => {
  const ctx = { permissions: { read: ['/workspace', '/data'], write: ['/workspace'], run: true } };

  it('says the administrator did not grant it, and what they granted, for each kind', () => {
    expect(explainDenials(deno('read', '/etc/passwd'), ctx)).toBe(
      'read access to "/etc/passwd" is not granted by the administrator; granted read: /workspace, /data',
    );
    expect(explainDenials(`NotCapable: ${deno('net', '127.0.0.1:8080')}\n    at code.ts:1:7`, ctx)).toBe(
      'NotCapable: net access to "127.0.0.1:8080" is not granted by the administrator; granted net: none\n    at code.ts:1:7',
    );
    expect(explainDenials(deno('ffi', '/x.so'), ctx)).toContain('granted ffi: none');
    expect(explainDenials(deno('run', 'git'), ctx)).toContain('granted run: everything');
    expect(explainDenials('Requires sys access, run again with the --allow-sys flag', ctx)).toBe(
      'sys access is not granted by the administrator; granted sys: none',
    );
  });

  it('names the egress hosts for net, keeps escaped targets whole, and leaves other text alone', () => {
    const egress = { ...ctx, egressHosts: ['api.github.com'] };
    expect(explainDenials(deno('net', 'example.com:443'), egress)).toContain(
      'granted net: HTTP(S) through the egress gateway to api.github.com',
    );
    expect(explainDenials(deno('read', '/a \\"b\\", run again'), ctx)).toBe(
      'read access to "/a \\"b\\", run again" is not granted by the administrator; granted read: /workspace, /data',
    );
    expect(explainDenials('Requires patience', ctx)).toBe('Requires patience');
    // Hostile length: linear, whatever the text.
    const long = `Requires read access to "${'\\"'.repeat(100_000)}`;
    expect(explainDenials(long, ctx)).toBe(long);
  });
});

describe('hideMainFrame', () => {
  it('shows the wrapper’s frame as the user’s position, sync or async, and nothing else', () => {
    expect(hideMainFrame('Error: x\n    at __conductorMain (code.ts:3:9)')).toBe(
      'Error: x\n    at code.ts:3:9',
    );
    expect(hideMainFrame('    at async __conductorMain (code.ts:1:2)')).toBe('    at async code.ts:1:2');
    expect(hideMainFrame('    at f (code.ts:1:2)')).toBe('    at f (code.ts:1:2)');
    expect(hideMainFrame('at __conductorMain (other.ts:1:2)')).toBe('at __conductorMain (other.ts:1:2)');
  });
});
