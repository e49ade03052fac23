import { chmod, chown } from 'node:fs/promises';
import { Agent as HttpAgent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { EgressOutcome, EgressRequest } from '../core/index.js';
import { forward } from './forward.js';
import { requestHeaderPairs } from './headers.js';
import { EgressFailure, rawRefusal, refuse } from './refusal.js';
import { AddressRefusal, pickAddress, systemResolveAll, type ResolveAll } from './resolve.js';
import { createSecretSet } from './secrets.js';
import type { EgressSetup } from './setup.js';
import { isExactEntry, matchRule, parseTarget } from './target.js';

/** One execution's gateway: an HTTP proxy on a Unix socket in its socket directory. */
export interface EgressGateway {
  /** secret name → this execution's placeholder (what the runtime's Deno.env.get answers) */
  readonly placeholders: Readonly<Record<string, string>>;
  listen(path: string, sandboxUid: number): Promise<void>;
  /** Serves requests from now on (the execution started); each one ends in a call of `onRecord`. */
  open(onRecord: (record: EgressRequest) => void): void;
  /** requests received so far, refused ones included */
  readonly requests: number;
  /** Stops serving and ends every request in flight. Idempotent. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** the name resolver (tests point it at their own answers) */
  resolveAll?: ResolveAll;
}

const MAX_PATH_CHARS = 256;
/** Deno opens a connection per concurrent fetch; maxRequests bounds the useful ones, this the idle rest. */
const MAX_CONNECTIONS = 256;

export function createEgressGateway(setup: EgressSetup, options: GatewayOptions = {}): EgressGateway {
  const { policy, rules } = setup;
  const resolveAll = options.resolveAll ?? systemResolveAll;
  const secrets = createSecretSet(setup.secrets);
  const agentOptions = { keepAlive: true, maxSockets: 8, maxTotalSockets: 16 };
  const agents = {
    http: new HttpAgent(agentOptions),
    https: new HttpsAgent({ ...agentOptions, secureContext: setup.tls }),
  };
  const ended = new AbortController();
  let onRecord: ((record: EgressRequest) => void) | undefined;
  let requests = 0;
  let overLimitRecorded = false;
  const inFlight = new Set<Promise<unknown>>();
  const allowed = rules.map((r) => r.entry).join(', ') || 'none';

  const report = (record: EgressRequest) => {
    try {
      onRecord?.(record);
    } catch {
      // A broken listener must not break the sandbox's request.
    }
  };

  /** Counts the request and says why it may not go out, if it may not. */
  const admit = (): EgressFailure | undefined => {
    if (!onRecord || ended.signal.aborted)
      return new EgressFailure('denied', 'no execution is running on this gateway');
    requests++;
    if (requests <= policy.maxRequests) return undefined;
    return new EgressFailure(
      'limit',
      `the policy allows ${policy.maxRequests} HTTP requests per execution (egress.maxRequests); this one was refused`,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const method = (req.method ?? 'GET').slice(0, 16);
    const base = { method, host: '', path: '', secrets: [] as string[], bytes: 0 };
    const done = (fields: Partial<EgressRequest> & { outcome: EgressOutcome }) =>
      report({ ...base, ...fields, ms: Math.round(performance.now() - started) });
    const fail = (failure: EgressFailure, fields: Partial<EgressRequest> = {}) => {
      refuse(res, failure);
      // Past the cap only the first refusal is recorded: a loop of refused requests must not grow the audit.
      if (failure.outcome === 'limit') {
        if (overLimitRecorded) return;
        overLimitRecorded = true;
      }
      done({ ...fields, outcome: failure.outcome, bytes: failure.bytes });
    };

    const refusal = admit();
    const target = parseTarget(req.url ?? '');
    if (typeof target !== 'string')
      Object.assign(base, { host: target.authority, path: target.path.slice(0, MAX_PATH_CHARS) });
    if (refusal) return fail(refusal);
    if (typeof target === 'string') return fail(new EgressFailure('bad_request', target));
    const rule = matchRule(rules, target.host, target.port);
    if (!rule) {
      return fail(
        new EgressFailure(
          'denied',
          `the policy does not allow requests to ${target.authority} (egress.allow: ${allowed})`,
        ),
      );
    }
    const substituted = secrets.substitute(
      req.url ?? '',
      requestHeaderPairs(req.rawHeaders),
      target.host,
      target.port,
    );
    if (!substituted.ok) return fail(new EgressFailure('denied', substituted.message), { rule: rule.entry });
    const fields = { rule: rule.entry, secrets: substituted.used };

    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new EgressFailure(
            'timeout',
            `the request to ${target.authority} took longer than the policy's egress.timeoutMs (${policy.timeoutMs} ms)`,
          ),
        ),
      policy.timeoutMs,
    );
    const gone = () => {
      if (!res.writableFinished)
        deadline.abort(new EgressFailure('aborted', 'the sandbox closed the connection'));
    };
    res.once('close', gone);
    const signal = AbortSignal.any([deadline.signal, ended.signal]);
    try {
      const address = await pickAddress(target.host, target.authority, isExactEntry(rule), resolveAll);
      const result = await forward(req, res, {
        target,
        address,
        headers: substituted.headers,
        secrets,
        agents,
        maxResponseBytes: policy.maxResponseBytes,
        signal,
      });
      done({ ...fields, outcome: 'ok', status: result.status, bytes: result.bytes });
    } catch (error) {
      const failure =
        error instanceof EgressFailure
          ? error
          : error instanceof AddressRefusal
            ? new EgressFailure(error.reason, error.message)
            : new EgressFailure('unreachable', `the request to ${target.authority} failed`);
      fail(failure, fields);
    } finally {
      clearTimeout(timer);
      res.off('close', gone);
    }
  };

  const refuseRaw = (socket: Duplex, req: IncomingMessage, why: string) => {
    const failure = admit() ?? new EgressFailure('denied', why);
    socket.end(rawRefusal(failure));
    if (failure.outcome !== 'limit' || !overLimitRecorded) {
      overLimitRecorded ||= failure.outcome === 'limit';
      report({
        method: (req.method ?? '').slice(0, 16),
        host: (req.url ?? '').slice(0, 260),
        path: '',
        outcome: failure.outcome,
        bytes: 0,
        ms: 0,
        secrets: [],
      });
    }
  };

  const server = createServer(
    { maxHeaderSize: 32 * 1024, requestTimeout: 0, headersTimeout: 10_000 },
    (req, res) => {
      const handling = handle(req, res).catch(() => res.destroy());
      inFlight.add(handling);
      void handling.finally(() => inFlight.delete(handling));
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.maxHeadersCount = 200;
  // A tunnel would carry TLS the gateway cannot see into, so secrets and checks could not apply.
  server.on('connect', (req: IncomingMessage, socket: Duplex) =>
    refuseRaw(
      socket,
      req,
      'CONNECT tunnels are not offered: send the request itself (fetch, node:http and node:https do)',
    ),
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) =>
    refuseRaw(socket, req, 'protocol upgrades (WebSocket) are not offered by the gateway'),
  );
  server.on('clientError', (_error, socket: Duplex) => socket.destroy());

  let closed: Promise<void> | undefined;
  return {
    placeholders: secrets.placeholders,
    get requests() {
      return requests;
    },
    async listen(path, sandboxUid) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
      // Handed over like the MCP socket: the sandbox user may connect, nobody else on the host.
      if (process.getuid?.() === 0) {
        await chown(path, sandboxUid, sandboxUid);
        await chmod(path, 0o600);
      } else {
        await chmod(path, 0o666);
      }
    },
    open(listener) {
      onRecord = listener;
    },
    close() {
      closed ??= (async () => {
        ended.abort(new EgressFailure('aborted', 'the execution ended'));
        const stopped = server.listening
          ? new Promise<void>((resolve) => server.close(() => resolve()))
          : Promise.resolve();
        server.closeAllConnections();
        // Requests cut short by the end still get their record before close resolves.
        await Promise.allSettled([...inFlight]);
        onRecord = undefined;
        agents.http.destroy();
        agents.https.destroy();
        await stopped;
      })();
      return closed;
    },
  };
}
