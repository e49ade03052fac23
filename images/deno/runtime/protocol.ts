/**
 * The runtime's side of the wire protocol with the conductor (src/proxy/protocol.ts is the host's). The two are
 * written in two languages' worlds, so a unit test on the host (src/proxy/protocol.test.ts) imports this file with
 * Deno and holds every constant here against the host's.
 */
export const PROTOCOL_VERSION = 1;
export const DEFAULT_SOCKET_PATH = '/run/conductor/mcp.sock';
/** Every frame: this many bytes of unsigned big-endian length, then that many bytes of UTF-8 JSON. */
export const FRAME_HEADER_BYTES = 4;
/** What the user's module is called in stacks and messages. */
export const CODE_FILE_NAME = 'code.ts';
/** Characters of the rendered return value per `value_part` frame at most. */
export const VALUE_PART_CHARS = 64 * 1024;
/** The operations a `call` frame may ask for: exactly the mcpFactory API. */
export const CALL_OPS = [
  'list',
  'load',
  'listTools',
  'callTool',
  'listResources',
  'readResource',
  'listPrompts',
  'getPrompt',
] as const;
export type Op = (typeof CALL_OPS)[number];
/** The longest `message` a `progress` frame may carry; progress() cuts longer ones. */
export const MAX_PROGRESS_MESSAGE_CHARS = 200;
/** progress() sends at most one frame per this many milliseconds (the latest report wins). */
export const PROGRESS_MIN_INTERVAL_MS = 250;

/** Written to stdout and stderr after the code settled, so the host knows it has every byte of output before it. */
export function endMarker(nonce: string): string {
  return `\x1e${nonce}\x1e`;
}
