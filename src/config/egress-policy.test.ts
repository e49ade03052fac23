import { describe, expect, it } from 'vitest';
import { EgressPolicySchema, parseHostRule, ruleMatches, type HostRule } from './egress-policy.js';
import { PolicySchema } from './policy.js';

const rule = (v: string) => parseHostRule(v) as HostRule;

describe('egress host entries', () => {
  it('parses names, wildcards, ports and canonical IP literals', () => {
    expect(parseHostRule('API.GitHub.com')).toEqual({
      entry: 'api.github.com',
      kind: 'host',
      host: 'api.github.com',
    });
    expect(parseHostRule('*.example.com')).toEqual({
      entry: '*.example.com',
      kind: 'wildcard',
      host: 'example.com',
    });
    expect(parseHostRule('127.0.0.1:8443')).toEqual({
      entry: '127.0.0.1:8443',
      kind: 'host',
      host: '127.0.0.1',
      port: 8443,
    });
    expect(parseHostRule('[0:0::1]:9')).toMatchObject({ host: '::1', port: 9 });
  });

  it.each([
    ['https://api.github.com', 'is not host'],
    ['api.github.com:0', 'port outside'],
    ['api.github.com:70000', 'port outside'],
    ['0x7f000001', 'another notation'],
    ['a.1', 'another notation'],
    ['2130706433', 'invalid IPv4'],
    ['127.1', 'invalid IPv4'],
    ['::1', 'is not host'],
    ['[::zz]', 'invalid IPv6'],
    ['a.*.example.com', 'wildcard only as a whole first label'],
    ['*.com', 'top-level domain'],
    ['*', 'invalid host name'],
    ['exa\u200bmple.com', 'invisible character'],
    ['under_score.com', 'invalid host name'],
  ])('refuses %j', (value, problem) => {
    expect(parseHostRule(value)).toContain(problem);
  });

  it('matches the default ports only without a port, and wildcards only below the domain', () => {
    expect(ruleMatches(rule('api.github.com'), 'api.github.com', 443)).toBe(true);
    expect(ruleMatches(rule('api.github.com'), 'api.github.com', 80)).toBe(true);
    expect(ruleMatches(rule('api.github.com'), 'api.github.com', 8443)).toBe(false);
    expect(ruleMatches(rule('api.github.com'), 'github.com', 443)).toBe(false);
    expect(ruleMatches(rule('*.example.com'), 'a.b.example.com', 443)).toBe(true);
    expect(ruleMatches(rule('*.example.com'), 'example.com', 443)).toBe(false);
    expect(ruleMatches(rule('*.example.com'), 'badexample.com', 443)).toBe(false);
    expect(ruleMatches(rule('127.0.0.1:8443'), '127.0.0.1', 8443)).toBe(true);
    expect(ruleMatches(rule('127.0.0.1:8443'), 'localhost', 8443)).toBe(false);
    expect(ruleMatches(rule('127.0.0.1:8443'), '127.0.0.1', 443)).toBe(false);
  });
});

describe('egress policy section', () => {
  it('fills the defaults', () => {
    expect(EgressPolicySchema.parse({ allow: ['api.github.com'] })).toEqual({
      allow: ['api.github.com'],
      secrets: {},
      maxRequests: 100,
      maxResponseBytes: 10 * 1024 * 1024,
      timeoutMs: 30_000,
    });
  });

  it('takes the example of the design', () => {
    const egress = {
      allow: ['api.github.com', '*.example.com', '127.0.0.1:8443'],
      secrets: { GITHUB_TOKEN: { env: 'GITHUB_TOKEN', hosts: ['api.github.com'] } },
      caFile: '/etc/ssl/internal-ca.pem',
      maxRequests: 100,
      maxResponseBytes: 10485760,
      timeoutMs: 30000,
    };
    expect(PolicySchema.parse({ egress }).egress).toEqual(egress);
  });

  it.each([
    [{ secrets: { 'GITHUB-TOKEN': { env: 'X', hosts: ['a.com'] } }, allow: ['a.com'] }, 'secret name'],
    [{ secrets: { T: { env: 'X=1', hosts: ['a.com'] } }, allow: ['a.com'] }, 'environment variable name'],
    [{ secrets: { T: { file: 'token.txt', hosts: ['a.com'] } }, allow: ['a.com'] }, 'absolute path'],
    [{ secrets: { T: { env: 'X', file: '/x', hosts: ['a.com'] } }, allow: ['a.com'] }, ''],
    [{ secrets: { T: { env: 'X', hosts: [] } }, allow: ['a.com'] }, ''],
    [{ secrets: { T: { env: 'X', hosts: ['b.com'] } }, allow: ['a.com'] }, 'not in egress.allow'],
    [{ secrets: { T: { env: 'X', hosts: ['a.com'] } }, allow: ['a.com:443'] }, 'not in egress.allow'],
    [{ secrets: { T: { env: 'X', hosts: ['*.a.com'] } }, allow: ['x.a.com'] }, 'not in egress.allow'],
    [{ caFile: 'ca.pem' }, 'absolute path'],
    [{ maxRequests: 0 }, ''],
    [{ allow: ['https://a.com'] }, 'is not host'],
    [{ allow: [], extra: 1 }, ''],
  ])('refuses %j', (egress, message) => {
    const r = EgressPolicySchema.safeParse(egress);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join('\n')).toContain(message);
  });

  it('accepts a secret host covered by a wildcard or both default ports', () => {
    const parsed = EgressPolicySchema.safeParse({
      allow: ['*.example.com', 'a.com:443', 'a.com:80'],
      secrets: { T: { env: 'X', hosts: ['api.example.com', '*.b.example.com', 'a.com'] } },
    });
    expect(parsed.success).toBe(true);
  });

  it('needs network none', () => {
    const r = PolicySchema.safeParse({
      container: { network: 'mcp-conductor-egress' },
      egress: { allow: ['a.com'] },
    });
    expect(r.error?.issues[0]?.message).toContain('egress needs container.network "none"');
  });
});
