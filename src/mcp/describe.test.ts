import { describe, expect, it } from 'vitest';
import type { DenoPermissions } from '../config/permissions.js';
import { PolicySchema } from '../config/policy.js';
import { describeTool, globalsText, type DescribeInput, type ImportablePackage } from './describe.js';

const zod = { specifier: 'npm:zod@^3', name: 'zod', version: '3.25.76' };
const dateFns = { specifier: 'npm:date-fns@^3', name: 'date-fns', version: '3.6.0' };
const stdPath = { specifier: 'jsr:@std/path@^1', name: '@std/path', version: '1.1.2' };

function input(opts: {
  policy?: unknown;
  permissions?: DenoPermissions;
  dependencies?: ImportablePackage[];
  servers?: string[];
}): DescribeInput {
  return {
    profile: {
      image: 'img',
      policy: PolicySchema.parse(opts.policy ?? {}),
      permissions: opts.permissions ?? {},
      tenant: 'default',
      workspaceDir: undefined,
    },
    dependencies: opts.dependencies ?? [zod, dateFns],
    directory: { servers: () => opts.servers ?? [] },
  };
}

describe('describeTool', () => {
  it('teaches the result rules, await, the cached imports with their exact specifiers', () => {
    const text = describeTool(input({}));
    expect(text).toContain('a top-level `return x` ends the code with x');
    expect(text).toContain('`export default x` makes x the result');
    expect(text).toContain('the value of the last top-level expression statement is the result');
    expect(text).toContain('Top-level `await` works');
    expect(text).toContain(
      'with exactly these specifiers (each also without its range, or with the exact version): npm:zod@^3 (zod 3.25.76), npm:date-fns@^3 (date-fns 3.6.0);',
    );
    expect(text).toContain('import * as lib from "npm:zod@^3"');
    expect(text).toContain('Nothing else can be imported');
    expect(describeTool(input({ dependencies: [] }))).toContain('no packages are pre-installed');
  });

  it('lists jsr: packages under every policy: they import from the image with --no-remote on', () => {
    const text = describeTool(input({ dependencies: [stdPath, zod] }));
    expect(text).toContain('jsr:@std/path@^1 (@std/path 1.1.2), npm:zod@^3 (zod 3.25.76);');
    expect(text).toContain('Nothing else can be imported');
  });

  it('always teaches mcpFactory, and says when no server is configured', () => {
    for (const servers of [undefined, []]) {
      const text = describeTool(input({ servers }));
      expect(text).toContain('The global `mcpFactory`');
      expect(text).toContain('await mcpFactory.load("name")');
      expect(text).toContain('No MCP servers are configured');
      expect(text).not.toContain('get_tools');
    }
    const text = describeTool(input({ servers: ['github', 'memory'] }));
    expect(text).toContain('The global `mcpFactory`');
    expect(text).toContain('MCP servers available: github, memory.');
    expect(text).toContain('get_tools');
    expect(text).not.toContain('No MCP servers');
  });

  it('teaches the progress() global', () => {
    const text = describeTool(input({}));
    expect(text).toContain('the global `progress(value, total?, message?)`');
    expect(text).toContain('at most 4 times a second');
  });

  it('states the permissions, files and limits in force', () => {
    const none = describeTool(input({ policy: { workspace: { mode: 'none' } } }));
    expect(none).toContain('Permissions: none (no file, network, environment or subprocess access)');
    expect(none).toContain('Deno.errors.NotCapable');
    expect(none).not.toContain('/workspace');
    expect(none).not.toContain('Deno.Command');
    expect(none).toContain('30000 ms by default');
    expect(none).toContain('up to 120000 ms');
    expect(none).toContain('512 MB of memory');
    expect(none).toContain('no network at all');

    const granted = describeTool(
      input({
        permissions: { read: ['/workspace'], write: ['/workspace'], run: ['git'] },
        policy: {
          workspace: { mode: 'ro' },
          container: { network: 'egress', memoryMb: 256 },
          deno: { allowUncachedImports: true },
        },
      }),
    );
    expect(granted).toContain('Permissions: read: /workspace; write: /workspace; run: git.');
    expect(granted).toContain('new Deno.Command("name"');
    expect(granted).toContain('/workspace persists between calls (mounted read-only)');
    expect(granted).toContain('256 MB of memory, network as far as the permissions allow');
    expect(granted).toContain('other npm:/jsr: packages are downloaded at run time');
    expect(granted).not.toContain('Nothing else can be imported');
  });

  it('names the egress hosts, the secrets and their hosts, and the caps, only when the policy has egress', () => {
    const egress = {
      allow: ['api.github.com', '*.example.com'],
      secrets: { GITHUB_TOKEN: { env: 'GH', hosts: ['api.github.com'] } },
      maxRequests: 7,
    };
    const text = describeTool(input({ policy: { egress } }));
    expect(text).toContain(
      "reach exactly these hosts through the conductor's gateway, with no permission needed: api.github.com, *.example.com",
    );
    expect(text).toContain('At most 7 requests per call');
    expect(text).toContain("Secrets: Deno.env.get('GITHUB_TOKEN') for api.github.com.");
    expect(text).toContain("new Octokit({ auth: Deno.env.get('GITHUB_TOKEN') })");
    expect(text).toContain('no network but HTTP(S) to the hosts above');
    const none = describeTool(input({}));
    expect(none).not.toContain('HTTP(S)');
    expect(none).toContain('no network at all');
  });
});

describe('globalsText', () => {
  const profile = (mode: 'rw' | 'none') => ({
    ...input({ policy: { workspace: { mode } } }).profile,
    workspaceDir: '/host/ws',
  });

  it('says what WORKSPACE_DIR is for this profile, and names importPlaybook and PERMISSIONS', () => {
    const mounted = globalsText(profile('rw'));
    expect(mounted).toContain('`WORKSPACE_DIR` is "/workspace"');
    expect(mounted).toContain('await importPlaybook("folder-name")');
    expect(mounted).toContain('`PERMISSIONS` is the grant in force (frozen)');
    expect(mounted).not.toContain('/host/ws');
    expect(globalsText(profile('none'))).toContain('`WORKSPACE_DIR` is undefined (no workspace is mounted)');
    expect(describeTool(input({}))).toContain(globalsText(input({}).profile));
  });
});
