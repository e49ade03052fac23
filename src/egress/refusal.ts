import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { EgressOutcome } from '../core/index.js';

/** The marker header on every answer the gateway itself gives (never on an upstream's): the runtime reads it. */
const EGRESS_HEADER = 'x-mcp-conductor-egress';

export class EgressFailure extends Error {
  /** response bytes delivered before it failed */
  bytes = 0;
  /** the answer under way is being ended by whoever failed it: the refusal must leave it alone */
  ending = false;

  constructor(
    readonly outcome: Exclude<EgressOutcome, 'ok'>,
    message: string,
  ) {
    super(message);
  }
}

const STATUS: Record<Exclude<EgressOutcome, 'ok'>, number> = {
  denied: 403,
  limit: 429,
  too_large: 502,
  timeout: 504,
  unreachable: 502,
  bad_request: 400,
  aborted: 502,
};

const bodyOf = (failure: EgressFailure) => Buffer.from(`egress: ${failure.message}`);

/** Answers a request the gateway will not (or could not) forward: the marker says so, the body says why. */
export function refuse(res: ServerResponse, failure: EgressFailure): void {
  if (res.headersSent) {
    // An answer under way breaks, unless its end is already on its way (forward's cut at maxResponseBytes).
    if (!failure.ending) res.destroy();
    return;
  }
  const body = bodyOf(failure);
  res.writeHead(STATUS[failure.outcome], {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
    [EGRESS_HEADER]: failure.outcome,
  });
  res.end(body);
}

/** The same answer as raw HTTP/1.1, for a connection node:http has handed over (CONNECT, upgrades); it closes. */
export function rawRefusal(failure: EgressFailure): string {
  const status = STATUS[failure.outcome];
  const body = bodyOf(failure);
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    `${EGRESS_HEADER}: ${failure.outcome}`,
    'content-type: text/plain; charset=utf-8',
    `content-length: ${body.length}`,
    'connection: close',
    '',
    body.toString(),
  ].join('\r\n');
}
