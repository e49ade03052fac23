import {
  request as httpRequest,
  type Agent as HttpAgent,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { EgressOutcome } from '../core/index.js';
import { createRedactor } from './redact-stream.js';
import { pinnedLookup, type ResolvedAddress } from './resolve.js';
import type { HeaderPair, SecretSet } from './secrets.js';
import type { Target } from './target.js';

/** The marker header on every answer the gateway itself gives (never on an upstream's): the runtime reads it. */
export const EGRESS_HEADER = 'x-mcp-conductor-egress';

export class EgressFailure extends Error {
  /** response bytes delivered before it failed */
  bytes = 0;

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

/** Answers a request the gateway will not (or could not) forward: the marker says so, the body says why. */
export function refuse(res: ServerResponse, failure: EgressFailure): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`egress: ${failure.message}`);
  res.writeHead(STATUS[failure.outcome], {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
    [EGRESS_HEADER]: failure.outcome,
  });
  res.end(body);
}

// Hop-by-hop headers (RFC 9110 7.6.1) and what the gateway sets itself; the sandbox's values never go through.
const DROPPED_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'accept-encoding',
]);
const DROPPED_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'content-encoding',
]);

const isOurs = (name: string) => name.startsWith('x-mcp-conductor');

/** The sandbox's headers as pairs, without hop-by-hop ones (also those its Connection header names). */
export function requestHeaderPairs(rawHeaders: readonly string[]): HeaderPair[] {
  const pairs: HeaderPair[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
  const named = new Set(
    pairs
      .filter(([n]) => n.toLowerCase() === 'connection')
      .flatMap(([, v]) => v.split(',').map((t) => t.trim().toLowerCase())),
  );
  return pairs.filter(([n]) => {
    const lower = n.toLowerCase();
    return !DROPPED_REQUEST.has(lower) && !named.has(lower) && !isOurs(lower);
  });
}

function decoderFor(encoding: string): Transform | null | undefined {
  switch (encoding) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

export interface ForwardContext {
  target: Target;
  address: ResolvedAddress;
  headers: HeaderPair[];
  secrets: SecretSet;
  agents: { http: HttpAgent; https: HttpsAgent };
  maxResponseBytes: number;
  /** aborts the upstream exchange: the request's deadline, the sandbox going away, the execution ending */
  signal: AbortSignal;
}

/** What the gateway learned from one forwarded request. */
export interface Forwarded {
  status: number;
  bytes: number;
}

/**
 * Sends one request on to its target (to the pinned address, with TLS verified for the name) and streams the
 * answer back: decoded, with every secret value replaced by its placeholder, and cut with an error (never silently)
 * past maxResponseBytes. Resolves once the response has been delivered; rejects with an EgressFailure.
 */
export async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ForwardContext,
): Promise<Forwarded> {
  const { target, signal } = ctx;
  const headers: Record<string, string[]> = {};
  for (const [name, value] of ctx.headers) (headers[name.toLowerCase()] ??= []).push(value);
  headers['accept-encoding'] = ['gzip, deflate, br'];
  const send = target.scheme === 'https' ? httpsRequest : httpRequest;
  const upstream = send({
    host: target.host,
    port: target.port,
    method: req.method,
    path: target.pathAndQuery,
    headers,
    agent: target.scheme === 'https' ? ctx.agents.https : ctx.agents.http,
    lookup: pinnedLookup(ctx.address),
    ...(target.scheme === 'https' && isIP(target.host) === 0 ? { servername: target.host } : {}),
    signal,
  });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    upstream.once('response', resolve);
    upstream.once('error', reject);
  });
  // Awaited below, once the body is sent; an early failure must not count as unhandled meanwhile.
  answered.catch(() => undefined);
  let upRes: IncomingMessage;
  try {
    await pipeline(req, upstream, { signal });
    upRes = await answered;
  } catch (error) {
    upstream.destroy();
    throw failureOf(error, target, signal);
  }
  let bytes = 0;
  // pipeline() may report the iterator's AbortError instead of what the last stage threw: keep it here.
  let cut: EgressFailure | undefined;
  try {
    const encoding = (upRes.headers['content-encoding'] ?? '').trim().toLowerCase();
    const decoder = decoderFor(encoding);
    if (decoder === undefined) {
      throw new EgressFailure(
        'unreachable',
        `${target.authority} answered with content-encoding "${encoding.slice(0, 40)}", which the gateway cannot decode`,
      );
    }
    const declared = Number(upRes.headers['content-length'] ?? NaN);
    if (decoder === null && declared > ctx.maxResponseBytes) {
      throw new EgressFailure('too_large', tooLarge(target, ctx.maxResponseBytes, declared));
    }
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes, ctx.secrets));
    const redactor = createRedactor(ctx.secrets.patterns);
    const deliver = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        const room = ctx.maxResponseBytes - bytes;
        if (chunk.length > room) {
          // Exactly the cap goes through, then the connection breaks: the runtime tells the cut by the count.
          bytes = ctx.maxResponseBytes;
          await new Promise<void>((resolve) => res.write(chunk.subarray(0, room), () => resolve()));
          throw (cut = new EgressFailure('too_large', tooLarge(target, ctx.maxResponseBytes)));
        }
        bytes += chunk.length;
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      }
    };
    await (decoder
      ? pipeline(upRes, decoder, redactor, deliver, { signal })
      : pipeline(upRes, redactor, deliver, { signal }));
    res.end();
    return { status: upRes.statusCode ?? 502, bytes };
  } catch (error) {
    upRes.destroy();
    const failure = cut ?? failureOf(error, target, signal);
    failure.bytes = bytes;
    throw failure;
  }
}

function tooLarge(target: Target, max: number, declared?: number): string {
  const size = declared === undefined ? 'more' : `${declared} bytes`;
  return `the response from ${target.authority} has ${size}: the policy's egress.maxResponseBytes is ${max} bytes`;
}

function responseHeaders(upRes: IncomingMessage, secrets: SecretSet): Record<string, string | string[]> {
  const named = new Set(
    String(upRes.headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase()),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upRes.headers)) {
    if (value === undefined || DROPPED_RESPONSE.has(name) || named.has(name) || isOurs(name)) continue;
    out[name] = Array.isArray(value) ? value.map((v) => secrets.redact(v)) : secrets.redact(value);
  }
  return out;
}

/** Turns whatever broke into the failure the sandbox is told about (never a stack, never a header value). */
function failureOf(error: unknown, target: Target, signal: AbortSignal): EgressFailure {
  if (error instanceof EgressFailure) return error;
  if (signal.aborted && signal.reason instanceof EgressFailure) return signal.reason;
  const e = error as NodeJS.ErrnoException;
  const why = e.code ?? e.name ?? 'failed';
  const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(why);
  return new EgressFailure(
    'unreachable',
    tls
      ? `the TLS certificate of ${target.authority} could not be verified (${why}); an internal CA goes in the policy's egress.caFile`
      : `the request to ${target.authority} failed (${why})`,
  );
}
