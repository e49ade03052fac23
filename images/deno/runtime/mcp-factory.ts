/**
 * The `mcpFactory` client API (typed by mcp-factory.d.ts) over an McpConnection. The host enforces every allowlist
 * and limit; the checks here only give the user a clear error early.
 */
import type {
  McpCallToolResult,
  McpFactory,
  McpGetPromptResult,
  McpPrompt,
  McpReadResourceResult,
  McpResource,
  McpServerClient,
  McpTool,
} from './mcp-factory.d.ts';
import { type CallFields, type McpConnection, McpToolError } from './mcp-connection.ts';
import { P } from './primordials.ts';

/** Leaves room for the frame's own two levels within the host's nesting limit of 64. */
const MAX_ARGS_DEPTH = 60;

function checkName(value: unknown, what: string, max = 200): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new P.TypeErrorCtor(`mcpFactory: ${what} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

/** Tool and prompt arguments travel as JSON: refuse what JSON would silently change or drop. */
function checkArgs(args: unknown, what: string): Record<string, unknown> {
  if (args === undefined) return {};
  const fail = (where: string, problem: string): never => {
    throw new P.TypeErrorCtor(
      `mcpFactory: ${where} ${problem}; arguments must be plain JSON (objects, arrays, strings, finite numbers, booleans, null)`,
    );
  };
  const seen: object[] = [];
  const visit = (v: unknown, where: string, depth: number): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') return void (P.NumberIsFinite(v) || fail(where, `is ${P.StringCtor(v)}`));
    if (typeof v !== 'object') return void fail(where, `is a ${typeof v}`);
    if (depth > MAX_ARGS_DEPTH) fail(where, `nests deeper than ${MAX_ARGS_DEPTH} levels`);
    for (let i = 0; i < seen.length; i++) if (seen[i] === v) fail(where, 'refers back to itself (a cycle)');
    seen[seen.length] = v;
    if (P.ArrayIsArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (v[i] === undefined) fail(`${where}[${i}]`, 'is undefined');
        visit(v[i], `${where}[${i}]`, depth + 1);
      }
    } else {
      const proto = P.ObjectGetPrototypeOf(v);
      if (proto !== P.ObjectPrototype && proto !== null) {
        const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
        fail(
          where,
          `is a ${typeof name === 'string' && name !== '' ? name : 'class instance'}, not a plain object`,
        );
      }
      const keys = P.ObjectKeys(v);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const item = (v as Record<string, unknown>)[k];
        if (item !== undefined) visit(item, `${where}.${k}`, depth + 1);
      }
    }
    seen.length--;
  };
  if (typeof args !== 'object' || args === null || P.ArrayIsArray(args)) fail(what, 'must be an object');
  visit(args, what, 1);
  return args as Record<string, unknown>;
}

/** The host may answer list operations with the array or with the MCP result object that holds it. */
function unwrapList<T>(result: unknown, key: string): T[] {
  if (P.ArrayIsArray(result)) return result as T[];
  const inner =
    typeof result === 'object' && result !== null ? (result as Record<string, unknown>)[key] : undefined;
  return (P.ArrayIsArray(inner) ? inner : result) as T[];
}

function textOf(result: McpCallToolResult): string | undefined {
  const content: unknown = result.content;
  if (!P.ArrayIsArray(content)) return undefined;
  const texts: string[] = [];
  for (let i = 0; i < content.length; i++) {
    const item = content[i] as { type?: unknown; text?: unknown } | null;
    if (item !== null && typeof item === 'object' && item.type === 'text' && typeof item.text === 'string') {
      P.ArrayPrototypePush(texts, item.text);
    }
  }
  return texts.length === 0 ? undefined : P.ArrayPrototypeJoin(texts, '\n');
}

class ServerClient implements McpServerClient {
  readonly #conn: McpConnection;
  constructor(
    conn: McpConnection,
    readonly name: string,
  ) {
    this.#conn = conn;
  }

  async listTools(): Promise<McpTool[]> {
    return unwrapList<McpTool>(await this.#conn.call({ op: 'listTools', server: this.name }), 'tools');
  }

  async callTool<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T> {
    const result = await this.callToolRaw(name, args);
    if (result === null || typeof result !== 'object') return result as T;
    const text = textOf(result);
    if (result.isError === true) {
      throw new McpToolError(
        text ?? `tool "${name}" of server "${this.name}" reported an error`,
        this.name,
        name,
        result,
      );
    }
    if (result.structuredContent !== undefined && result.structuredContent !== null)
      return result.structuredContent as T;
    if (text === undefined) return result.content as T;
    try {
      return P.JSONParse(text) as T;
    } catch {
      return text as T;
    }
  }

  async callToolRaw(name: string, args?: Record<string, unknown>): Promise<McpCallToolResult> {
    const fields: CallFields = { op: 'callTool', server: this.name, name: checkName(name, 'the tool name') };
    fields.args = checkArgs(args, 'args');
    return (await this.#conn.call(fields)) as McpCallToolResult;
  }

  async listResources(): Promise<McpResource[]> {
    return unwrapList<McpResource>(
      await this.#conn.call({ op: 'listResources', server: this.name }),
      'resources',
    );
  }

  async readResource(uri: string): Promise<McpReadResourceResult> {
    const checked = checkName(uri, 'the resource uri', 4096);
    return (await this.#conn.call({
      op: 'readResource',
      server: this.name,
      uri: checked,
    })) as McpReadResourceResult;
  }

  async listPrompts(): Promise<McpPrompt[]> {
    return unwrapList<McpPrompt>(await this.#conn.call({ op: 'listPrompts', server: this.name }), 'prompts');
  }

  async getPrompt(name: string, args?: Record<string, string>): Promise<McpGetPromptResult> {
    const fields: CallFields = {
      op: 'getPrompt',
      server: this.name,
      name: checkName(name, 'the prompt name'),
    };
    fields.args = checkArgs(args, 'args');
    return (await this.#conn.call(fields)) as McpGetPromptResult;
  }
}

class Factory implements McpFactory {
  readonly #conn: McpConnection;
  constructor(conn: McpConnection) {
    this.#conn = conn;
  }

  async list(): Promise<string[]> {
    return unwrapList<string>(await this.#conn.call({ op: 'list' }), 'servers');
  }

  listServers(): Promise<string[]> {
    return this.list();
  }

  async load(name: string): Promise<McpServerClient> {
    const result = await this.#conn.call({ op: 'load', server: checkName(name, 'the server name') });
    const loaded =
      typeof result === 'object' && result !== null ? (result as { name?: unknown }).name : undefined;
    return P.ObjectFreeze(new ServerClient(this.#conn, typeof loaded === 'string' ? loaded : name));
  }
}

P.ObjectFreeze(ServerClient.prototype);
P.ObjectFreeze(Factory.prototype);

export function createMcpFactory(conn: McpConnection): McpFactory {
  return P.ObjectFreeze(new Factory(conn));
}
