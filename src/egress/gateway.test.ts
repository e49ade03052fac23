import { request, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  makeCertificates,
  startTarget,
  type Certificates,
  type Target,
} from '../../test/fixtures/https-target.mjs';
import { EgressPolicySchema } from '../config/egress-policy.js';
import type { EgressRequest } from '../core/index.js';
import { createEgressGateway, type EgressGateway } from './gateway.js';
import type { ResolveAll } from './resolve.js';
import { loadEgressSetup } from './setup.js';

const TOKEN = 'ghp_real-secret-value-0123456789';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** the body ended with an error instead of cleanly */
  broken?: string;
}

/** Sends one proxy request the way Deno's fetch does: absolute URL in the request line, over the Unix socket. */
function send(
  socketPath: string,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; onData?: () => void } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: url, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          opts.onData?.();
        });
        const answer = (broken?: string) => ({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(broken ? { broken } : {}),
        });
        res.on('end', () => resolve(answer()));
        res.on('error', (e) => resolve(answer(e.message)));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Sends a GET over a raw connection and decodes the chunked body itself, chunk by chunk, until the end or the first
 * bad chunk header: unlike node:http's parser (which drops the data read together with the bad header), it shows
 * exactly what reached the sandbox before a cut, as Deno's fetch sees it.
 */
function sendRaw(socketPath: string, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(received);
      const headEnd = all.indexOf('\r\n\r\n');
      const status = Number(all.subarray(9, 12).toString());
      const chunks: Buffer[] = [];
      let at = headEnd + 4;
      let broken: string | undefined = 'the connection closed before the last chunk';
      for (;;) {
        const lineEnd = all.indexOf('\r\n', at);
        if (lineEnd < 0) break;
        const line = all.subarray(at, lineEnd).toString();
        if (!/^[0-9a-f]+$/i.test(line)) {
          broken = `bad chunk header ${JSON.stringify(line)}`;
          break;
        }
        const size = parseInt(line, 16);
        if (size === 0) {
          broken = undefined;
          break;
        }
        chunks.push(all.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      resolve({ status, headers: {}, body, ...(broken ? { broken } : {}) });
    });
    socket.write(`GET ${url} HTTP/1.1\r\nhost: gateway\r\n\r\n`);
  });
}

/** Opens a stream through the gateway; resolves with its head and what arrived once `until` says so, then hangs up. */
function stream(
  socketPath: string,
  url: string,
  until: (received: string) => boolean,
): Promise<{ status: number; headers: IncomingHttpHeaders; received: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: url, agent: false }, (res) => {
      let received = '';
      const check = () => {
        if (!until(received)) return;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, received });
        req.destroy();
      };
      res.on('data', (c: Buffer) => {
        received += c.toString();
        check();
      });
      check();
    });
    req.on('error', reject);
    req.end();
  });
}

let certs: Certificates;
let tls: Target;
let plain: Target;
let dir: string;
let n = 0;
const gateways: EgressGateway[] = [];

beforeAll(async () => {
  certs = makeCertificates();
  tls = await startTarget({ certs });
  plain = await startTarget();
  dir = await mkdtemp(join(tmpdir(), 'egress-gw-'));
});
afterAll(async () => {
  await Promise.all([tls.close(), plain.close()]);
  await rm(dir, { recursive: true, force: true });
  await rm(certs.dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** A gateway for `egress` (policy JSON), listening and open; `records` fills as requests end. */
async function gateway(
  egress: Record<string, unknown>,
  opts: { resolveAll?: ResolveAll; env?: Record<string, string>; caFile?: boolean } = {},
) {
  const policy = EgressPolicySchema.parse({
    ...(opts.caFile === false ? {} : { caFile: certs.caFile }),
    ...egress,
  });
  const setup = await loadEgressSetup('"test"', policy, opts.env ?? { GH: TOKEN });
  const gw = createEgressGateway(setup, opts.resolveAll ? { resolveAll: opts.resolveAll } : {});
  gateways.push(gw);
  const path = join(dir, `g${n++}.sock`);
  await gw.listen(path, 65534);
  const records: EgressRequest[] = [];
  gw.open((r) => records.push(r));
  return { gw, path, records, send: (url: string, o?: Parameters<typeof send>[2]) => send(path, url, o) };
}

const secretPolicy = (port: number, extra: Record<string, unknown> = {}) => ({
  allow: [`127.0.0.1:${port}`, `localhost:${plain.port}`],
  secrets: { GITHUB_TOKEN: { env: 'GH', hosts: [`127.0.0.1:${port}`] } },
  ...extra,
});

describe('egress gateway: hosts', () => {
  it('forwards to an allowed host over verified TLS and records the request without its query', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] });
    const a = await g.send(`https://127.0.0.1:${tls.port}/hello?token=abc`);
    expect(a).toMatchObject({ status: 200, body: 'ok GET /hello' });
    expect(g.records).toEqual([
      expect.objectContaining({
        method: 'GET',
        host: `127.0.0.1:${tls.port}`,
        rule: `127.0.0.1:${tls.port}`,
        path: '/hello',
        status: 200,
        outcome: 'ok',
        bytes: 13,
        secrets: [],
      }),
    ]);
  });

  it('serves many requests at once', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] });
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => g.send(`https://127.0.0.1:${tls.port}/c${i}`)),
    );
    expect(answers.map((a) => a.body)).toEqual(answers.map((_, i) => `ok GET /c${i}`));
  });

  it('refuses an unlisted host, naming it and the policy, without connecting', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] });
    const before = tls.requests.length;
    for (const url of [
      `https://localhost:${tls.port}/`,
      `https://127.0.0.1:${tls.port + 1}/`,
      'https://api.github.com/',
    ]) {
      const a = await g.send(url);
      expect(a.status).toBe(403);
      expect(a.headers['x-mcp-conductor-egress']).toBe('denied');
      expect(a.body).toMatch(
        /^egress: the policy does not allow requests to .+ \(egress\.allow: 127\.0\.0\.1:\d+\)$/,
      );
    }
    expect((await g.send(`https://localhost:${tls.port}/`)).body).toContain(`localhost:${tls.port}`);
    expect(tls.requests.length).toBe(before);
    expect(g.records.map((r) => [r.outcome, r.rule])).toEqual(Array(4).fill(['denied', undefined]));
  });

  it('reads odd IP notations as the address they are', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] });
    for (const host of ['2130706433', '0x7f000001', '0177.0.0.1', '127.1']) {
      expect((await g.send(`https://${host}:${tls.port}/odd`)).status).toBe(200);
    }
    // An IPv4-mapped IPv6 literal is another name: not listed.
    expect((await g.send(`https://[::ffff:127.0.0.1]:${tls.port}/`)).status).toBe(403);
  });

  it('refuses loopback, private and metadata addresses unless that exact host:port is listed', async () => {
    const answers: Record<string, string> = {
      'loop.example.test': '127.0.0.1',
      'ten.example.test': '10.0.0.7',
      'meta.example.test': '169.254.169.254',
      'mapped.example.test': '::ffff:127.0.0.1',
      'v6meta.example.test': 'fd00:ec2::254',
    };
    const resolveAll: ResolveAll = (host) =>
      answers[host]
        ? Promise.resolve([{ address: answers[host], family: answers[host].includes(':') ? 6 : 4 }])
        : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }));
    const g = await gateway({ allow: ['*.example.test', '127.0.0.1'] }, { resolveAll });
    const kinds: Record<string, string> = {
      'loop.example.test': 'loopback',
      'ten.example.test': 'private',
      'meta.example.test': 'cloud metadata',
      'mapped.example.test': 'loopback',
      'v6meta.example.test': 'cloud metadata',
    };
    for (const [host, kind] of Object.entries(kinds)) {
      const a = await g.send(`https://${host}/`);
      expect(a.status).toBe(403);
      expect(a.body).toContain(
        `resolves to a ${kind} address, which the policy allows only when egress.allow lists exactly "${host}:443"`,
      );
    }
    // A literal loopback address under an entry without a port: not exact either.
    expect((await g.send('https://127.0.0.1/')).body).toContain('a loopback address');
    expect((await g.send('https://nx.example.test/')).body).toContain('could not be resolved (ENOTFOUND)');
  });

  it('connects to the address it checked (DNS rebinding), resolving once per request', async () => {
    let calls = 0;
    const resolveAll: ResolveAll = () => {
      calls++;
      return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    };
    // api.test is nowhere in DNS: only the gateway's own answer can take the connection to the target.
    const g = await gateway({ allow: [`api.test:${tls.port}`] }, { resolveAll });
    const a = await g.send(`https://api.test:${tls.port}/pinned`);
    expect(a).toMatchObject({ status: 200, body: 'ok GET /pinned' });
    expect(calls).toBe(1);
  });

  it('verifies TLS against the built-in store unless caFile adds the CA', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] }, { caFile: false });
    const a = await g.send(`https://127.0.0.1:${tls.port}/`);
    expect(a.status).toBe(502);
    expect(a.body).toMatch(
      /the TLS certificate of 127\.0\.0\.1:\d+ could not be verified \(\w+\); an internal CA goes in the policy's egress\.caFile/,
    );
  });

  it('speaks plain HTTP to http:// targets', async () => {
    const g = await gateway(
      { allow: [`localhost:${plain.port}`] },
      {
        resolveAll: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
      },
    );
    const a = await g.send(`http://localhost:${plain.port}/p`, { method: 'POST', body: 'data' });
    expect(a).toMatchObject({ status: 200, body: 'ok POST /p' });
    expect(plain.requests.at(-1)).toMatchObject({
      body: 'data',
      headers: { host: `localhost:${plain.port}` },
    });
  });

  it('refuses CONNECT tunnels, origin-form requests and URLs with credentials', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] });
    const raw = await new Promise<string>((resolve) => {
      const s = connect(g.path, () =>
        s.write(`CONNECT 127.0.0.1:${tls.port} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`),
      );
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('close', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 403[\s\S]*CONNECT tunnels are not offered/);
    expect((await g.send('/relative')).body).toContain('absolute http:// or https:// URL');
    expect((await g.send(`https://u:p@127.0.0.1:${tls.port}/`)).body).toContain('credentials in the URL');
  });
});

describe('egress gateway: secrets', () => {
  it('puts the value into headers only for the secret host, and redacts it from the answer', async () => {
    const g = await gateway(secretPolicy(tls.port));
    const ph = g.gw.placeholders.GITHUB_TOKEN!;
    expect(ph).toMatch(/^mcp-conductor-secret-GITHUB_TOKEN-[0-9a-f]{32}$/);
    expect(ph).not.toContain(TOKEN);
    const a = await g.send(`https://127.0.0.1:${tls.port}/echo`, {
      headers: { authorization: `token ${ph}` },
    });
    expect(tls.requests.at(-1)!.headers.authorization).toBe(`token ${TOKEN}`);
    expect(a.status).toBe(200);
    expect(a.body).not.toContain(TOKEN);
    expect(a.body).toContain(`token ${ph}`);
    expect(a.headers['x-echo-authorization']).toBe(`token ${ph}`);
    expect(g.records.at(-1)).toMatchObject({ outcome: 'ok', secrets: ['GITHUB_TOKEN'] });
    expect(JSON.stringify(g.records)).not.toContain(TOKEN);
  });

  it('substitutes inside Authorization: Basic', async () => {
    const g = await gateway(secretPolicy(tls.port));
    const ph = g.gw.placeholders.GITHUB_TOKEN!;
    await g.send(`https://127.0.0.1:${tls.port}/`, {
      headers: { authorization: `Basic ${Buffer.from(`me:${ph}`).toString('base64')}` },
    });
    expect(tls.requests.at(-1)!.headers.authorization).toBe(
      `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}`,
    );
  });

  it('refuses a placeholder sent to another host, or in a URL', async () => {
    const g = await gateway(secretPolicy(tls.port), {
      resolveAll: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    });
    const ph = g.gw.placeholders.GITHUB_TOKEN!;
    const before = plain.requests.length;
    const a = await g.send(`http://localhost:${plain.port}/`, { headers: { 'x-api-key': ph } });
    expect(a.status).toBe(403);
    expect(a.body).toBe(
      `egress: the request carries the placeholder of GITHUB_TOKEN, which the policy gives only to 127.0.0.1:${tls.port}`,
    );
    const b = await g.send(`https://127.0.0.1:${tls.port}/x?access_token=${ph}`);
    expect(b.body).toContain('secrets are put into request headers only');
    expect(plain.requests.length).toBe(before);
  });

  it('redacts a value cut across chunks, and inside a gzip body', async () => {
    const g = await gateway(secretPolicy(tls.port));
    const ph = g.gw.placeholders.GITHUB_TOKEN!;
    const headers = { authorization: `token ${ph}` };
    const split = await g.send(`https://127.0.0.1:${tls.port}/split`, { headers });
    expect(split.body).toBe(`before token ${ph} after`);
    const zipped = await g.send(`https://127.0.0.1:${tls.port}/gzip?n=10`, { headers });
    expect(zipped.headers['content-encoding']).toBeUndefined();
    expect(zipped.body).toBe(`gzip says token ${ph} and zzzzzzzzzz`);
  });

  it('relays a stream as it comes: the head before any body, each event without waiting for the next', async () => {
    const g = await gateway(secretPolicy(tls.port));
    const base = `https://127.0.0.1:${tls.port}/events`;
    const head = await stream(g.path, `${base}?ms=600000`, () => true);
    expect(head).toMatchObject({ status: 200, received: '' });
    expect(head.headers['content-type']).toBe('text/event-stream');
    // The redactor holds back only what could start the secret; an event's end never does.
    const event = await stream(g.path, base, (text) => text.endsWith('\n\n'));
    expect(event.received).toBe('data: {"n":1}\n\n');
  });

  it('says which secret source is missing, naming the policy', async () => {
    const policy = EgressPolicySchema.parse(secretPolicy(tls.port));
    await expect(loadEgressSetup('"acme"', policy, {})).rejects.toThrow(
      'policy "acme": egress secret GITHUB_TOKEN: the environment variable GH is not set',
    );
    const fromFile = EgressPolicySchema.parse({
      allow: ['a.com'],
      secrets: { T: { file: join(dir, 'missing-token'), hosts: ['a.com'] } },
    });
    await expect(loadEgressSetup('"acme"', fromFile, {})).rejects.toThrow(
      `policy "acme": egress secret T: cannot read ${join(dir, 'missing-token')} (ENOENT)`,
    );
  });
});

describe('egress gateway: caps', () => {
  it('passes a redirect to the sandbox, whose follow-up is checked again', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`] });
    const a = await g.send(`https://127.0.0.1:${tls.port}/redirect?to=https://169.254.169.254/latest`);
    expect(a.status).toBe(302);
    expect(a.headers.location).toBe('https://169.254.169.254/latest');
    expect((await g.send('https://169.254.169.254/latest')).status).toBe(403);
  });

  it('fails a body past maxResponseBytes after exactly the cap, and refuses a declared one up front', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`], maxResponseBytes: 4096 });
    const streamed = await sendRaw(g.path, `https://127.0.0.1:${tls.port}/bytes?n=100000`);
    expect(streamed.status).toBe(200);
    expect(streamed.broken).toBe('bad chunk header "!"');
    expect(streamed.body.length).toBe(4096);
    const declared = await g.send(`https://127.0.0.1:${tls.port}/sized?n=5000`);
    expect(declared.status).toBe(502);
    expect(declared.body).toBe(
      `egress: the response from 127.0.0.1:${tls.port} has 5000 bytes: the policy's egress.maxResponseBytes is 4096 bytes`,
    );
    expect((await g.send(`https://127.0.0.1:${tls.port}/sized?n=4096`)).body.length).toBe(4096);
    expect(g.records.map((r) => r.outcome)).toEqual(['too_large', 'too_large', 'ok']);
    expect(g.records[0]!.bytes).toBe(4096);
  });

  it('caps a decompressed body too', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`], maxResponseBytes: 4096 });
    const a = await sendRaw(g.path, `https://127.0.0.1:${tls.port}/gzip?n=1000000`);
    expect(a.broken).toBe('bad chunk header "!"');
    expect(a.body.length).toBe(4096);
  });

  it('counts requests per execution, refused ones included', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`], maxRequests: 2 });
    expect((await g.send('https://elsewhere.test/')).status).toBe(403);
    expect((await g.send(`https://127.0.0.1:${tls.port}/`)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const a = await g.send(`https://127.0.0.1:${tls.port}/`);
      expect(a.status).toBe(429);
      expect(a.body).toContain('the policy allows 2 HTTP requests per execution (egress.maxRequests)');
    }
    expect(g.gw.requests).toBe(5);
    expect(g.records.map((r) => r.outcome)).toEqual(['denied', 'ok', 'limit']);
  });

  it('ends a request at timeoutMs, before or during the answer', async () => {
    const g = await gateway({ allow: [`127.0.0.1:${tls.port}`], timeoutMs: 1000 });
    // The deadline runs on the test's clock, moved on once the request is where each case needs it: however slow
    // the machine, the first times out before its answer and the second after its answer began.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const seen = tls.requests.length;
      const slow = g.send(`https://127.0.0.1:${tls.port}/slow?ms=5000`);
      await tls.received(seen + 1);
      vi.advanceTimersByTime(1000);
      expect(await slow).toMatchObject({ status: 504 });
      expect((await slow).body).toContain("took longer than the policy's egress.timeoutMs (1000 ms)");
      let begun!: () => void;
      const answering = new Promise<void>((resolve) => (begun = resolve));
      const hang = g.send(`https://127.0.0.1:${tls.port}/hang`, { onData: () => begun() });
      await answering;
      vi.advanceTimersByTime(1000);
      expect(await hang).toMatchObject({ status: 200, body: 'started' });
      expect((await hang).broken).toBeDefined();
      expect(g.records.map((r) => r.outcome)).toEqual(['timeout', 'timeout']);
      // The target's own wait for /slow ends too.
      vi.runOnlyPendingTimers();
    } finally {
      vi.useRealTimers();
    }
  });

  it('serves nobody before the execution opens it or after it closes', async () => {
    const policy = EgressPolicySchema.parse({ allow: [`127.0.0.1:${tls.port}`], caFile: certs.caFile });
    const gw = createEgressGateway(await loadEgressSetup('"t"', policy, {}));
    const path = join(dir, `g${n++}.sock`);
    await gw.listen(path, 65534);
    expect((await send(path, `https://127.0.0.1:${tls.port}/`)).body).toContain('no execution is running');
    const records: EgressRequest[] = [];
    gw.open((r) => records.push(r));
    const seen = tls.requests.length;
    const hanging = send(path, `https://127.0.0.1:${tls.port}/hang`);
    while (tls.requests.length === seen) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    await gw.close();
    // Cut off however far it got: never a clean end.
    const ending = await hanging.then(
      (a) => a.broken ?? 'ended cleanly',
      (e: Error) => e.message,
    );
    expect(ending).not.toBe('ended cleanly');
    expect(records.map((r) => r.outcome)).toEqual(['aborted']);
    await expect(send(path, `https://127.0.0.1:${tls.port}/`)).rejects.toThrow();
  });
});
