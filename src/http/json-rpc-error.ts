/**
 * The body of an HTTP error from /mcp: a JSON-RPC error response, so MCP clients show the reason rather than a bare
 * status. The code follows the SDK's own transport: -32001 for an unknown session (404), -32000 otherwise.
 */
export function jsonRpcError(status: number, message: string) {
  return { jsonrpc: '2.0' as const, error: { code: status === 404 ? -32001 : -32000, message }, id: null };
}
