/**
 * Docker's multiplexed attach stream (no TTY): frames of an 8-byte header (stream type, 3 zero bytes, 4-byte BE
 * length) and a payload. Payloads are handed on as they arrive, never accumulated here: the caller caps them.
 */
export type StreamKind = 'stdout' | 'stderr';

export interface Demuxer {
  push(chunk: Buffer): void;
}

export function createDemuxer(onData: (kind: StreamKind, data: Buffer) => void): Demuxer {
  let header = Buffer.alloc(0);
  let remaining = 0;
  let kind: StreamKind = 'stdout';

  return {
    push(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        if (remaining === 0) {
          const need = 8 - header.length;
          header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
          offset += Math.min(need, chunk.length - offset);
          if (header.length < 8) return;
          kind = header[0] === 2 ? 'stderr' : 'stdout';
          remaining = header.readUInt32BE(4);
          header = Buffer.alloc(0);
          continue;
        }
        const take = Math.min(remaining, chunk.length - offset);
        onData(kind, chunk.subarray(offset, offset + take));
        offset += take;
        remaining -= take;
      }
    },
  };
}
