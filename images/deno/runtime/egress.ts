/**
 * The sandbox side of the egress gateway (src/egress/). The container has no network: Deno sends every `fetch`
 * through the gateway's Unix socket because the container's HTTP_PROXY / HTTPS_PROXY name it (`unix:` proxies send
 * absolute-form plain-text requests, also for https: URLs, so the gateway sees what it must check and does TLS
 * itself). This module, run before any user code:
 * - makes `Deno.env.get(NAME)` (and so `process.env.NAME`) answer each declared secret's placeholder, with no env
 *   grant: the gateway swaps the real value in on the secret's own hosts;
 * - turns the gateway's refusals into thrown errors (a `fetch` to a host the policy does not allow throws, it does
 *   not resolve with a 403), and a body cut at maxResponseBytes or timeoutMs into an error that says so;
 * - sends `node:http` / `node:https` requests through the gateway (their agents connect to the socket).
 * Nothing here is a security boundary: code that undoes it only loses its way out. The gateway decides.
 */
import { P } from './primordials.ts';

export interface EgressConfig {
  socket: string;
  hosts: string[];
  secrets: Record<string, string>;
  maxResponseBytes: number;
  timeoutMs: number;
}

const ARG = '--egress=';
const MARKER = 'x-mcp-conductor-egress';
const NULL_BODY = [101, 103, 204, 205, 304];

/** The gateway's settings from the command line (no permission needed to read it), or undefined without egress. */
export function egressFromArgs(args: readonly string[]): EgressConfig | undefined {
  for (const arg of args) {
    if (typeof arg !== 'string' || P.StringPrototypeSlice(arg, 0, ARG.length) !== ARG) continue;
    const c = P.JSONParse(P.StringPrototypeSlice(arg, ARG.length)) as EgressConfig;
    if (typeof c.socket !== 'string' || !P.ArrayIsArray(c.hosts) || typeof c.secrets !== 'object')
      throw new P.ErrorCtor('the egress argument is malformed');
    return c;
  }
  return undefined;
}

export async function installEgress(config: EgressConfig): Promise<void> {
  installSecrets(config.secrets);
  installFetch(config);
  await installNodeHttp(config);
}

function installSecrets(secrets: Record<string, string>): void {
  const env = Deno.env;
  const get = env.get;
  const has = env.has;
  const own = (key: unknown): key is string => typeof key === 'string' && P.ObjectHasOwn(secrets, key);
  P.ObjectDefineProperty(env, 'get', {
    value: function get_(key: string) {
      return own(key) ? secrets[key] : P.ReflectApply(get, env, [key]);
    },
    writable: true,
    configurable: true,
  });
  P.ObjectDefineProperty(env, 'has', {
    value: function has_(key: string) {
      return own(key) || P.ReflectApply(has, env, [key]);
    },
    writable: true,
    configurable: true,
  });
}

const notAllowed = (config: EgressConfig, authority: string) =>
  `egress: the policy does not allow requests to ${authority} (egress.allow: ${P.ArrayPrototypeJoin(config.hosts, ', ') || 'none'})`;

/** Deno's own refusal of a host outside the grant, in the policy's words; anything else as it is. */
function translate(error: unknown, config: EgressConfig): unknown {
  if (!(error instanceof P.errors.NotCapable)) return error;
  const m = /^Requires net access to "([^"]+)"/.exec(P.StringCtor((error as Error).message));
  if (!m || P.StringPrototypeSlice(m[1]!, 0, 5) === 'unix:') return error;
  return new P.errors.NotCapable(notAllowed(config, m[1]!));
}

function gatewayError(code: string, text: string): Error {
  return code === 'denied' ? new P.errors.NotCapable(text) : new P.TypeErrorCtor(text);
}

function installFetch(config: EgressConfig): void {
  const fetch = P.globalThis.fetch;
  const wrapped = async function fetch_(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const started = P.DateNow();
    let res: Response;
    try {
      res = await P.ReflectApply(fetch, P.globalThis, [input, init]);
    } catch (error) {
      throw translate(error, config);
    }
    const code = res.headers.get(MARKER);
    if (code !== null) throw gatewayError(code, await res.text());
    if (res.body === null || P.ArrayPrototypeIncludes(NULL_BODY, res.status)) return res;
    return guardBody(res, started, config);
  };
  P.ObjectDefineProperty(P.globalThis, 'fetch', {
    value: wrapped,
    writable: true,
    configurable: true,
    enumerable: true,
  });
}

/**
 * The same response, whose body read fails with the reason when the gateway cut it: exactly maxResponseBytes
 * arrived (the gateway passes exactly that many, then breaks the connection), or the request's time ran out.
 */
function guardBody(res: Response, started: number, config: EgressConfig): Response {
  const reader = res.body!.getReader();
  const host = (() => {
    try {
      return new URL(res.url).host;
    } catch {
      return 'the target';
    }
  })();
  let bytes = 0;
  const explain = (error: unknown) => {
    if (bytes === config.maxResponseBytes)
      return new P.TypeErrorCtor(
        `egress: the response from ${host} is larger than the policy's egress.maxResponseBytes (${config.maxResponseBytes} bytes)`,
      );
    if (P.DateNow() - started >= config.timeoutMs)
      return new P.TypeErrorCtor(
        `egress: the request to ${host} took longer than the policy's egress.timeoutMs (${config.timeoutMs} ms)`,
      );
    return error;
  };
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          bytes += value.byteLength;
          controller.enqueue(value);
        } catch (error) {
          controller.error(explain(error));
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  for (const key of ['url', 'redirected', 'type'] as const) {
    P.ObjectDefineProperty(out, key, { value: res[key], enumerable: true });
  }
  return out;
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** Every node:http(s) Agent connects to the gateway and sends absolute URLs, as a client of a proxy does. */
async function installNodeHttp(config: EgressConfig): Promise<void> {
  const [http, https, net] = (await P.PromiseAll([
    import('node:http'),
    import('node:https'),
    import('node:net'),
  ])) as [Any, Any, Any];
  const connect = net.connect as (o: { path: string }) => unknown;
  const toGateway = function createConnection() {
    return connect({ path: config.socket });
  };
  http.Agent.prototype.createConnection = toGateway;
  https.Agent.prototype.createConnection = toGateway;
  const addRequest = http.Agent.prototype.addRequest as (req: Any, options: Any) => unknown;
  http.Agent.prototype.addRequest = function (this: Any, req: Any, options: Any) {
    const secure = this.protocol === 'https:';
    const path = P.StringCtor(req.path ?? '/');
    if (!/^https?:\/\//i.test(path)) {
      const host = P.StringCtor(options.hostname ?? options.host ?? 'localhost');
      const port = P.NumberCtor(options.port ?? (secure ? 443 : 80));
      const name = P.StringPrototypeIndexOf(host, ':') >= 0 ? `[${host}]` : host;
      const portText = port === (secure ? 443 : 80) ? '' : `:${port}`;
      req.path = `${secure ? 'https' : 'http'}://${name}${portText}${path}`;
    }
    interceptRefusal(req);
    return P.ReflectApply(addRequest, this, [req, options]);
  };
}

/** A refusal from the gateway reaches the caller as the request's 'error', not as a 403 response. */
function interceptRefusal(req: Any): void {
  const emit = req.emit as (event: string, ...args: unknown[]) => boolean;
  req.emit = function (this: Any, event: string, ...args: unknown[]) {
    const res = args[0] as Any;
    const code = event === 'response' ? res?.headers?.[MARKER] : undefined;
    if (typeof code !== 'string') return P.ReflectApply(emit, this, [event, ...args]);
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.on('end', () => P.ReflectApply(emit, this, ['error', gatewayError(code, text)]));
    return true;
  };
}
