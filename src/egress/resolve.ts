import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { classifyAddress } from './addresses.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a name resolves to (the system resolver, as the conductor's other connections use it). */
export type ResolveAll = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolveAll: ResolveAll = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/** Why a target was not connected to: `denied` by policy, or `unreachable` (the name did not resolve). */
export class AddressRefusal extends Error {
  constructor(
    readonly reason: 'denied' | 'unreachable',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The address to connect to, chosen and checked here once: the connection then goes to exactly this address (see
 * pinnedLookup), so a name that resolves differently a moment later (DNS rebinding) cannot slip past the check.
 * Non-public addresses are taken only when `allowNonPublic` (the policy lists this exact host:port).
 */
export async function pickAddress(
  host: string,
  authority: string,
  allowNonPublic: boolean,
  resolveAll: ResolveAll,
): Promise<ResolvedAddress> {
  const family = isIP(host);
  let candidates: ResolvedAddress[];
  if (family !== 0) candidates = [{ address: host, family: family === 6 ? 6 : 4 }];
  else {
    try {
      candidates = await resolveAll(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'failed';
      throw new AddressRefusal('unreachable', `the name ${host} could not be resolved (${code})`);
    }
  }
  let refused: string | undefined;
  for (const candidate of candidates) {
    const kind = classifyAddress(candidate.address);
    if (kind === 'public' || allowNonPublic) return candidate;
    refused ??= kind;
  }
  throw new AddressRefusal(
    refused ? 'denied' : 'unreachable',
    refused
      ? `${authority} resolves to a ${refused} address, which the policy allows only when egress.allow lists exactly "${authority}"`
      : `the name ${host} resolved to no address`,
  );
}

/** A lookup for http(s).request that answers with the address already checked, whatever it is asked. */
export function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
}
