import { z } from 'zod';

/**
 * One Deno permission: absent/false = not granted, true = granted without a scope, a list = granted for exactly
 * those paths / hosts / commands / variables.
 */
export const PermissionGrantSchema = z.union([z.boolean(), z.array(z.string().min(1)).min(1)]);
export type PermissionGrant = z.infer<typeof PermissionGrantSchema>;

export const PERMISSION_NAMES = ['read', 'write', 'net', 'env', 'run', 'sys', 'import'] as const;
export type PermissionName = (typeof PERMISSION_NAMES)[number];

export const DenoPermissionsSchema = z
  .object({
    read: PermissionGrantSchema.optional(),
    write: PermissionGrantSchema.optional(),
    net: PermissionGrantSchema.optional(),
    env: PermissionGrantSchema.optional(),
    run: PermissionGrantSchema.optional(),
    sys: PermissionGrantSchema.optional(),
    import: PermissionGrantSchema.optional(),
  })
  .strict();
export type DenoPermissions = z.infer<typeof DenoPermissionsSchema>;
