import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { USER_CODE_FILENAME } from '../wrap/index.js';
import { FRAME_HEADER_BYTES } from './frames.js';
import {
  CALL_OPS,
  endMarker,
  MAX_PROGRESS_MESSAGE_CHARS,
  PROGRESS_MIN_INTERVAL_MS,
  PROTOCOL_VERSION,
  SOCKET_PATH_IN_CONTAINER,
  VALUE_PART_CHARS,
} from './protocol.js';

const runtimeProtocol = new URL('../../images/deno/runtime/protocol.ts', import.meta.url).href;

/** The runtime's constants, as Deno itself reads them from the file that goes into the image. */
function runtimeFacts(): Record<string, unknown> {
  const deno = createRequire(import.meta.url).resolve('deno/bin.cjs');
  const script = `import * as p from ${JSON.stringify(runtimeProtocol)};
console.log(JSON.stringify({ ...p, endMarker: p.endMarker('NONCE') }));`;
  const out = execFileSync(process.execPath, [deno, 'eval', '--no-config', '--no-lock', script], {
    env: { PATH: process.env.PATH, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1', HOME: process.env.HOME },
    encoding: 'utf8',
  });
  return JSON.parse(out) as Record<string, unknown>;
}

describe('wire protocol', () => {
  it('host and runtime agree on every shared constant', () => {
    expect(runtimeFacts()).toEqual({
      PROTOCOL_VERSION,
      DEFAULT_SOCKET_PATH: SOCKET_PATH_IN_CONTAINER,
      FRAME_HEADER_BYTES,
      CODE_FILE_NAME: USER_CODE_FILENAME,
      VALUE_PART_CHARS,
      CALL_OPS: [...CALL_OPS],
      MAX_PROGRESS_MESSAGE_CHARS,
      PROGRESS_MIN_INTERVAL_MS,
      endMarker: endMarker('NONCE'),
    });
  });
});
