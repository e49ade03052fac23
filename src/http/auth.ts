import { createHash, timingSafeEqual } from 'node:crypto';

export interface TokenEntry<T> {
  tokenSha256: string;
  value: T;
}

/**
 * Resolves a bearer token to its tenant by comparing SHA-256 digests in constant time, against every entry
 * (no early exit), so timing reveals neither which tenant matched nor how much of a hash did.
 */
export function createTokenResolver<T>(
  entries: TokenEntry<T>[],
): (authorization: string | undefined) => T | undefined {
  const digests = entries.map((e) => ({ digest: Buffer.from(e.tokenSha256, 'hex'), value: e.value }));
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const presented = createHash('sha256').update(m[1]!).digest();
    let found: T | undefined;
    for (const d of digests) {
      if (timingSafeEqual(presented, d.digest) && found === undefined) found = d.value;
    }
    return found;
  };
}
