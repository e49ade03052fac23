import { chmod, chown } from 'node:fs/promises';
import {
  Agent as HttpAgent,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { EgressRequest } from '../core/index.js';
import { Admission } from './admission.js';
import { RequestHandler } from './request.js';
import { systemResolveAll, type ResolveAll } from './resolve.js';
import { createSecretSet } from './secrets.js';
import type { EgressSetup } from './setup.js';

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

/** Deno opens a connection per concurrent fetch; maxRequests bounds the useful ones, this the idle rest. */
const MAX_CONNECTIONS = 256;

export function createEgressGateway(setup: EgressSetup, options: GatewayOptions = {}): EgressGateway {
  return new Gateway(setup, options);
}

class Gateway implements EgressGateway {
  readonly placeholders: Readonly<Record<string, string>>;
  readonly #admission: Admission;
  readonly #agents: { http: HttpAgent; https: HttpsAgent };
  readonly #server: Server;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed: Promise<void> | undefined;

  constructor(setup: EgressSetup, options: GatewayOptions) {
    const secrets = createSecretSet(setup.secrets);
    this.placeholders = secrets.placeholders;
    this.#admission = new Admission(setup.policy.maxRequests);
    const agentOptions = { keepAlive: true, maxSockets: 8, maxTotalSockets: 16 };
    this.#agents = {
      http: new HttpAgent(agentOptions),
      https: new HttpsAgent({ ...agentOptions, secureContext: setup.tls }),
    };
    const handler = new RequestHandler({
      setup,
      secrets,
      agents: this.#agents,
      admission: this.#admission,
      resolveAll: options.resolveAll ?? systemResolveAll,
    });
    this.#server = this.#createServer(handler);
  }

  get requests(): number {
    return this.#admission.requests;
  }

  async listen(path: string, sandboxUid: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => resolve());
    });
    // Handed over like the MCP socket: the sandbox user may connect, nobody else on the host.
    if (process.getuid?.() === 0) {
      await chown(path, sandboxUid, sandboxUid);
      await chmod(path, 0o600);
    } else {
      await chmod(path, 0o666);
    }
  }

  open(onRecord: (record: EgressRequest) => void): void {
    this.#admission.open(onRecord);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const server = this.#server;
    this.#admission.end();
    const stopped = server.listening
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    server.closeAllConnections();
    // Requests cut short by the end still get their record before close resolves.
    await Promise.allSettled([...this.#inFlight]);
    this.#admission.detach();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
    await stopped;
  }

  #createServer(handler: RequestHandler): Server {
    const server = createServer(
      { maxHeaderSize: 32 * 1024, requestTimeout: 0, headersTimeout: 10_000 },
      (req, res) => this.#track(handler, req, res),
    );
    server.maxConnections = MAX_CONNECTIONS;
    server.maxHeadersCount = 200;
    // A tunnel would carry TLS the gateway cannot see into, so secrets and checks could not apply.
    server.on('connect', (req: IncomingMessage, socket: Duplex) =>
      handler.refuseRaw(
        socket,
        req,
        'CONNECT tunnels are not offered: send the request itself (fetch, node:http and node:https do)',
      ),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) =>
      handler.refuseRaw(socket, req, 'protocol upgrades (WebSocket) are not offered by the gateway'),
    );
    server.on('clientError', (_error, socket: Duplex) => socket.destroy());
    return server;
  }

  /** Serves one request, kept in flight until its record is out, so close() can wait for it. */
  #track(handler: RequestHandler, req: IncomingMessage, res: ServerResponse): void {
    const handling = handler.handle(req, res).catch(() => res.destroy());
    this.#inFlight.add(handling);
    void handling.finally(() => this.#inFlight.delete(handling));
  }
}
