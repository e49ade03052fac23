import {
  request as httpRequest,
  type Agent as HttpAgent,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { responseHeaders } from './headers.js';
import { createRedactor } from './redact-stream.js';
import { EgressFailure } from './refusal.js';
import { pinnedLookup, type ResolvedAddress } from './resolve.js';
import type { HeaderPair, SecretSet } from './secrets.js';
import type { Target } from './target.js';

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
  const upRes = await sendUpstream(req, ctx);
  const relay = new Relay(res, ctx);
  try {
    return await relay.deliver(upRes);
  } catch (error) {
    upRes.destroy();
    throw relay.failure(error);
  }
}

/** Sends the request with the sandbox's body and waits for the answer's head. */
async function sendUpstream(req: IncomingMessage, ctx: ForwardContext): Promise<IncomingMessage> {
  const { target, signal } = ctx;
  const headers: Record<string, string[]> = {};
  for (const [name, value] of ctx.headers) (headers[name.toLowerCase()] ??= []).push(value);
  headers['accept-encoding'] = ['gzip, deflate, br'];
  const https = target.scheme === 'https';
  const upstream = (https ? httpsRequest : httpRequest)({
    host: target.host,
    port: target.port,
    method: req.method,
    path: target.pathAndQuery,
    headers,
    agent: https ? ctx.agents.https : ctx.agents.http,
    lookup: pinnedLookup(ctx.address),
    ...(https && isIP(target.host) === 0 ? { servername: target.host } : {}),
    signal,
  });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    upstream.once('response', resolve);
    upstream.once('error', reject);
  });
  // Awaited below, once the body is sent; an early failure must not count as unhandled meanwhile.
  answered.catch(() => undefined);
  try {
    await pipeline(req, upstream, { signal });
    return await answered;
  } catch (error) {
    upstream.destroy();
    throw failureOf(error, target, signal);
  }
}

/** One answer on its way back to the sandbox: what it has delivered, and why it stopped if it did. */
class Relay {
  /** response bytes delivered (decoded) */
  #bytes = 0;
  /** pipeline() may report the iterator's AbortError instead of what the last stage threw: kept here */
  #cut: EgressFailure | undefined;

  constructor(
    readonly res: ServerResponse,
    readonly ctx: ForwardContext,
  ) {}

  async deliver(upRes: IncomingMessage): Promise<Forwarded> {
    const { target, maxResponseBytes, signal } = this.ctx;
    const encoding = (upRes.headers['content-encoding'] ?? '').trim().toLowerCase();
    const decoder = decoderFor(encoding);
    if (decoder === undefined) {
      throw new EgressFailure(
        'unreachable',
        `${target.authority} answered with content-encoding "${encoding.slice(0, 40)}", which the gateway cannot decode`,
      );
    }
    const declared = Number(upRes.headers['content-length'] ?? NaN);
    if (decoder === null && declared > maxResponseBytes) {
      throw new EgressFailure('too_large', tooLarge(target, maxResponseBytes, declared));
    }
    this.res.writeHead(
      upRes.statusCode ?? 502,
      upRes.statusMessage,
      responseHeaders(upRes, this.ctx.secrets),
    );
    // The head goes out now, not with the first body byte: a stream (server-sent events) may send none for a while.
    this.res.flushHeaders();
    const redactor = createRedactor(this.ctx.secrets.patterns);
    const write = (source: AsyncIterable<Buffer>) => this.#write(source);
    await (decoder
      ? pipeline(upRes, decoder, redactor, write, { signal })
      : pipeline(upRes, redactor, write, { signal }));
    this.res.end();
    return { status: upRes.statusCode ?? 502, bytes: this.#bytes };
  }

  /** What the sandbox is told about `error`, with the bytes it got before. */
  failure(error: unknown): EgressFailure {
    const failure = this.#cut ?? failureOf(error, this.ctx.target, this.ctx.signal);
    failure.bytes = this.#bytes;
    return failure;
  }

  async #write(source: AsyncIterable<Buffer>): Promise<void> {
    const { res } = this;
    const max = this.ctx.maxResponseBytes;
    for await (const chunk of source) {
      const room = max - this.#bytes;
      if (chunk.length > room) {
        // Exactly the cap goes through, then the body breaks (the runtime tells the cut by the count).
        this.#bytes = max;
        res.write(chunk.subarray(0, room), () => breakBody(res));
        this.#cut = new EgressFailure('too_large', tooLarge(this.ctx.target, max));
        this.#cut.ending = true;
        throw this.#cut;
      }
      this.#bytes += chunk.length;
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
  }
}

/**
 * Ends a body part-way, once what it carries is flushed, so that the sandbox's read fails at once. A chunked body
 * gets a chunk header no parser takes: that fails the read in band, where a close alone may never wake a reader
 * inside gVisor (seen: a FIN on its host socket left the fetch waiting for egress.timeoutMs). The connection then
 * ends. Nothing waits on the sandbox's pace meanwhile: the request is recorded and the gateway's close ends it all.
 */
function breakBody(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return;
  if (res.chunkedEncoding) socket.write('!\r\n\r\n');
  socket.once('finish', () => socket.destroy());
  socket.end();
}

/** The decoder for a content-encoding: null for none, undefined for one the gateway cannot decode. */
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

function tooLarge(target: Target, max: number, declared?: number): string {
  const size = declared === undefined ? 'more' : `${declared} bytes`;
  return `the response from ${target.authority} has ${size}: the policy's egress.maxResponseBytes is ${max} bytes`;
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
