import type { Agent as HttpAgent, IncomingMessage, ServerResponse } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { HostRule } from '../config/egress-policy.js';
import type { EgressOutcome, EgressRequest } from '../core/index.js';
import type { Admission } from './admission.js';
import { forward, type Forwarded } from './forward.js';
import { requestHeaderPairs } from './headers.js';
import { EgressFailure, rawRefusal, refuse } from './refusal.js';
import { AddressRefusal, pickAddress, type ResolveAll } from './resolve.js';
import type { HeaderPair, SecretSet } from './secrets.js';
import type { EgressSetup } from './setup.js';
import { isExactEntry, matchRule, parseTarget, type Target } from './target.js';

/** What one gateway's requests share. */
export interface RequestDeps {
  setup: EgressSetup;
  secrets: SecretSet;
  agents: { http: HttpAgent; https: HttpsAgent };
  admission: Admission;
  resolveAll: ResolveAll;
}

/** A request that passed every check: where it goes, under which rule, with which headers. */
interface Checked {
  target: Target;
  rule: HostRule;
  headers: HeaderPair[];
  secrets: string[];
}

interface Refused {
  failure: EgressFailure;
  fields?: Partial<EgressRequest>;
}

const MAX_PATH_CHARS = 256;

/** The record of one request, filled in as far as the gateway got with it; it ends in exactly one record. */
class RequestRecord {
  readonly #started = performance.now();
  readonly #base: Omit<EgressRequest, 'outcome' | 'ms'>;

  constructor(
    req: IncomingMessage,
    readonly res: ServerResponse,
    readonly admission: Admission,
  ) {
    this.#base = { method: (req.method ?? 'GET').slice(0, 16), host: '', path: '', secrets: [], bytes: 0 };
  }

  at(target: Target): void {
    Object.assign(this.#base, { host: target.authority, path: target.path.slice(0, MAX_PATH_CHARS) });
  }

  done(fields: Partial<EgressRequest> & { outcome: EgressOutcome }): void {
    this.admission.record({ ...this.#base, ...fields, ms: Math.round(performance.now() - this.#started) });
  }

  /** Answers with the refusal (or breaks an answer under way) and records it. */
  fail(failure: EgressFailure, fields: Partial<EgressRequest> = {}): void {
    refuse(this.res, failure);
    this.done({ ...fields, outcome: failure.outcome, bytes: failure.bytes });
  }
}

/** Takes each proxy request of the sandbox through the policy's checks, its secrets and on to its target. */
export class RequestHandler {
  /** the allow list as refusals name it */
  readonly #allowed: string;

  constructor(readonly deps: RequestDeps) {
    this.#allowed = deps.setup.rules.map((r) => r.entry).join(', ') || 'none';
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record = new RequestRecord(req, res, this.deps.admission);
    const checked = this.#check(req, record);
    if ('failure' in checked) return record.fail(checked.failure, checked.fields);
    const fields = { rule: checked.rule.entry, secrets: checked.secrets };
    try {
      const result = await this.#send(req, res, checked);
      record.done({ ...fields, outcome: 'ok', status: result.status, bytes: result.bytes });
    } catch (error) {
      record.fail(asFailure(error, checked.target), fields);
    }
  }

  /** Answers a CONNECT or an upgrade, which the gateway never serves, on the connection node:http handed over. */
  refuseRaw(socket: Duplex, req: IncomingMessage, why: string): void {
    const failure = this.deps.admission.admit() ?? new EgressFailure('denied', why);
    socket.end(rawRefusal(failure));
    this.deps.admission.record({
      method: (req.method ?? '').slice(0, 16),
      host: (req.url ?? '').slice(0, 260),
      path: '',
      outcome: failure.outcome,
      bytes: 0,
      ms: 0,
      secrets: [],
    });
  }

  /** Counts the request, then checks its URL, the host rules and where its placeholders may go, in that order. */
  #check(req: IncomingMessage, record: RequestRecord): Checked | Refused {
    const refusal = this.deps.admission.admit();
    const target = parseTarget(req.url ?? '');
    if (typeof target !== 'string') record.at(target);
    if (refusal) return { failure: refusal };
    if (typeof target === 'string') return { failure: new EgressFailure('bad_request', target) };
    const rule = matchRule(this.deps.setup.rules, target.host, target.port);
    if (!rule) {
      const why = `the policy does not allow requests to ${target.authority} (egress.allow: ${this.#allowed})`;
      return { failure: new EgressFailure('denied', why) };
    }
    const pairs = requestHeaderPairs(req.rawHeaders);
    const substituted = this.deps.secrets.substitute(req.url ?? '', pairs, target.host, target.port);
    if (!substituted.ok)
      return { failure: new EgressFailure('denied', substituted.message), fields: { rule: rule.entry } };
    return { target, rule, headers: substituted.headers, secrets: substituted.used };
  }

  /** Resolves and checks the address, then forwards, until the policy's time runs out or the sandbox hangs up. */
  async #send(req: IncomingMessage, res: ServerResponse, checked: Checked): Promise<Forwarded> {
    const { policy } = this.deps.setup;
    const { target, rule } = checked;
    const deadline = requestDeadline(res, target, policy.timeoutMs);
    try {
      const address = await pickAddress(
        target.host,
        target.authority,
        isExactEntry(rule),
        this.deps.resolveAll,
      );
      return await forward(req, res, {
        target,
        address,
        headers: checked.headers,
        secrets: this.deps.secrets,
        agents: this.deps.agents,
        maxResponseBytes: policy.maxResponseBytes,
        signal: AbortSignal.any([deadline.signal, this.deps.admission.ended]),
      });
    } finally {
      deadline.clear();
    }
  }
}

/** Aborts with a timeout past `timeoutMs`, or as aborted when the sandbox closes the connection first. */
function requestDeadline(res: ServerResponse, target: Target, timeoutMs: number) {
  const deadline = new AbortController();
  const why = `the request to ${target.authority} took longer than the policy's egress.timeoutMs (${timeoutMs} ms)`;
  const timer = setTimeout(() => deadline.abort(new EgressFailure('timeout', why)), timeoutMs);
  const gone = () => {
    if (!res.writableFinished)
      deadline.abort(new EgressFailure('aborted', 'the sandbox closed the connection'));
  };
  res.once('close', gone);
  return {
    signal: deadline.signal,
    clear() {
      clearTimeout(timer);
      res.off('close', gone);
    },
  };
}

/** What the sandbox is told when checking the address or forwarding threw. */
function asFailure(error: unknown, target: Target): EgressFailure {
  if (error instanceof EgressFailure) return error;
  if (error instanceof AddressRefusal) return new EgressFailure(error.reason, error.message);
  return new EgressFailure('unreachable', `the request to ${target.authority} failed`);
}
