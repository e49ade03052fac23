/** A call of one tool of one MCP server. */
export interface ToolCall {
  server: string;
  tool: string;
  args?: Record<string, unknown>;
}

export type Outcome<T = unknown> = { ok: true; value: T } | { ok: false; error: string };

/** `fn` for each item, at most `concurrency` at once; the results keep the items' order. */
export async function mapLimit<I, O>(
  items: readonly I[],
  concurrency: number,
  fn: (item: I, index: number) => Promise<O>,
): Promise<O[]> {
  const results: O[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as I, index);
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/** Every call's outcome, in order; a failure is kept as its message instead of rejecting the whole batch. */
export async function callAll(
  calls: readonly ToolCall[],
  { concurrency = 8 }: { concurrency?: number } = {},
): Promise<Outcome[]> {
  const servers = new Map<string, ReturnType<typeof mcpFactory.load>>();
  const load = (name: string) => {
    if (!servers.has(name)) servers.set(name, mcpFactory.load(name));
    return servers.get(name)!;
  };
  return mapLimit(calls, concurrency, async ({ server, tool, args }): Promise<Outcome> => {
    try {
      const client = await load(server);
      return { ok: true, value: await client.callTool(tool, args ?? {}) };
    } catch (error) {
      return {
        ok: false,
        error: `${server}.${tool}: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  });
}

/** The values of the successful outcomes. */
export function succeeded<T>(outcomes: readonly Outcome<T>[]): T[] {
  return outcomes.flatMap((o) => (o.ok ? [o.value] : []));
}
