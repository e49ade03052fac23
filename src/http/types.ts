import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';

/** What the HTTP face needs of an MCP server: one per session (or per stateless request). */
export interface McpSessionServer {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
}

/** What the HTTP face needs from one authenticated caller. */
export interface TenantEndpoint {
  id: string;
  /** open sessions this tenant may hold at once */
  maxSessions: number;
  createServer(): McpSessionServer;
}

/** The Prometheus text of /metrics. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export type AppEnv = { Variables: { hostAllowed: boolean } };
