import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/** Which output of an execution is kept: its streams, or the rendered return value. */
export type RetainedStream = 'stdout' | 'stderr' | 'return';
export const RETAINED_STREAMS: readonly RetainedStream[] = ['stdout', 'stderr', 'return'];

export const retainedUri = (executionId: string, stream: RetainedStream) =>
  `conductor://executions/${executionId}/${stream}`;

/** One kept output, as a result and resources/list describe it. */
export interface RetainedRef {
  uri: string;
  stream: RetainedStream;
  bytes: number;
  /** false when the tenant's budget cut it short */
  complete: boolean;
  createdAt: number;
}

interface Item extends RetainedRef {
  tenant: string;
  executionId: string;
  path: string;
}

/** One stream of one execution being kept: bytes past `threshold` spill to a file, up to the tenant's budget. */
export interface RetainedWriter {
  write(bytes: Buffer): void;
}

/** An execution's outputs being kept; `finish` closes them and registers those that went past their caps. */
export interface RetainedExecution {
  writer(stream: RetainedStream, threshold: number): RetainedWriter;
  finish(): Promise<RetainedRef[]>;
}

export interface RetentionStore {
  begin(tenant: string, executionId: string, budgetBytes: number): RetainedExecution;
  /** The whole kept text, for its own tenant only; undefined for another tenant's, an expired or a missing one. */
  read(tenant: string, executionId: string, stream: RetainedStream): Promise<string | undefined>;
  list(tenant: string): RetainedRef[];
  /** Deletes what has expired. */
  sweep(): Promise<void>;
  /** Deletes everything this conductor kept. */
  close(): Promise<void>;
}

export interface RetentionOptions {
  /** this conductor's own directory for kept outputs (removed by close) */
  dir: string;
  ttlMs?: number;
  now?: () => number;
}

class Store implements RetentionStore {
  readonly #items: Item[] = [];
  /** bytes on disk per tenant, kept items and those being written */
  readonly #used = new Map<string, number>();
  readonly #deleting = new Set<Promise<unknown>>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(
    readonly dir: string,
    options: RetentionOptions,
  ) {
    this.#ttlMs = options.ttlMs ?? 60 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  begin(tenant: string, executionId: string, budgetBytes: number): RetainedExecution {
    const open: { item: Item; file?: WriteStream; done?: Promise<void> }[] = [];
    const writer = (stream: RetainedStream, threshold: number): RetainedWriter => {
      const path = join(this.dir, `${executionId}.${stream}`);
      const uri = retainedUri(executionId, stream);
      const item: Item = { uri, stream, bytes: 0, complete: true, createdAt: 0, tenant, executionId, path };
      const entry: (typeof open)[number] = { item };
      open.push(entry);
      /** what came before the threshold: held in memory, and counted against the budget only once it spills */
      let head: Buffer[] = [];
      let headBytes = 0;
      /** Takes what the budget allows of `bytes` onto disk; past it, the item is cut and takes no more. */
      const spill = (bytes: Buffer) => {
        const room = this.#room(tenant, bytes.length, budgetBytes);
        const piece = bytes.subarray(0, room);
        if (piece.length < bytes.length) item.complete = false;
        this.#used.set(tenant, (this.#used.get(tenant) ?? 0) + piece.length);
        item.bytes += piece.length;
        if (piece.length > 0) entry.file!.write(piece);
      };
      return {
        write: (bytes) => {
          if (!item.complete || bytes.length === 0) return;
          if (!entry.file && headBytes + bytes.length <= threshold) {
            // Nothing goes to disk until the output is past what the result itself carries.
            head.push(bytes);
            headBytes += bytes.length;
            return;
          }
          if (!entry.file) {
            const file = createWriteStream(path, { mode: 0o600 });
            entry.file = file;
            entry.done = new Promise((resolve) => file.once('close', resolve).once('error', () => resolve()));
            const first = Buffer.concat([...head, bytes]);
            head = [];
            return spill(first);
          }
          spill(bytes);
        },
      };
    };
    return {
      writer,
      finish: async () => {
        const kept: RetainedRef[] = [];
        for (const { item, file, done } of open) {
          if (!file) continue;
          file.end();
          await done;
          item.createdAt = this.#now();
          this.#items.push(item);
          kept.push({
            uri: item.uri,
            stream: item.stream,
            bytes: item.bytes,
            complete: item.complete,
            createdAt: item.createdAt,
          });
        }
        return kept;
      },
    };
  }

  /** How many of `wanted` more bytes this tenant may keep: its oldest kept outputs go first to make room. */
  #room(tenant: string, wanted: number, budget: number): number {
    const used = () => this.#used.get(tenant) ?? 0;
    while (used() + wanted > budget) {
      const oldest = this.#items.find((i) => i.tenant === tenant);
      if (!oldest) break;
      this.#drop(oldest);
    }
    return Math.max(0, Math.min(wanted, budget - used()));
  }

  /** Forgets an item at once (its bytes count no more); the file goes in the background. */
  #drop(item: Item): void {
    const at = this.#items.indexOf(item);
    if (at < 0) return;
    this.#items.splice(at, 1);
    this.#release(item.tenant, item.bytes);
    const gone = rm(item.path, { force: true }).catch(() => undefined);
    this.#deleting.add(gone);
    void gone.finally(() => this.#deleting.delete(gone));
  }

  #release(tenant: string, bytes: number): void {
    this.#used.set(tenant, Math.max(0, (this.#used.get(tenant) ?? 0) - bytes));
  }

  async read(tenant: string, executionId: string, stream: RetainedStream): Promise<string | undefined> {
    await this.sweep();
    const item = this.#items.find(
      (i) => i.tenant === tenant && i.executionId === executionId && i.stream === stream,
    );
    if (!item) return undefined;
    const bytes = await readFile(item.path).catch(() => undefined);
    // A budget cut may end inside a character: the decoder holds back its first bytes.
    return bytes && new StringDecoder('utf8').write(bytes);
  }

  list(tenant: string): RetainedRef[] {
    return this.#items
      .filter((i) => i.tenant === tenant && this.#now() - i.createdAt < this.#ttlMs)
      .map(({ uri, stream, bytes, complete, createdAt }) => ({ uri, stream, bytes, complete, createdAt }));
  }

  async sweep(): Promise<void> {
    this.#items.filter((i) => this.#now() - i.createdAt >= this.#ttlMs).forEach((i) => this.#drop(i));
    await Promise.all([...this.#deleting]);
  }

  async close(): Promise<void> {
    this.#items.length = 0;
    this.#used.clear();
    await Promise.all([...this.#deleting]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

const OWNER_FILE = 'owner.json';

/**
 * This conductor's store, in its own directory under `baseDir` (0700), after removing the directories of
 * conductors that are gone (`isAlive` judges the owner labels written beside their files, as reap does for
 * containers). Never inside a workspace: the caller checks that.
 */
export async function openRetentionStore(
  baseDir: string,
  instanceId: string,
  owner: Record<string, string>,
  isAlive: (owner: Record<string, string>) => boolean | Promise<boolean>,
  options: Omit<RetentionOptions, 'dir'> = {},
): Promise<RetentionStore> {
  await mkdir(baseDir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(baseDir)) {
    if (!/^[0-9a-f-]{36}$/.test(name)) continue;
    const labels = await readFile(join(baseDir, name, OWNER_FILE), 'utf8')
      .then((t) => JSON.parse(t) as Record<string, string>)
      .catch(() => ({}));
    if (!(await isAlive(labels))) await rm(join(baseDir, name), { recursive: true, force: true });
  }
  const dir = join(baseDir, instanceId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
  return new Store(dir, { ...options, dir });
}
