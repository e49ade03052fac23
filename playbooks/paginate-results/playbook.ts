export interface Page<T> {
  items: T[];
  /** the cursor of the next page; undefined on the last one */
  next?: string;
}

export type FetchPage<T> = (cursor: string | undefined) => Promise<Page<T>>;

export interface PaginateOptions {
  /** stop after this many pages (default 50) */
  maxPages?: number;
  /** stop once this many items are collected (default 10000) */
  maxItems?: number;
}

/** The pages one after another, until the last one or a cap. */
export async function* pages<T>(fetchPage: FetchPage<T>, options: PaginateOptions = {}): AsyncGenerator<T[]> {
  const maxPages = options.maxPages ?? 50;
  let cursor: string | undefined;
  for (let n = 0; n < maxPages; n++) {
    const page = await fetchPage(cursor);
    yield page.items;
    if (page.next === undefined || page.next === '' || page.next === cursor) return;
    cursor = page.next;
  }
}

const hasNext = (page: Page<unknown>) => page.next !== undefined && page.next !== '';

/** Every item (up to the caps); `complete` is false when a cap stopped it before the last item. */
export async function paginate<T>(
  fetchPage: FetchPage<T>,
  options: PaginateOptions = {},
): Promise<{ items: T[]; pages: number; complete: boolean }> {
  const maxItems = options.maxItems ?? 10_000;
  const items: T[] = [];
  let count = 0;
  let last: Page<T> = { items: [] };
  const tracked: FetchPage<T> = async (cursor) => (last = await fetchPage(cursor));
  for await (const page of pages(tracked, options)) {
    count++;
    const room = maxItems - items.length;
    items.push(...page.slice(0, room));
    if (items.length >= maxItems)
      return { items, pages: count, complete: page.length <= room && !hasNext(last) };
  }
  return { items, pages: count, complete: !hasNext(last) };
}

export interface ToolPagesOptions<T> {
  /** the tool's argument that takes the cursor (default "cursor") */
  cursorArg?: string;
  /** the page's items in the tool's result (default: result.items) */
  items?: (result: any) => T[];
  /** the next cursor in the tool's result (default: result.nextCursor) */
  next?: (result: any) => string | undefined;
}

/** fetchPage for an MCP tool that takes a cursor argument. */
export function toolPages<T = unknown>(
  server: string,
  tool: string,
  args: Record<string, unknown> = {},
  options: ToolPagesOptions<T> = {},
): FetchPage<T> {
  const cursorArg = options.cursorArg ?? 'cursor';
  const items = options.items ?? ((r) => (r?.items ?? []) as T[]);
  const next = options.next ?? ((r) => r?.nextCursor as string | undefined);
  const client = mcpFactory.load(server);
  return async (cursor) => {
    const result = await (
      await client
    ).callTool(tool, cursor === undefined ? args : { ...args, [cursorArg]: cursor });
    const value = next(result);
    return { items: items(result), next: value === null || value === undefined ? undefined : String(value) };
  };
}
