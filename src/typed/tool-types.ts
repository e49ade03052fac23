import { createHash } from 'node:crypto';
import type { McpDirectory } from '../proxy/index.js';
import { groupName, toolDeclarations } from './declarations.js';

/** TypeScript declarations of one caller's upstream tools, generated on demand and cached per server. */
export interface ToolTypes {
  /** One server's declarations (of the named tools only, when given). */
  forServer(server: string, names?: string[]): Promise<string>;
  /**
   * The declarations a check of `code` needs: those of every server it names in a string literal (a `load` with a
   * name computed at run time gets the untyped client anyway). A server that cannot be listed stays untyped.
   */
  forCode(code: string): Promise<string>;
}

/** Declarations kept per tenant: one per server and tool subset, replaced when the tool list changes. */
const MAX_CACHED = 32;

/**
 * The cache key is a hash of the tools as the server lists them now, so a changed tool list (announced with
 * notifications/tools/list_changed or not, and after a reconnect) gives new declarations, and an unchanged one
 * costs one tools/list instead of a new generation.
 */
export function createToolTypes(directory: Pick<McpDirectory, 'servers' | 'listTools'>): ToolTypes {
  const cache = new Map<string, Promise<string>>();
  const forServer = async (server: string, names?: string[]) => {
    const listed = await directory.listTools(server);
    const tools = names?.length ? listed.filter((t) => names.includes(t.name)) : listed;
    const key = createHash('sha256')
      .update(JSON.stringify([server, tools]))
      .digest('hex');
    let text = cache.get(key);
    if (!text) {
      text = toolDeclarations(server, tools);
      text.catch(() => cache.delete(key));
      cache.set(key, text);
      // Oldest first out: a Map iterates in insertion order.
      while (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
    }
    return text;
  };
  return {
    forServer,
    async forCode(code) {
      const named = directory
        .servers()
        .filter((s) => [`'${s}'`, `"${s}"`, `\`${s}\``].some((literal) => code.includes(literal)));
      const groups = new Set<string>();
      // Two servers whose names differ only in punctuation would share a namespace: the first one wins.
      const distinct = named.filter((s) => !groups.has(groupName(s)) && groups.add(groupName(s)));
      const parts = await Promise.all(distinct.map((s) => forServer(s).catch(() => '')));
      return parts.filter(Boolean).join('\n');
    },
  };
}
