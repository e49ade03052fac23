import { z } from 'zod';
import { loadJsonConfig } from './json-config.js';
import { OAuthSchema } from './oauth.js';

/** Bounds of the quota knobs, shared by the tenants file and the single-tenant environment variables. */
export const QUOTA_BOUNDS = {
  executionsPerMinute: { min: 1, max: 100_000 },
  mcpCallsPerMinute: { min: 1, max: 1_000_000 },
  /** an ext4 image smaller than this leaves too little room beside the journal */
  workspaceQuotaMb: { min: 16, max: 1_048_576 },
} as const;

const quota = (name: keyof typeof QUOTA_BOUNDS) =>
  z.number().int().min(QUOTA_BOUNDS[name].min).max(QUOTA_BOUNDS[name].max).optional();

/** What one tenant may use per minute and on disk; an absent field is no limit. */
export const QuotasSchema = z.object({
  /** executions that may start in any minute; past it a call is refused before its code is looked at */
  executionsPerMinute: quota('executionsPerMinute'),
  /** mcpFactory calls (that reach an upstream server) in any minute, across the tenant's executions */
  mcpCallsPerMinute: quota('mcpCallsPerMinute'),
  /** size of the tenant's workspace filesystem: a hard limit, past it writes fail with ENOSPC */
  workspaceQuotaMb: quota('workspaceQuotaMb'),
});
export type Quotas = z.infer<typeof QuotasSchema>;

export const TenantSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'tenant ids are lower-case letters, digits, _ and - (at most 63)'),
    /** hex SHA-256 of a static bearer token (the token itself is never stored); without it, OAuth tokens only */
    tokenSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex characters (sha256 of the token)')
      .optional(),
    policy: z.string().min(1).default('default'),
    /** upstream MCP servers this tenant's code may use; `*` for all configured */
    servers: z.union([z.literal('*'), z.array(z.string().min(1))]).default([]),
    maxConcurrent: z.number().int().min(1).max(256).default(2),
    /** executions waiting for a slot before further calls are refused */
    maxQueued: z.number().int().min(0).max(10_000).default(8),
    /** open Streamable HTTP sessions at once, so one tenant cannot take every place on the server */
    maxSessions: z.number().int().min(1).max(10_000).default(64),
    ...QuotasSchema.shape,
  })
  .strict();
export type Tenant = z.infer<typeof TenantSchema>;

export const TenantsFileSchema = z
  .object({
    $schema: z.string().optional(),
    /** an identity provider whose access tokens name a tenant (see src/config/oauth.ts) */
    oauth: OAuthSchema.optional(),
    tenants: z.array(TenantSchema).min(1),
  })
  .strict()
  .superRefine((file, ctx) => {
    const ids = new Set<string>();
    const tokens = new Set<string>();
    file.tenants.forEach((t, i) => {
      if (ids.has(t.id))
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', i, 'id'],
          message: `duplicate tenant id "${t.id}"`,
        });
      if (t.tokenSha256 !== undefined && tokens.has(t.tokenSha256))
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', i, 'tokenSha256'],
          message: 'two tenants share a token',
        });
      if (t.tokenSha256 === undefined && !file.oauth)
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', i, 'tokenSha256'],
          message: `tenant "${t.id}" has no tokenSha256 and the file has no "oauth" section: nothing could reach it`,
        });
      ids.add(t.id);
      if (t.tokenSha256 !== undefined) tokens.add(t.tokenSha256);
    });
    const fallback = file.oauth?.defaultTenant;
    if (fallback !== undefined && !ids.has(fallback))
      ctx.addIssue({
        code: 'custom',
        path: ['oauth', 'defaultTenant'],
        message: `names no tenant of this file: "${fallback}"`,
      });
  });
export type TenantsFile = z.infer<typeof TenantsFileSchema>;

export async function loadTenantsFile(path: string): Promise<TenantsFile> {
  return loadJsonConfig(TenantsFileSchema, path, `tenants file ${path}`);
}
