/**
 * `importPlaybook` and the `WORKSPACE_DIR` / `PERMISSIONS` globals (typed by globals.d.ts). A playbook's code comes
 * from the conductor over this execution's socket, never from a file the code could have written, and is imported
 * as a data: URL, so it runs in this process with exactly the code's permissions.
 */
import type { ConductorPermissions, ImportPlaybookFunction } from './globals.d.ts';
import type { McpConnection } from './mcp-connection.ts';
import { isErrorLike, P } from './primordials.ts';

const shown = (name: string) => P.JSONStringify(P.StringPrototypeSlice(name, 0, 80));

function messageOf(error: unknown): string {
  return isErrorLike(error) ? error.message : P.StringCtor(error);
}

export function createImportPlaybook(connection: McpConnection): ImportPlaybookFunction {
  const load = async (name: unknown): Promise<unknown> => {
    if (typeof name !== 'string') throw new P.TypeErrorCtor('importPlaybook: the name must be a string');
    let code: unknown;
    try {
      code = ((await connection.request({ t: 'playbook', name })) as { code?: unknown } | null)?.code;
    } catch (error) {
      throw new P.ErrorCtor(`importPlaybook(${shown(name)}): ${messageOf(error)}`);
    }
    if (typeof code !== 'string')
      throw new P.ErrorCtor(`importPlaybook(${shown(name)}): the conductor sent no code`);
    try {
      return await import(`data:application/typescript;base64,${P.toBase64(P.encodeUtf8(code))}`);
    } catch (error) {
      throw new P.ErrorCtor(
        `importPlaybook(${shown(name)}): the playbook's code failed to load: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  };
  return load as ImportPlaybookFunction;
}

/** A copy of the grant that nothing can change: the object, its lists and their entries. */
export function frozenPermissions(grant: unknown): ConductorPermissions {
  const out: Record<string, boolean | readonly string[]> = P.ObjectCreate(P.ObjectPrototype);
  if (typeof grant === 'object' && grant !== null) {
    for (const kind of P.ObjectKeys(grant)) {
      const value = (grant as Record<string, unknown>)[kind];
      if (typeof value === 'boolean') out[kind] = value;
      else if (P.ArrayIsArray(value)) {
        const list: string[] = [];
        for (const item of value as unknown[]) if (typeof item === 'string') P.ArrayPrototypePush(list, item);
        out[kind] = P.ObjectFreeze(list);
      }
    }
  }
  return P.ObjectFreeze(out);
}
