/**
 * The in-container runtime (images/deno/runtime) run for real with the Deno binary, no Docker: a host written here
 * listens on a Unix socket, speaks the protocol of src/proxy/protocol.ts, and checks what a run reports.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateDenoBinary } from '../src/image/deno-binary.js';
import { createFrameDecoder, encodeFrame } from '../src/proxy/frames.js';
import {
  CallMessageSchema,
  HelloMessageSchema,
  ProgressMessageSchema,
  ResultMessageSchema,
  type CallMessage,
  type ReplyMessage,
  type ResultMessage,
} from '../src/proxy/protocol.js';

const repoRoot = new URL('..', import.meta.url).pathname;
const denoPath = locateDenoBinary(process.arch === 'x64' ? 'x86_64' : process.arch).path;
const bootstrapPath = join(repoRoot, 'images/deno/runtime/bootstrap.ts');

interface HostControl {
  reply(message: ReplyMessage): void;
  /** Half-closes the host side: the runtime reads end-of-stream but can still send its result. */
  end(): void;
}
type CallHandler = (call: CallMessage, host: HostControl) => void;

interface Run {
  result: ResultMessage | undefined;
  hello: unknown;
  calls: CallMessage[];
  /** progress frames with their arrival time (performance.now()) */
  progress: { frame: unknown; at: number }[];
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number | null;
  marker: string;
  /** when the result frame arrived, and when the process exited (performance.now()) */
  resultAt?: number;
  exitedAt?: number;
}

let workDir = '';
let denoDir = '';
let runCount = 0;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'rt-deno-'));
  denoDir = join(workDir, 'deno-dir');
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Wraps statements the way the host's wrapper does: the module's default export is the entry point. */
const moduleOf = (body: string) => `export default async function __conductorMain() {\n${body}\n}\n`;

const replyOk = (id: number, result: unknown): ReplyMessage => ({ t: 'reply', id, ok: true, result });
const replyError = (id: number, message: string, code: string): ReplyMessage => ({
  t: 'reply',
  id,
  ok: false,
  error: { message, code },
});

interface RunOptions {
  maxReturnBytes?: number;
  onCall?: CallHandler;
  /** Start listening only this long after Deno started (the runtime must retry). */
  listenAfterMs?: number;
  /** Never listen at all. */
  noHost?: boolean;
  /** Name the socket by argument instead of CONDUCTOR_SOCKET (which needs --allow-env). */
  socketByArgument?: boolean;
  /** Keep the connection open after the result instead of closing it as the conductor does. */
  keepOpenAfterResult?: boolean;
}

async function runModule(code: string, opts: RunOptions = {}): Promise<Run> {
  const socketPath = join(workDir, `s${runCount++}.sock`);
  const nonce = `n${Math.random().toString(36).slice(2)}`;
  const run: Run = {
    result: undefined,
    hello: undefined,
    calls: [],
    progress: [],
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    exitCode: null,
    marker: `\x1e${nonce}\x1e`,
  };
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const decoder = createFrameDecoder(64 * 1024 * 1024);
    const host: HostControl = { reply: (m) => socket.write(encodeFrame(m)), end: () => socket.end() };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const message of decoder.push(chunk)) {
        if (run.hello === undefined) {
          run.hello = HelloMessageSchema.parse(message);
          socket.write(
            encodeFrame({ t: 'run', code, nonce, maxReturnBytes: opts.maxReturnBytes ?? 1024 * 1024 }),
          );
        } else if ((message as { t?: unknown }).t === 'call') {
          const call = CallMessageSchema.parse(message);
          run.calls.push(call);
          opts.onCall?.(call, host);
        } else if ((message as { t?: unknown }).t === 'progress') {
          run.progress.push({ frame: ProgressMessageSchema.parse(message), at: performance.now() });
        } else {
          run.result = ResultMessageSchema.parse(message);
          run.resultAt = performance.now();
          // The conductor reads the container's cgroup, then closes: the runtime waits for that to exit.
          if (!opts.keepOpenAfterResult) socket.end();
        }
      }
    });
  });
  const listen = () => new Promise<void>((resolve) => server.listen(socketPath, resolve));
  if (opts.listenAfterMs === undefined && !opts.noHost) await listen();
  const permissions = [
    `--allow-net=unix:${socketPath}`,
    `--allow-read=${socketPath}`,
    `--allow-write=${socketPath}`,
  ];
  const args = opts.socketByArgument
    ? ['run', '--no-prompt', '--no-config', '--no-lock', ...permissions, bootstrapPath, socketPath]
    : [
        'run',
        '--no-prompt',
        '--no-config',
        '--no-lock',
        ...permissions,
        '--allow-env=CONDUCTOR_SOCKET',
        bootstrapPath,
      ];
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', NO_COLOR: '1', DENO_DIR: denoDir };
  if (!opts.socketByArgument) env.CONDUCTOR_SOCKET = socketPath;
  try {
    const child = spawn(denoPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    if (opts.listenAfterMs !== undefined) {
      await new Promise((r) => setTimeout(r, opts.listenAfterMs));
      await listen();
    }
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    run.exitCode = await closed;
    run.exitedAt = performance.now();
    clearTimeout(killer);
    run.stdout = Buffer.concat(out);
    run.stderr = Buffer.concat(err);
    return run;
  } finally {
    for (const s of sockets) s.destroy();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const runBody = (body: string, opts?: RunOptions) => runModule(moduleOf(body), opts);

/** The rendered return value of a run that must have succeeded. */
async function valueOf(body: string, opts?: RunOptions) {
  const run = await runBody(body, opts);
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  if (run.result?.ok !== true)
    throw new Error(`run failed: ${JSON.stringify(run.result)} ${run.stderr.toString()}`);
  return { value: run.result.value, truncated: run.result.valueTruncated, run };
}

async function errorOf(body: string, opts?: RunOptions) {
  const run = await runBody(body, opts);
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  if (run.result?.ok !== false) throw new Error(`run did not fail: ${JSON.stringify(run.result)}`);
  return run.result.error;
}

describe('protocol', () => {
  it('says hello, writes the markers after the output, sends the result and exits 0', async () => {
    const run = await runBody(`console.log('out é'); console.error('err'); return 42;`);
    expect(run.hello).toEqual({ t: 'hello', v: 1 });
    expect(run.stdout.equals(Buffer.from(`out é\n${run.marker}`))).toBe(true);
    expect(run.stderr.equals(Buffer.from(`err\n${run.marker}`))).toBe(true);
    expect(run.result).toEqual({ t: 'result', ok: true, value: '42', valueTruncated: false });
    expect(run.exitCode).toBe(0);
  });

  it('waits for a socket that appears late, and takes its path as an argument too', async () => {
    const late = await runBody('return 1;', { listenAfterMs: 700 });
    expect(late.result).toEqual({ t: 'result', ok: true, value: '1', valueTruncated: false });
    const byArgument = await runBody('return 2;', { socketByArgument: true });
    expect(byArgument.result).toEqual({ t: 'result', ok: true, value: '2', valueTruncated: false });
  });

  it('stays after its result until the host closes the link, and leaves by itself when the host never does', async () => {
    // The host reads the container's cgroup (peak memory, pids) in that window: it goes with the last process.
    const closed = await runBody('return 1;');
    const waited = await runBody('return 1;', { keepOpenAfterResult: true });
    for (const run of [closed, waited]) {
      expect(run.result).toEqual({ t: 'result', ok: true, value: '1', valueTruncated: false });
      expect(run.exitCode).toBe(0);
    }
    expect(closed.exitedAt! - closed.resultAt!).toBeLessThan(1000);
    expect(waited.exitedAt! - waited.resultAt!).toBeGreaterThanOrEqual(1900);
    expect(waited.exitedAt! - waited.resultAt!).toBeLessThan(5000);
  });

  it('exits 70 with a reason when there is no host to talk to', async () => {
    const run = await runBody('return 1;', { noHost: true });
    expect(run.exitCode).toBe(70);
    expect(run.stderr.toString()).toMatch(/^mcp-conductor runtime: cannot connect to .*s\d+\.sock: /);
    expect(run.stdout.length).toBe(0);
  });

  it('leaves the value out when the code returns undefined', async () => {
    const run = await runBody('await null;');
    expect(run.result).toEqual({ t: 'result', ok: true, valueTruncated: false });
  });

  it('imports non-ASCII code intact', async () => {
    expect((await valueOf(`return 'héllo ✓ 😀';`)).value).toBe('"héllo ✓ 😀"');
  });
});

describe('rendering', () => {
  const cases: [string, string, string][] = [
    [
      'Map with a BigInt',
      'return new Map<unknown, unknown>([[1, 2n], ["k", { a: 1 }]]);',
      '{"$type":"Map","entries":[[1,{"$type":"BigInt","value":"2"}],["k",{"a":1}]]}',
    ],
    ['Set', 'return new Set(["a", 1]);', '{"$type":"Set","values":["a",1]}'],
    ['BigInt', 'return 123n;', '{"$type":"BigInt","value":"123"}'],
    ['Date', 'return new Date("2020-01-02T03:04:05.678Z");', '"2020-01-02T03:04:05.678Z"'],
    ['invalid Date', 'return new Date(NaN);', '{"$type":"Date","value":"Invalid Date"}'],
    [
      'nested undefined',
      'return { a: undefined, b: [undefined, 1] };',
      '{"a":{"$type":"undefined"},"b":[{"$type":"undefined"},1]}',
    ],
    [
      'circular reference',
      'const a: any = { b: { c: null } }; a.b.c = a; a.b.d = a.b; return a;',
      '{"b":{"c":{"$type":"Circular","path":"$"},"d":{"$type":"Circular","path":"$.b"}}}',
    ],
    ['repeated reference', 'const s = { v: 1 }; return [s, { s }];', '[{"v":1},{"s":{"v":1}}]'],
    [
      'functions',
      'function f() {} return { f, g: () => 1 };',
      '{"f":{"$type":"Function","name":"f"},"g":{"$type":"Function","name":"g"}}',
    ],
    [
      'class instance',
      'class Point { constructor(public x: number, public y: number) {} } return new Point(1, 2);',
      '{"$class":"Point","x":1,"y":2}',
    ],
    [
      'special numbers',
      'return [NaN, Infinity, -Infinity, -0, 1.5];',
      '[{"$type":"Number","value":"NaN"},{"$type":"Number","value":"Infinity"},{"$type":"Number","value":"-Infinity"},{"$type":"Number","value":"-0"},1.5]',
    ],
    ['Symbol', 'return Symbol("x");', '{"$type":"Symbol","description":"x"}'],
    [
      'throwing getter',
      'return { ok: 1, get bad(): number { throw new Error("nope"); } };',
      '{"ok":1,"bad":{"$type":"Unreadable","error":"Error: nope"}}',
    ],
    [
      'typed array and buffer',
      'return [new Uint8Array([1, 2]), new ArrayBuffer(8)];',
      '[{"$type":"Uint8Array","values":[1,2]},{"$type":"ArrayBuffer","byteLength":8}]',
    ],
    [
      'RegExp and URL',
      'return [/a+/gi, new URL("https://example.com/x?y=1")];',
      '[{"$type":"RegExp","value":"/a+/gi"},"https://example.com/x?y=1"]',
    ],
    ['toJSON', 'return { t: { toJSON: () => ({ z: 1n }) } };', '{"t":{"z":{"$type":"BigInt","value":"1"}}}'],
    [
      'null-prototype object and strings',
      'const o = Object.create(null); o["a b"] = "q\\"\\n"; return o;',
      '{"a b":"q\\"\\n"}',
    ],
  ];
  it.each(cases)('%s', async (_name, body, expected) => {
    expect((await valueOf(body)).value).toBe(expected);
  });

  it('renders an Error with a clean stack', async () => {
    const { value } = await valueOf('const e = new TypeError("bad");\nreturn { e };');
    const parsed = JSON.parse(value ?? '') as {
      e: { $type: string; name: string; message: string; stack: string };
    };
    expect(parsed.e).toMatchObject({ $type: 'Error', name: 'TypeError', message: 'bad' });
    expect(parsed.e.stack).toBe('TypeError: bad\n    at __conductorMain (code.ts:2:11)');
  });

  it('caps nesting depth', async () => {
    const { value } = await valueOf(
      'let o: any = {}; const root = o; for (let i = 0; i < 150; i++) { o.n = {}; o = o.n; } return root;',
    );
    expect(value).toContain('{"$type":"MaxDepth"}');
    expect((value ?? '').split('"n":').length - 1).toBe(100);
  });

  it('cuts a 10 MB string to maxReturnBytes', async () => {
    const { value, truncated } = await valueOf(`return 'x'.repeat(10 * 1024 * 1024);`, {
      maxReturnBytes: 1024,
    });
    expect(truncated).toBe(true);
    expect(value).toBe(`"${'x'.repeat(1023)}`);
  });

  it('cuts a million-element array to maxReturnBytes', async () => {
    const { value, truncated } = await valueOf('return Array.from({ length: 1e6 }, (_, i) => i);', {
      maxReturnBytes: 1024,
    });
    expect(truncated).toBe(true);
    expect(Buffer.byteLength(value ?? '')).toBe(1024);
    expect(value?.startsWith('[0,1,2,3,')).toBe(true);
  });

  it('never splits a UTF-8 character when cutting', async () => {
    const { value, truncated } = await valueOf(`return 'é'.repeat(5000);`, { maxReturnBytes: 1000 });
    expect(truncated).toBe(true);
    expect(value).toBe(`"${'é'.repeat(499)}`);
    expect(Buffer.byteLength(value ?? '')).toBe(999);
  });
});

describe('failures', () => {
  it('reports a throw with the stack of the user code only', async () => {
    const run = await runBody(`await null;\n  throw new Error('boom');`);
    expect(run.exitCode).toBe(0);
    expect(run.result).toEqual({
      t: 'result',
      ok: false,
      error: { name: 'Error', message: 'boom', stack: 'Error: boom\n    at __conductorMain (code.ts:3:9)' },
    });
    expect(run.stdout.toString()).toBe(run.marker);
  });

  it('renders non-Error throws as their string form', async () => {
    expect(await errorOf(`throw 'x';`)).toEqual({ name: 'Error', message: 'x' });
    expect(await errorOf('throw { a: 1, b: 2n };')).toEqual({
      name: 'Error',
      message: '{"a":1,"b":{"$type":"BigInt","value":"2"}}',
    });
  });

  it('fails the run on an unhandled rejection, even after the code returned', async () => {
    const late = await errorOf(`Promise.reject(new Error('late'));\nreturn 1;`);
    expect(late).toMatchObject({ name: 'Error', message: 'late' });
    expect(late.stack).toContain('code.ts:2:');
    const inTimer = await errorOf(
      `setTimeout(() => { throw new RangeError('in timer'); }, 1);\nawait new Promise((r) => setTimeout(r, 2000));`,
    );
    expect(inTimer).toMatchObject({ name: 'RangeError', message: 'in timer' });
  });

  it('lists the inner errors of an AggregateError', async () => {
    const error = await errorOf(
      `await Promise.any([Promise.reject(new Error('a')), Promise.reject(new TypeError('b'))]);`,
    );
    expect(error.name).toBe('AggregateError');
    expect(error.message).toBe('All promises were rejected [Error: a; TypeError: b]');
  });

  it('fails clearly instead of hanging when the code waits for nothing', async () => {
    const error = await errorOf('await new Promise(() => {});');
    expect(error.message).toMatch(/never finished/);
  });

  it('reports a syntax error in the code without the data: URL', async () => {
    const run = await runModule('export default async function __conductorMain() {\n  return (1 +;\n}\n');
    expect(run.exitCode).toBe(0);
    expect(run.result).toMatchObject({ ok: false, error: { name: 'SyntaxError' } });
    const text = JSON.stringify(run.result);
    expect(text).toContain('at code.ts:2:14');
    expect(text).not.toContain('data:');
  });
});

/** A fake host: two servers, `gh` with tools whose results exercise every callTool branch. */
const fakeHost: CallHandler = (call, host) => {
  const { id } = call;
  const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
  switch (call.op) {
    case 'list':
      return host.reply(replyOk(id, ['gh', 'memory']));
    case 'load':
      return host.reply(
        call.server === 'gh'
          ? replyOk(id, { name: 'gh' })
          : replyError(id, `Unknown MCP server "${call.server}"`, 'unknown_server'),
      );
    case 'listTools':
      return host.reply(
        replyOk(id, [{ name: 'echo', description: 'Echoes', inputSchema: { type: 'object' } }]),
      );
    case 'readResource':
      return host.reply(replyOk(id, { contents: [{ uri: call.uri, text: 'r' }] }));
    case 'callTool':
      switch (call.name) {
        case 'structured':
          return host.reply(
            replyOk(id, { ...text('ignored'), structuredContent: { n: 1, args: call.args } }),
          );
        case 'json':
          return host.reply(replyOk(id, text('{"items":[1,2]}')));
        case 'plain':
          return host.reply(replyOk(id, text('just text')));
        case 'image':
          return host.reply(
            replyOk(id, { content: [{ type: 'image', data: 'AA==', mimeType: 'image/png' }] }),
          );
        case 'fails':
          return host.reply(replyOk(id, { ...text('rate limited'), isError: true }));
        default:
          return host.reply(replyError(id, `Tool "${call.name}" is not allowed`, 'tool_denied'));
      }
    default:
      return host.reply(replyError(id, 'unsupported', 'unsupported'));
  }
};

describe('mcpFactory', () => {
  it('lists servers (list and listServers) and tools', async () => {
    const { value, run } = await valueOf(
      `const gh = await mcpFactory.load('gh');\nreturn [await mcpFactory.list(), await mcpFactory.listServers(), gh.name, await gh.listTools(), await gh.readResource('mem://x')];`,
      { onCall: fakeHost },
    );
    expect(JSON.parse(value ?? '')).toEqual([
      ['gh', 'memory'],
      ['gh', 'memory'],
      'gh',
      [{ name: 'echo', description: 'Echoes', inputSchema: { type: 'object' } }],
      { contents: [{ uri: 'mem://x', text: 'r' }] },
    ]);
    expect(run.calls.map((c) => c.op)).toEqual(['load', 'list', 'list', 'listTools', 'readResource']);
    expect(run.calls[0]).toEqual({ t: 'call', id: 1, op: 'load', server: 'gh' });
    expect(run.calls[4]).toEqual({ t: 'call', id: 5, op: 'readResource', server: 'gh', uri: 'mem://x' });
  });

  it('surfaces the host error for an unknown server as an McpError', async () => {
    const { value } = await valueOf(
      `try { await mcpFactory.load('nope'); } catch (e: any) { return [e instanceof Error, e.name, e.message, e.code]; }`,
      { onCall: fakeHost },
    );
    expect(JSON.parse(value ?? '')).toEqual([
      true,
      'McpError',
      'Unknown MCP server "nope"',
      'unknown_server',
    ]);
    const error = await errorOf(`\n  await mcpFactory.load('nope');`, { onCall: fakeHost });
    expect(error).toMatchObject({ name: 'McpError', message: 'Unknown MCP server "nope"' });
    expect(error.stack).toMatch(
      /^McpError: Unknown MCP server "nope"\n {4}at async __conductorMain \(code\.ts:3:3\)$/,
    );
  });

  it('returns structuredContent, else parsed JSON text, else text, else the content', async () => {
    const { value, run } = await valueOf(
      `const gh = await mcpFactory.load('gh');
      return [await gh.callTool('structured', { q: 'x', n: [1, null] }), await gh.callTool('json'), await gh.callTool('plain'),
        await gh.callTool('image'), (await gh.callToolRaw('fails', {})).isError];`,
      { onCall: fakeHost },
    );
    expect(JSON.parse(value ?? '')).toEqual([
      { n: 1, args: { q: 'x', n: [1, null] } },
      { items: [1, 2] },
      'just text',
      [{ type: 'image', data: 'AA==', mimeType: 'image/png' }],
      true,
    ]);
    expect(run.calls[1]).toEqual({
      t: 'call',
      id: 2,
      op: 'callTool',
      server: 'gh',
      name: 'structured',
      args: { q: 'x', n: [1, null] },
    });
    expect(run.calls[2]?.args).toEqual({});
  });

  it('throws the tool text when the result has isError', async () => {
    const { value } = await valueOf(
      `const gh = await mcpFactory.load('gh');
      try { await gh.callTool('fails', {}); } catch (e: any) { return [e.name, e.message, e.code, e.tool, e.result.isError]; }`,
      { onCall: fakeHost },
    );
    expect(JSON.parse(value ?? '')).toEqual(['McpToolError', 'rate limited', 'tool_error', 'fails', true]);
  });

  it('runs calls concurrently and matches replies in any order', async () => {
    const held: CallMessage[] = [];
    const reverse: CallHandler = (call, host) => {
      if (call.op === 'load') return fakeHost(call, host);
      held.push(call);
      if (held.length === 20)
        for (const c of held.reverse()) host.reply(replyOk(c.id, { content: [], structuredContent: c.args }));
    };
    const { value } = await valueOf(
      `const gh = await mcpFactory.load('gh');
      return (await Promise.all(Array.from({ length: 20 }, (_, i) => gh.callTool('echo', { i })))).map((r: any) => r.i);`,
      { onCall: reverse },
    );
    expect(JSON.parse(value ?? '')).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('refuses arguments JSON cannot carry before sending anything', async () => {
    const { value, run } = await valueOf(
      `const gh = await mcpFactory.load('gh');
      const tryCall = async (args: any) => { try { await gh.callTool('plain', args); return 'sent'; } catch (e: any) { return e.name + ': ' + e.message; } };
      const cyclic: any = {}; cyclic.self = cyclic;
      return [await tryCall({ n: 1n }), await tryCall({ d: new Date(0) }), await tryCall(cyclic), await tryCall([1]), await tryCall({ ok: undefined })];`,
      { onCall: fakeHost },
    );
    const results = JSON.parse(value ?? '') as string[];
    expect(results[0]).toMatch(/^TypeError: mcpFactory: args\.n is a bigint; arguments must be plain JSON/);
    expect(results[1]).toMatch(/^TypeError: mcpFactory: args\.d is a Date, not a plain object/);
    expect(results[2]).toMatch(/cycle/);
    expect(results[3]).toMatch(/must be an object/);
    expect(results[4]).toBe('sent');
    expect(run.calls.filter((c) => c.op === 'callTool')).toHaveLength(1);
  });

  it('rejects waiting calls when the host closes the connection', async () => {
    const { value } = await valueOf(
      `const gh = await mcpFactory.load('gh');
      try { await gh.callTool('plain', {}); return 'answered'; } catch (e: any) { return [e.name, e.code, e.message]; }`,
      { onCall: (call, host) => (call.op === 'load' ? fakeHost(call, host) : host.end()) },
    );
    const [name, code, message] = JSON.parse(value ?? '') as string[];
    expect([name, code]).toEqual(['McpError', 'connection_closed']);
    expect(message).toMatch(/connection to the conductor closed/);
  });

  it('cannot be replaced or deleted', async () => {
    const { value } = await valueOf(
      `const before = mcpFactory;
      let assigned = 'no error';
      try { (globalThis as any).mcpFactory = 1; } catch (e: any) { assigned = e.name; }
      try { delete (globalThis as any).mcpFactory; } catch { /* strict mode */ }
      const d = Object.getOwnPropertyDescriptor(globalThis, 'mcpFactory');
      return [assigned, mcpFactory === before, d?.writable, d?.configurable, await mcpFactory.list()];`,
      { onCall: fakeHost },
    );
    expect(JSON.parse(value ?? '')).toEqual(['TypeError', true, false, false, ['gh', 'memory']]);
  });
});

describe('progress()', () => {
  it('coalesces a loop of reports to one frame per 250 ms, the latest winning, and checks its arguments', async () => {
    const { value, run } = await valueOf(
      `const start = Date.now();
      let i = 0;
      while (Date.now() - start < 1200) {
        progress(++i, 1e9, 'step ' + i + ' ' + 'x'.repeat(300));
        await new Promise((r) => setTimeout(r, 1));
      }
      progress(-1, undefined, 'last');
      await new Promise((r) => setTimeout(r, 300));
      const errors = [];
      for (const args of [[NaN], [Infinity], ['1'], [1, 0], [1, -2], [1, undefined, 42]]) {
        try { (progress as any)(...args); errors.push('none'); } catch (e: any) { errors.push(e.name); }
      }
      const d = Object.getOwnPropertyDescriptor(globalThis, 'progress');
      return { calls: i, errors, writable: d?.writable, configurable: d?.configurable };`,
    );
    const out = JSON.parse(value ?? '') as { calls: number; errors: string[] };
    expect(out).toMatchObject({ errors: Array(6).fill('TypeError'), writable: false, configurable: false });
    expect(out.calls).toBeGreaterThan(100);
    const frames = run.progress.map((p) => p.frame as { progress: number; total?: number; message?: string });
    // 1.2 s of reports: about five frames, never one per call.
    expect(frames.length).toBeGreaterThanOrEqual(4);
    expect(frames.length).toBeLessThanOrEqual(8);
    for (let k = 1; k < run.progress.length; k++)
      expect(run.progress[k]!.at - run.progress[k - 1]!.at).toBeGreaterThan(200);
    expect(frames[0]!.message).toHaveLength(200);
    expect(frames.at(-1)).toEqual({ t: 'progress', progress: -1, message: 'last' });
  });
});

describe('robustness against user code', () => {
  it('delivers the result when the code patches the globals the runtime uses', async () => {
    const { value } = await valueOf(
      `JSON.stringify = () => 'hacked';
      (globalThis as any).TextEncoder = class { encode() { return new Uint8Array([1]); } };
      TextEncoder.prototype.encode = () => new Uint8Array([2]);
      Array.prototype.push = () => { throw new Error('push'); };
      Array.prototype.join = () => 'joined';
      String.prototype.slice = () => 'sliced';
      Object.keys = () => [];
      const RealMap = Map;
      (globalThis as any).Map = class FakeMap {};
      const gh = await mcpFactory.load('gh');
      const t = await gh.callTool('json');
      // Deno's own socket glue looks this one up at call time: the runtime restores it once the code is done.
      Function.prototype.call = () => { throw new Error('call'); };
      return { a: [1, 'é'], m: new RealMap([[1, 2]]), t };`,
      { onCall: fakeHost },
    );
    expect(value).toBe('{"a":[1,"é"],"m":{"$type":"Map","entries":[[1,2]]},"t":{"items":[1,2]}}');
  });

  it('fails a call cleanly when the code broke the socket glue', async () => {
    const { value } = await valueOf(
      `Function.prototype.call = () => { throw new Error('call'); };
      try { await mcpFactory.list(); return 'answered'; } catch (e: any) { return e.code; }`,
      { onCall: fakeHost },
    );
    expect(value).toBe('"connection_closed"');
  });

  it('keeps a run alive while a call waits, without the socket keeping a finished run alive', async () => {
    const slow: CallHandler = (call, host) => void setTimeout(() => fakeHost(call, host), 300);
    const { value } = await valueOf(`return await mcpFactory.list();`, { onCall: slow });
    expect(value).toBe('["gh","memory"]');
  });
});
