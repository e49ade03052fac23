/**
 * Types of `progress`, the global the MCP Conductor sandbox installs before user code runs (beside `mcpFactory`,
 * see mcp-factory.d.ts). Reference this file so editors and `deno check` know it.
 */

/**
 * Reports the code's own progress to the client, when the client asked for progress: `value` (a finite number, in
 * the code's own units), an optional `total` (a positive number) and an optional `message` (cut to 200 characters).
 * Reports are sent at most four times a second, the latest winning, so calling it in a tight loop costs nothing.
 * Throws a TypeError for a value that is not a finite number, a total that is not positive, or a message that is
 * not a string.
 */
export type ProgressFunction = (value: number, total?: number, message?: string) => void;

declare global {
  /** Reports the code's progress to the client (see ProgressFunction). Read-only. */
  var progress: ProgressFunction;
}
