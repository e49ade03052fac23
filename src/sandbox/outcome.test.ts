import { describe, expect, it } from 'vitest';
import { PolicySchema } from '../config/policy.js';
import { toExecutionResult, type RunFacts, type RunOutcome } from './outcome.js';

const policy = PolicySchema.parse({ container: { memoryMb: 256, pidsLimit: 64, tmpfsMb: 16 } });

function facts(outcome: RunOutcome, over: Partial<RunFacts> = {}): RunFacts {
  return {
    outcome,
    usage: { peakMemoryBytes: 1000, cpuNs: 9_000_000, fullMounts: [] },
    cpuMs: 7,
    stdout: 'out',
    stderr: 'at code.ts:1:30',
    truncated: { stdout: false, stderr: true },
    durationMs: 42,
    timeoutMs: 1500,
    // 20 characters of wrapper before line 1 of a one-line program
    positions: {
      code: 'x'.repeat(40),
      module: `${' '.repeat(20)}${'x'.repeat(40)}`,
      segments: [{ moduleStart: 20, moduleEnd: 60, userStart: 0, exact: true }],
    },
    policy,
    permissions: { read: ['/workspace'] },
    ...over,
  };
}

const failed = (error: { name: string; message: string; stack?: string }): RunOutcome => ({
  kind: 'result',
  message: { t: 'result', ok: false, error },
});

describe('outcome → result', () => {
  it('a thrown error reads as the model can act on: no wrapper frame, denials in terms of the grant', () => {
    const message = 'Requires read access to "/etc/passwd", run again with the --allow-read flag';
    const r = toExecutionResult(
      facts(
        failed({
          name: 'NotCapable',
          message,
          stack: `NotCapable: ${message}\n    at f (code.ts:2:3)\n    at async __conductorMain (code.ts:4:1)`,
        }),
        { stderr: '' },
      ),
    );
    const said = 'read access to "/etc/passwd" is not granted by the administrator; granted read: /workspace';
    expect(r.error).toEqual({
      name: 'NotCapable',
      message: said,
      stack: `NotCapable: ${said}\n    at f (code.ts:2:3)\n    at async code.ts:4:1`,
    });
  });

  it('a value: success, parsed JSON, columns of line 1 fixed, peak memory and CPU time kept', () => {
    const r = toExecutionResult(
      facts({ kind: 'result', message: { t: 'result', ok: true, value: '{"a":1}', valueTruncated: false } }),
    );
    expect(r).toEqual({
      status: 'success',
      returnValue: { a: 1 },
      stdout: 'out',
      stderr: 'at code.ts:1:10',
      durationMs: 42,
      truncated: { stdout: false, stderr: true, returnValue: false },
      resources: { exitReason: 'completed', peakMemoryBytes: 1000, cpuMs: 7 },
    });
  });

  it('a truncated value stays the text it is; undefined gives no returnValue', () => {
    const cut = toExecutionResult(
      facts({ kind: 'result', message: { t: 'result', ok: true, value: '{"a":[1,2', valueTruncated: true } }),
    );
    expect(cut.returnValue).toBe('{"a":[1,2');
    expect(cut.truncated.returnValue).toBe(true);
    const none = toExecutionResult(
      facts({ kind: 'result', message: { t: 'result', ok: true, valueTruncated: false } }),
    );
    expect('returnValue' in none).toBe(false);
  });

  it('a value only a forged frame carries: a failure saying why, never a crash', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const r = toExecutionResult(
      facts({ kind: 'result', message: { t: 'result', ok: true, value: deep, valueTruncated: false } }),
    );
    expect(r.status).toBe('error');
    expect(r.error).toEqual({
      name: 'SandboxError',
      message:
        'The sandbox sent a malformed result and was stopped: its return value nests deeper than 512 levels.',
    });
    expect(r.resources.exitReason).toBe('killed');
    expect('returnValue' in r).toBe(false);
  });

  it("the code's own exception, unless the host saw a limit reached", () => {
    const thrown = failed({ name: 'TypeError', message: 'x is not a function', stack: 'at code.ts:1:25' });
    const plain = toExecutionResult(facts(thrown));
    expect(plain.error).toEqual({
      name: 'TypeError',
      message: 'x is not a function',
      stack: 'at code.ts:1:5',
    });
    expect(plain.resources.exitReason).toBe('exception');
    const pids = toExecutionResult(facts(thrown, { usage: { pidsLimitReached: true, fullMounts: [] } }));
    expect(pids.resources.exitReason).toBe('pids_exhausted');
    expect(pids.error?.name).toBe('PidsLimitError');
    expect(pids.error?.message).toContain('limit of 64 processes');
    expect(pids.error?.message).toContain('The code failed with TypeError: x is not a function');
    const disk = toExecutionResult(facts(thrown, { usage: { fullMounts: ['/tmp'] } }));
    expect(disk.resources.exitReason).toBe('disk_full');
    expect(disk.error?.message).toContain('/tmp is full (its limit is 16 MB)');
    const ws = toExecutionResult(
      facts(failed({ name: 'Error', message: 'No space left on device (os error 28)' }), {
        usage: { fullMounts: ['/tmp', '/workspace'] },
        workspaceQuotaMb: 20,
      }),
    );
    expect(ws.resources.exitReason).toBe('disk_full');
    expect(ws.error).toMatchObject({
      name: 'DiskFullError',
      message:
        '/tmp is full (its limit is 16 MB) and /workspace is full (its quota is 20 MB): writing more fails with "No space left on device". The code failed with Error: No space left on device (os error 28)',
    });
  });

  it('timeout, cancellation and protocol violations, each named', () => {
    const t = toExecutionResult(facts({ kind: 'timeout' }));
    expect(t.status).toBe('timeout');
    expect(t.error).toEqual({
      name: 'TimeoutError',
      message: 'The code did not finish within 1500 ms and was killed.',
    });
    const c = toExecutionResult(facts({ kind: 'cancelled', why: 'the client cancelled the request' }));
    expect(c.status).toBe('error');
    expect(c.resources.exitReason).toBe('cancelled');
    expect(c.error?.message).toBe('The execution was stopped: the client cancelled the request');
    const v = toExecutionResult(facts({ kind: 'violation', message: 'expected hello' }));
    expect(v.resources.exitReason).toBe('killed');
    expect(v.error?.message).toContain('(expected hello)');
  });

  it('an exit: out of memory from the engine or V8 only, else the limit or the exit code', () => {
    const oom = toExecutionResult(facts({ kind: 'exited', code: 137, oomKilled: true }));
    expect(oom.resources).toMatchObject({ exitReason: 'out_of_memory', exitCode: 137 });
    expect(oom.error?.message).toBe('The code ran out of memory (limit 256 MB) and was killed.');
    expect(
      toExecutionResult(facts({ kind: 'exited', code: 133, oomKilled: false })).resources.exitReason,
    ).toBe('out_of_memory');
    // 137 without the engine's OOM state is a kill, not memory: nothing the code printed decides it.
    const exited = toExecutionResult(facts({ kind: 'exited', code: 137, oomKilled: false }));
    expect(exited.resources).toMatchObject({ exitReason: 'exited', exitCode: 137 });
    const pids = toExecutionResult(
      facts(
        { kind: 'exited', code: 2, oomKilled: false },
        { usage: { pidsLimitReached: true, fullMounts: [] } },
      ),
    );
    expect(pids.resources).toMatchObject({ exitReason: 'pids_exhausted', exitCode: 2 });
  });

  it('leaves out what the host could not see', () => {
    const r = toExecutionResult(facts({ kind: 'timeout' }, { usage: undefined, cpuMs: undefined }));
    expect(r.resources).toEqual({ exitReason: 'timeout' });
  });
});
