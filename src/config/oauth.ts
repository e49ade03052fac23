import { z } from 'zod';

/**
 * Signature algorithms a token may use: asymmetric only, so a key from a JWKS can never serve as an HMAC secret
 * (the HS256-with-the-public-key confusion) and `none` is never accepted.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Loopback hosts, where plain `http://` is acceptable (a test or a sidecar IdP on the same machine). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Why `text` cannot be an issuer or JWKS address, if it cannot: https, or http on loopback; no query or fragment. */
export function endpointUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'expected an https:// URL';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    return 'http:// is accepted only on loopback (localhost, 127.0.0.0/8, [::1]); use https://';
  if (url.search || url.hash) return 'expected no query or fragment';
  return undefined;
}

const EndpointUrl = z.string().superRefine((text, ctx) => {
  const problem = endpointUrlProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** RFC 6749 scope-token: printable ASCII without space, `"` or `\`. */
const ScopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is printable ASCII without spaces');

/** What may be said per issuer, or once for all of them at the top of the `oauth` section. */
const issuerFields = {
  /** the JWKS address; without it, OIDC discovery from `issuer` finds it */
  jwksUri: EndpointUrl.optional(),
  /** the `aud` the token must carry (one of these): this server's resource identifier, e.g. https://mcp.example.com/mcp */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** the claim whose value is the tenant id: sub, azp, client_id, or a custom one */
  tenantClaim: z.string().min(1).max(256).optional(),
  /** scopes every token must carry (from `scope` or `scp`) */
  requiredScopes: z.array(ScopeToken).optional(),
  /** narrows the accepted signature algorithms (all asymmetric ones by default) */
  algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).optional(),
};

const IssuerEntrySchema = z.object({ issuer: EndpointUrl, ...issuerFields }).strict();

/** One trusted authorization server, with every default applied. */
export interface IssuerConfig {
  issuer: string;
  jwksUri?: string;
  audience: string[];
  tenantClaim: string;
  requiredScopes: string[];
  algorithms: (typeof ASYMMETRIC_ALGORITHMS)[number][];
}

type IssuerEntry = z.infer<typeof IssuerEntrySchema>;
type Shared = Omit<IssuerEntry, 'issuer' | 'jwksUri'>;

function resolveIssuer(entry: IssuerEntry, shared: Shared): IssuerConfig {
  const audience = entry.audience ?? shared.audience ?? [];
  return {
    issuer: entry.issuer,
    ...(entry.jwksUri ? { jwksUri: entry.jwksUri } : {}),
    audience: typeof audience === 'string' ? [audience] : audience,
    tenantClaim: entry.tenantClaim ?? shared.tenantClaim ?? 'sub',
    requiredScopes: entry.requiredScopes ?? shared.requiredScopes ?? [],
    algorithms: entry.algorithms ?? shared.algorithms ?? [...ASYMMETRIC_ALGORITHMS],
  };
}

/**
 * The tenants file's `oauth` section: one authorization server (`issuer`, as in the design's example) or several
 * (`issuers`, each entry able to override the shared fields). Parsed into a list of complete issuer configs.
 */
export const OAuthSchema = z
  .object({
    issuer: EndpointUrl.optional(),
    ...issuerFields,
    issuers: z.array(IssuerEntrySchema).min(1).optional(),
    /** the public URL of /mcp for the metadata document; default: the audience when it is a URL, else the request's */
    resource: z.url({ protocol: /^https?$/ }).optional(),
    /** the tenant of a valid token whose claim names no tenant; without it such tokens are refused */
    defaultTenant: z.string().min(1).optional(),
    /** clock skew allowed on exp and nbf */
    clockSkewSeconds: z.number().int().min(0).max(300).default(30),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.issuer === undefined) === (o.issuers === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['issuer'],
        message: 'give either "issuer" or "issuers", not both',
      });
    if (o.issuers && o.jwksUri)
      ctx.addIssue({
        code: 'custom',
        path: ['jwksUri'],
        message: 'with "issuers", give each issuer its own jwksUri',
      });
    const entries = o.issuers ?? (o.issuer ? [{ issuer: o.issuer }] : []);
    const seen = new Set<string>();
    entries.forEach((e, i) => {
      const path = o.issuers ? ['issuers', i] : [];
      if (seen.has(e.issuer))
        ctx.addIssue({ code: 'custom', path: [...path, 'issuer'], message: `duplicate issuer ${e.issuer}` });
      seen.add(e.issuer);
      if (e.audience === undefined && o.audience === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'audience'],
          message: 'required: the audience (aud) tokens for this server carry, e.g. its /mcp URL',
        });
    });
  })
  .transform((o) => {
    const { issuer, jwksUri, issuers, resource, defaultTenant, clockSkewSeconds, ...shared } = o;
    const entries = issuers ?? [{ issuer: issuer!, ...(jwksUri ? { jwksUri } : {}) }];
    return {
      issuers: entries.map((e) => resolveIssuer(e, shared)),
      ...(resource ? { resource } : {}),
      ...(defaultTenant ? { defaultTenant } : {}),
      clockSkewSeconds,
    };
  });
export type OAuthConfig = z.output<typeof OAuthSchema>;

/**
 * The resource identifier the metadata document names: `resource`, else the first audience that is an http(s) URL
 * (RFC 8707: the audience is the resource), else undefined (derived from each request).
 */
export function configuredResource(oauth: OAuthConfig): string | undefined {
  if (oauth.resource) return oauth.resource;
  return oauth.issuers.flatMap((i) => i.audience).find((a) => /^https?:\/\/[^/]/.test(a));
}
