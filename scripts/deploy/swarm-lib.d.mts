export const stackFile: string;
export const DATA_VOLUME: string;
/** Rejects with an Error carrying the CLI's `exitCode` and `stdout` when the command fails. */
export function docker(
  args: string[],
  opts?: { env?: Record<string, string>; timeoutMs?: number },
): Promise<string>;
/** Resolves with the first truthy value `check` gives (polled every 500 ms). */
/** The lines a docker CLI command prints (ids, names), sorted. */
export function dockerList(args: string[]): Promise<string[]>;
export function waitFor<T>(
  what: string,
  check: () => Promise<T | false | undefined>,
  timeoutMs?: number,
): Promise<T>;
export function withSwarm<T>(fn: () => Promise<T>): Promise<T>;
export function portInUse(port: number): Promise<boolean>;
export function readyStatus(port?: number): Promise<number>;
export function conductorContainers(stack: string): Promise<string[]>;
export function deployStack(
  stack: string,
  tenants: unknown,
  opts?: {
    env?: Record<string, string>;
    /** more stack files, merged over swarm.yaml (docker stack deploy -c … -c …) */
    files?: string[];
    /** Docker secrets to create beside mcp_conductor_tenants (name → value), removed with the stack */
    secrets?: Record<string, string>;
  },
): Promise<() => Promise<void>>;
