/**
 * The wire protocol on the per-execution Unix socket (/run/conductor/mcp.sock inside the container).
 *
 * Framing: every message is a 4-byte unsigned big-endian length followed by that many bytes of UTF-8 JSON.
 * The container side is untrusted: the host bounds each frame before buffering it, validates every message with
 * these schemas, and closes the connection on the first violation.
 *
 * The runtime's copy of these facts is images/deno/runtime/protocol.ts; protocol.test.ts holds the two together.
 *
 * Sequence on the one connection the in-container bootstrap opens before any user code runs:
 *   container → host  {t:'hello', v:1}                         the runtime is loaded and waiting for code
 *   host → container  {t:'run', code, nonce, maxReturnBytes, retainBytes}   the wrapped module to run
 *   container → host  {t:'call', id, op, ...}                  zero or more mcpFactory calls, concurrently
 *   host → container  {t:'reply', id, ok, result | error}      one reply per call, in any order
 *   container → host  {t:'value_part', text}                   the whole rendered return value, in pieces, when
 *                                                              it is past maxReturnBytes and retainBytes > 0
 *   container → host  {t:'progress', progress, total?, message?}  zero or more reports from the code's progress()
 *   container → host  {t:'playbook', id, name}                 importPlaybook(name): asks for a playbook's code
 *   host → container  {t:'reply', id, ok, result: {code} | error}  its playbook.ts, from the tenant's store
 *   container → host  {t:'result', ...}                        once, after the user's code settled
 * Before sending `result`, the runtime writes the marker `\x1e<nonce>\x1e` to stdout and then to stderr, so the host
 * knows it has received every byte of output the code produced up to that point. Only the first connection to a
 * socket is served; any further connection (from user code) is closed at once.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
/** Where the per-execution socket directory is mounted inside the container. */
export const SOCKET_DIR_IN_CONTAINER = '/run/conductor';
export const SOCKET_NAME = 'mcp.sock';
export const SOCKET_PATH_IN_CONTAINER = `${SOCKET_DIR_IN_CONTAINER}/${SOCKET_NAME}`;
/** Characters of the rendered return value per `value_part` frame at most. */
export const VALUE_PART_CHARS = 64 * 1024;

/** Written by the runtime to stdout and stderr after the code settled: every byte before it has been received. */
export function endMarker(nonce: string): string {
  return `\x1e${nonce}\x1e`;
}

const Name = z.string().min(1).max(200);
const JsonObject = z.record(z.string(), z.unknown());

export const HelloMessageSchema = z
  .object({ t: z.literal('hello'), v: z.literal(PROTOCOL_VERSION) })
  .strict();

export const ResultMessageSchema = z.discriminatedUnion('ok', [
  z
    .object({
      t: z.literal('result'),
      ok: z.literal(true),
      /** JSON text of the rendered return value; absent when the code returned undefined. */
      value: z.string().optional(),
      /** true when `value` was cut to maxReturnBytes (it is then a prefix, not valid JSON). */
      valueTruncated: z.boolean(),
    })
    .strict(),
  z
    .object({
      t: z.literal('result'),
      ok: z.literal(false),
      // Above what the runtime sends (a name cut to 200 characters, a message to 16 Ki, a stack to 32 Ki), so only
      // a forged frame meets these bounds.
      error: z
        .object({
          name: z.string().max(256),
          message: z.string().max(32 * 1024),
          stack: z
            .string()
            .max(64 * 1024)
            .optional(),
        })
        .strict(),
    })
    .strict(),
]);

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
export const CallOpSchema = z.enum(CALL_OPS);
export type CallOp = z.infer<typeof CallOpSchema>;

export const CallMessageSchema = z
  .object({
    t: z.literal('call'),
    id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    op: CallOpSchema,
    server: Name.optional(),
    /** tool name for callTool, prompt name for getPrompt */
    name: Name.optional(),
    uri: z.string().max(4096).optional(),
    args: JsonObject.optional(),
  })
  .strict();
export type CallMessage = z.infer<typeof CallMessageSchema>;

/** A piece of the whole rendered return value, for retention (the result carries only its first maxReturnBytes). */
export const ValuePartMessageSchema = z
  .object({ t: z.literal('value_part'), text: z.string().max(VALUE_PART_CHARS) })
  .strict();

/** The longest `message` a `progress` frame may carry; the runtime's progress() cuts longer ones. */
export const MAX_PROGRESS_MESSAGE_CHARS = 200;
/** The runtime sends at most one `progress` frame per this many milliseconds (the latest report wins). */
export const PROGRESS_MIN_INTERVAL_MS = 250;

/** A report from the code's progress(value, total?, message?): bounded here, rate-capped by the session. */
export const ProgressMessageSchema = z
  .object({
    t: z.literal('progress'),
    /** finite (zod refuses NaN and Infinity) */
    progress: z.number(),
    total: z.number().positive().optional(),
    message: z.string().max(MAX_PROGRESS_MESSAGE_CHARS).optional(),
  })
  .strict();
export type ProgressMessage = z.infer<typeof ProgressMessageSchema>;

/**
 * The longest name a `playbook` frame may carry: past it the frame is malformed. The store's own rule (64
 * characters of a-z, 0-9 and "-") is checked when it is served, and a name that breaks it gets an error reply.
 */
export const MAX_PLAYBOOK_NAME_CHARS = 200;

/** importPlaybook(name): the code of one of the tenant's playbooks, answered by a `reply` with the same id. */
export const PlaybookMessageSchema = z
  .object({
    t: z.literal('playbook'),
    id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    name: z.string().max(MAX_PLAYBOOK_NAME_CHARS),
  })
  .strict();
export type PlaybookMessage = z.infer<typeof PlaybookMessageSchema>;

export const ContainerMessageSchema = z.union([
  PlaybookMessageSchema,
  HelloMessageSchema,
  ResultMessageSchema,
  CallMessageSchema,
  ValuePartMessageSchema,
  ProgressMessageSchema,
]);
export type ContainerMessage = z.infer<typeof ContainerMessageSchema>;
export type ResultMessage = z.infer<typeof ResultMessageSchema>;

/** What the runtime installs as the globals WORKSPACE_DIR and PERMISSIONS (absent: none, and no permissions). */
export type RunGlobals = {
  /** where the workspace is mounted in the container; null when none is */
  workspaceDir: string | null;
  /** the Deno permissions in force for the code */
  permissions: Record<string, boolean | string[]>;
};

export type RunMessage = {
  t: 'run';
  code: string;
  nonce: string;
  maxReturnBytes: number;
  retainBytes: number;
  globals?: RunGlobals;
};
export type ReplyMessage =
  | { t: 'reply'; id: number; ok: true; result: unknown }
  | { t: 'reply'; id: number; ok: false; error: { message: string; code: string } };
export type HostMessage = RunMessage | ReplyMessage;
