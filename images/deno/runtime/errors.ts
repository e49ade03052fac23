/**
 * What the user sees of a failure: their module appears as `code.ts` (not as the huge data: URL it was imported
 * from), and stack frames of this runtime and of Deno's internals are dropped.
 */
import { describeThrown, isErrorLike, P, replaceAllText } from './primordials.ts';
import { CODE_FILE_NAME } from './protocol.ts';
import { renderValue } from './render.ts';

const MAX_MESSAGE_CHARS = 16 * 1024;
const MAX_STACK_CHARS = 32 * 1024;
const MAX_INNER_ERRORS = 10;
const MAX_CAUSES = 3;

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

function cap(s: string, max: number): string {
  return s.length <= max ? s : `${P.StringPrototypeSlice(s, 0, max)}… [${s.length - max} more characters]`;
}

function read(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * Deno prints a long data: URL in stacks abbreviated as `<scheme+first 20 base64 chars>......<last 20>`; the full URL
 * appears in module-loading errors. Both (and any other abbreviation of the same URL) become `code.ts`.
 */
export interface Cleaner {
  /** Renames the code's URL and drops the runtime's stack frames. */
  stack(text: string): string;
  /** Only renames the code's URL (for messages). */
  text(text: string): string;
}

export function createCleaner(codeUrl: string, runtimeDirUrl: string): Cleaner {
  const comma = P.StringPrototypeIndexOf(codeUrl, ',');
  const head = P.StringPrototypeSlice(codeUrl, 0, comma + 1);
  const data = P.StringPrototypeSlice(codeUrl, comma + 1);
  const abbreviated = `${head}${P.StringPrototypeSlice(data, 0, 20)}......${P.StringPrototypeSlice(data, -20)}`;
  const prefix = `${head}${P.StringPrototypeSlice(data, 0, 20)}`;
  const isUrlChar = (c: number) =>
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2b ||
    c === 0x2f ||
    c === 0x3d ||
    c === 0x2e;

  const renameCode = (text: string): string => {
    let out = replaceAllText(replaceAllText(text, codeUrl, CODE_FILE_NAME), abbreviated, CODE_FILE_NAME);
    for (
      let at = P.StringPrototypeIndexOf(out, prefix);
      at >= 0;
      at = P.StringPrototypeIndexOf(out, prefix, at)
    ) {
      let end = at + prefix.length;
      while (end < out.length && isUrlChar(P.StringPrototypeCharCodeAt(out, end))) end++;
      // A trailing '.' belongs to the sentence, not the URL.
      while (P.StringPrototypeCharCodeAt(out, end - 1) === 0x2e && end > at + prefix.length) end--;
      out = P.StringPrototypeSlice(out, 0, at) + CODE_FILE_NAME + P.StringPrototypeSlice(out, end);
    }
    return out;
  };

  const isRuntimeFrame = (line: string): boolean => {
    let i = 0;
    while (
      i < line.length &&
      (P.StringPrototypeCharCodeAt(line, i) === 0x20 || P.StringPrototypeCharCodeAt(line, i) === 0x09)
    )
      i++;
    if (P.StringPrototypeIndexOf(line, 'at ', i) !== i) return false;
    return (
      P.StringPrototypeIndexOf(line, runtimeDirUrl) >= 0 ||
      P.StringPrototypeIndexOf(line, '/opt/conductor/') >= 0 ||
      P.StringPrototypeIndexOf(line, 'bootstrap.ts') >= 0 ||
      P.StringPrototypeIndexOf(line, 'ext:') >= 0
    );
  };

  const stack = (text: string): string => {
    const renamed = renameCode(text);
    const kept: string[] = [];
    let from = 0;
    while (from <= renamed.length) {
      let nl = P.StringPrototypeIndexOf(renamed, '\n', from);
      if (nl < 0) nl = renamed.length;
      const line = P.StringPrototypeSlice(renamed, from, nl);
      if (!isRuntimeFrame(line)) P.ArrayPrototypePush(kept, line);
      from = nl + 1;
    }
    return P.ArrayPrototypeJoin(kept, '\n');
  };
  return { stack, text: renameCode };
}

function stackOf(e: object, clean: Cleaner): string | undefined {
  const stack = read(e, 'stack');
  return typeof stack === 'string' ? clean.stack(stack) : undefined;
}

/** The {name, message, stack} of anything the user's code threw or rejected with. */
export function toErrorInfo(thrown: unknown, clean: Cleaner): ErrorInfo {
  if (!isErrorLike(thrown)) {
    let message: string;
    if (typeof thrown === 'string') message = thrown;
    else if (typeof thrown === 'object' && thrown !== null)
      message = renderValue(thrown, 4096, { cleanStack: clean.stack }).json ?? '';
    else message = describeThrown(thrown);
    return { name: 'Error', message: cap(clean.text(message), MAX_MESSAGE_CHARS) };
  }
  const rawName = read(thrown, 'name');
  const name =
    typeof rawName === 'string' && rawName !== '' ? P.StringPrototypeSlice(rawName, 0, 200) : 'Error';
  const rawMessage = read(thrown, 'message');
  let message = rawMessage === undefined ? '' : describeThrown(rawMessage);
  const inner = read(thrown, 'errors');
  if (P.ArrayIsArray(inner) && inner.length > 0) {
    const parts: string[] = [];
    for (let i = 0; i < inner.length && i < MAX_INNER_ERRORS; i++)
      P.ArrayPrototypePush(parts, describeThrown(inner[i]));
    if (inner.length > MAX_INNER_ERRORS)
      P.ArrayPrototypePush(parts, `… and ${inner.length - MAX_INNER_ERRORS} more`);
    message += ` [${P.ArrayPrototypeJoin(parts, '; ')}]`;
  }
  let stack = stackOf(thrown, clean);
  let cause = read(thrown, 'cause');
  for (let depth = 0; stack !== undefined && cause !== undefined && depth < MAX_CAUSES; depth++) {
    const causeStack = isErrorLike(cause) ? stackOf(cause, clean) : undefined;
    stack += `\nCaused by: ${causeStack ?? describeThrown(cause)}`;
    cause = isErrorLike(cause) ? read(cause, 'cause') : undefined;
  }
  const info: ErrorInfo = { name, message: cap(clean.text(message), MAX_MESSAGE_CHARS) };
  if (stack !== undefined) info.stack = cap(stack, MAX_STACK_CHARS);
  return info;
}

const NAMED_MESSAGE = /^([A-Z][A-Za-z]*Error): /;
const namedMessageExec = P.uncurry(RegExp.prototype.exec);

/**
 * Deno reports a module that fails to load (syntax error, missing import) as a TypeError whose message starts with
 * the real error's name and already says where (`at code.ts:2:14`); its stack adds nothing.
 */
export function toLoadErrorInfo(thrown: unknown, clean: Cleaner): ErrorInfo {
  const info = toErrorInfo(thrown, clean);
  const named = namedMessageExec(NAMED_MESSAGE, info.message);
  if (named === null) return { name: info.name, message: info.message };
  const name = named[1] as string;
  return { name, message: P.StringPrototypeSlice(info.message, name.length + 2) };
}
