/**
 * Types of `mcpFactory`, the global the MCP Conductor sandbox installs before user code runs. Reference this file
 * (`/// <reference path="..." />` or an import type) so editors and `deno check` know the API. The implementation
 * (mcp-factory.ts) `implements` these interfaces, which keeps the two in sync.
 */

/** One tool of an MCP server, as its `tools/list` describes it. */
export interface McpTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: { type: 'object'; [key: string]: unknown };
  outputSchema?: { type: 'object'; [key: string]: unknown };
  [key: string]: unknown;
}

/** An item of a tool result's or a prompt message's content (text, image, audio, resource, resource_link). */
export interface McpContent {
  type: string;
  text?: string;
  [key: string]: unknown;
}

/** The MCP CallToolResult, as the server sent it. */
export interface McpCallToolResult {
  content: McpContent[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

export interface McpResource {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  [key: string]: unknown;
}

export interface McpReadResourceResult {
  contents: { uri: string; mimeType?: string; text?: string; blob?: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

export interface McpPrompt {
  name: string;
  title?: string;
  description?: string;
  arguments?: { name: string; description?: string; required?: boolean }[];
  [key: string]: unknown;
}

export interface McpGetPromptResult {
  description?: string;
  messages: { role: 'user' | 'assistant'; content: McpContent }[];
  [key: string]: unknown;
}

/** Thrown when the host refuses or fails a call (unknown or denied server or tool, limits, upstream failure). */
export interface McpError extends Error {
  name: 'McpError' | 'McpToolError';
  /**
   * The host's code: unknown_server, denied, bad_request, limit (the execution's call cap), rate_limited (the
   * tenant's calls per minute; the message says when one frees), timeout, too_large (the reply was over the
   * policy's maxMcpReplyBytes), upstream (the server failed or went away; the next call reconnects), aborted,
   * internal; or connection_closed, or tool_error (from callTool).
   */
  code: string;
}

/** Thrown by callTool when the tool's result has `isError: true`; the message is the tool's text. */
export interface McpToolError extends McpError {
  name: 'McpToolError';
  code: 'tool_error';
  server: string;
  tool: string;
  result: McpCallToolResult;
}

/** A server returned by `mcpFactory.load(name)`. Every method is one call to the host; calls run concurrently. */
export interface McpServerClient {
  readonly name: string;
  listTools(): Promise<McpTool[]>;
  /**
   * Calls a tool and returns its `structuredContent`, else its text content parsed as JSON, else that text, else (no
   * text items) the content array. Throws an McpToolError carrying the tool's text when the result has `isError`.
   * `args` must be plain JSON (no BigInt, Date, Map, class instances, cycles).
   */
  callTool<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool and returns the MCP CallToolResult as is (no throw on `isError`). */
  callToolRaw(name: string, args?: Record<string, unknown>): Promise<McpCallToolResult>;
  listResources(): Promise<McpResource[]>;
  readResource(uri: string): Promise<McpReadResourceResult>;
  listPrompts(): Promise<McpPrompt[]>;
  getPrompt(name: string, args?: Record<string, string>): Promise<McpGetPromptResult>;
}

/** `args` of a typed call: optional when the tool's input has no required field. */
type McpArgs<I> = object extends I ? [args?: I] : [args: I];
type McpInput<T> = T extends { input: infer I } ? I : Record<string, unknown>;
type McpOutput<T> = T extends { output: infer O } ? O : unknown;

/**
 * A server whose tools' types are known (`McpServerTools[server]`: tool name → { input, output }): `callTool`
 * accepts only its tool names and checks `args` against the tool's input; without a type argument it resolves to the
 * tool's output (its structuredContent), with one (`callTool<R>(…)`) to R.
 */
export interface McpTypedServerClient<Tools> extends Omit<McpServerClient, 'callTool' | 'callToolRaw'> {
  callTool<R = never, N extends keyof Tools & string = keyof Tools & string>(
    name: N,
    ...args: McpArgs<McpInput<Tools[N]>>
  ): Promise<[R] extends [never] ? McpOutput<Tools[N]> : R>;
  callToolRaw<N extends keyof Tools & string>(
    name: N,
    ...args: McpArgs<McpInput<Tools[N]>>
  ): Promise<McpCallToolResult>;
}

export interface McpFactory {
  /** Names of the servers this execution may use. */
  list(): Promise<string[]>;
  /** Alias of list() (the original project's name). */
  listServers(): Promise<string[]>;
  /** A server with typed tools (declarations from get_tools `format: "typescript"`, in force under `check`). */
  load<S extends keyof McpServerTools & string>(name: S): Promise<McpTypedServerClient<McpServerTools[S]>>;
  /** A client for one server; rejects with an McpError for an unknown or denied server. */
  load(name: string): Promise<McpServerClient>;
}

declare global {
  /** Calls other MCP servers through the conductor (see McpFactory). Read-only. */
  var mcpFactory: McpFactory;
  /**
   * Server name → its tools' types (tool name → { input; output }). Empty here; the declarations that get_tools
   * generates with `format: "typescript"` add one entry per server, and `run_deno_code` with `check: true` checks
   * the code against them.
   */
  // deno-lint-ignore no-empty-interface
  interface McpServerTools {}
}
