import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** What kind of address a target resolved to; only `public` is reachable without an exact `host:port` entry. */
export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared (CGNAT)'
  | 'multicast'
  | 'cloud metadata'
  | 'unspecified'
  | 'reserved';

type Range = [network: string, prefix: number, kind: Exclude<AddressKind, 'public'>];

// Checked first: metadata endpoints that sit inside (or outside) the wider ranges below, named for the message.
const METADATA: [string, 'ipv4' | 'ipv6'][] = [
  ['169.254.169.254', 'ipv4'], // AWS, GCP, Azure, OpenStack, ...
  ['169.254.170.2', 'ipv4'], // AWS ECS task metadata
  ['168.63.129.16', 'ipv4'], // Azure wire server (a public address)
  ['100.100.100.200', 'ipv4'], // Alibaba Cloud
  ['192.0.0.192', 'ipv4'], // Oracle Cloud
  ['fd00:ec2::254', 'ipv6'], // AWS over IPv6
];

const V4: Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const V6: Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'reserved'], // IPv4-compatible, deprecated
  ['64:ff9b:1::', 48, 'private'], // local-use NAT64
  ['100::', 64, 'reserved'], // discard
  ['2001::', 23, 'reserved'], // IETF protocol assignments, Teredo (2001::/32) among them
  ['2001:db8::', 32, 'reserved'],
  ['fc00::', 7, 'private'], // unique local
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'], // site-local, deprecated
  ['ff00::', 8, 'multicast'],
];

function listOf(ranges: Range[], type: 'ipv4' | 'ipv6'): [BlockList, Exclude<AddressKind, 'public'>][] {
  return ranges.map(([net, prefix, kind]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    return [list, kind];
  });
}

const metadata = new BlockList();
for (const [address, type] of METADATA) metadata.addAddress(address, type);
const v4 = listOf(V4, 'ipv4');
const v6 = listOf(V6, 'ipv6');

/** The IPv4 address an IPv6 one carries, for the forms that reach an IPv4 host: mapped, NAT64 and 6to4. */
function embeddedIPv4(address: string): string | undefined {
  const words = expandIPv6(address);
  if (!words) return undefined;
  const v4From = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  if (zero(0, 5) && words[5] === 0xffff) return v4From(words[6]!, words[7]!); // ::ffff:a.b.c.d
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4From(words[6]!, words[7]!); // 64:ff9b::/96
  if (words[0] === 0x2002) return v4From(words[1]!, words[2]!); // 6to4
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (dotted IPv4 tail allowed), or undefined when it is not one. */
function expandIPv6(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const hi = parse(head);
  const lo = tail === undefined ? [] : parse(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - hi.length - lo.length).fill(0);
  return [...hi, ...fill, ...lo];
}

/** Classifies a literal IP address. Anything that is not a valid address is `reserved` (never reachable). */
export function classifyAddress(address: string): AddressKind {
  if (isIPv4(address)) {
    if (metadata.check(address, 'ipv4')) return 'cloud metadata';
    return v4.find(([list]) => list.check(address, 'ipv4'))?.[1] ?? 'public';
  }
  if (isIPv6(address)) {
    const inner = embeddedIPv4(address);
    if (inner !== undefined) return classifyAddress(inner);
    if (metadata.check(address, 'ipv6')) return 'cloud metadata';
    return v6.find(([list]) => list.check(address, 'ipv6'))?.[1] ?? 'public';
  }
  return 'reserved';
}
