import { z } from 'zod';
import { EgressPolicySchema } from './egress-policy.js';
import { DenoPermissionsSchema } from './permissions.js';

const Mb = (max: number) => z.number().int().positive().max(max);

/** What one sandboxed execution may do. Every field has a safe default, so `{}` is the default policy. */
export const PolicySchema = z
  .object({
    $schema: z.string().optional(),
    description: z.string().optional(),
    deno: z
      .object({
        /** Granted to the code. MCP_CONDUCTOR_RUN_ARGS, when set, replaces this list (see README "Policies"). */
        permissions: DenoPermissionsSchema.default({}).describe(
          'Deno permissions granted to the code (read, write, net, env, run, sys, import: true or a list); MCP_CONDUCTOR_RUN_ARGS, when set, replaces them',
        ),
        /** Lifts --no-remote: the code may import http(s)/jsr modules (network permitting). */
        allowRemoteImports: z
          .boolean()
          .default(false)
          .describe('lift --no-remote: http(s)/jsr imports (network permitting)'),
        /** Lifts --cached-only: modules not pre-cached in the image may be downloaded at run time. */
        allowUncachedImports: z
          .boolean()
          .default(false)
          .describe('lift --cached-only: download modules not pre-cached in the image'),
        /** Type-check every call's code before it runs, unless the call says `check: false`. */
        check: z
          .boolean()
          .default(false)
          .describe('type-check the code before it runs unless the call passes check: false'),
      })
      .strict()
      .default({ permissions: {}, allowRemoteImports: false, allowUncachedImports: false, check: false }),
    container: z
      .object({
        runtime: z
          .enum(['runc', 'runsc'])
          .default('runc')
          .describe('container runtime; runsc is gVisor, a user-space kernel'),
        /** `none`, or the name of a Docker network the conductor creates for this policy's egress. */
        network: z
          .union([z.literal('none'), z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/)])
          .default('none')
          .describe('`none`, or a Docker network the conductor creates for egress'),
        memoryMb: Mb(65536)
          .min(64)
          .default(512)
          .describe('memory limit (swap equals memory); the V8 heap gets 75%'),
        cpus: z.number().positive().max(64).default(1).describe('CPU limit'),
        pidsLimit: z.number().int().min(8).max(32768).default(128).describe('process and thread limit'),
        tmpfsMb: Mb(65536).default(64).describe('size of the /tmp tmpfs (noexec, owned by the sandbox user)'),
        maxOpenFiles: z
          .number()
          .int()
          .min(64)
          .max(1_048_576)
          .default(1024)
          .describe('open files and sockets per process (the nofile ulimit, soft and hard)'),
      })
      .strict()
      // Under gVisor the sandbox kernel's own threads count against the pids cgroup: below ~96 it cannot start.
      .refine((c) => c.runtime !== 'runsc' || c.pidsLimit >= 96, {
        message: 'pidsLimit must be at least 96 with runsc (gVisor threads count against it)',
        path: ['pidsLimit'],
      })
      .default({
        runtime: 'runc',
        network: 'none',
        memoryMb: 512,
        cpus: 1,
        pidsLimit: 128,
        tmpfsMb: 64,
        maxOpenFiles: 1024,
      }),
    workspace: z
      .object({ mode: z.enum(['rw', 'ro', 'none']).default('rw').describe('how /workspace is mounted') })
      .strict()
      .default({ mode: 'rw' }),
    limits: z
      .object({
        defaultTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(3_600_000)
          .default(30_000)
          .describe('timeout when the call gives none'),
        maxTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(3_600_000)
          .default(120_000)
          .describe('largest timeout a call may ask for'),
        maxCodeBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(1024 * 1024)
          .describe('largest code accepted'),
        maxOutputBytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(64 * 1024)
          .describe('stdout and stderr kept, each'),
        maxReturnBytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(256 * 1024)
          .describe('rendered return value kept'),
        maxMcpCalls: z
          .number()
          .int()
          .min(0)
          .max(100_000)
          .default(200)
          .describe('mcpFactory calls per execution'),
        maxConcurrentMcpCalls: z
          .number()
          .int()
          .min(1)
          .max(256)
          .default(16)
          .describe('mcpFactory calls in flight at once; more wait'),
        mcpCallTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(3_600_000)
          .default(60_000)
          .describe('timeout of one mcpFactory call'),
        maxRetainedBytes: z
          .number()
          .int()
          .min(0)
          .max(1024 * 1024 * 1024)
          .default(16 * 1024 * 1024)
          .describe(
            'output past the caps kept per tenant for an hour (resources/read gives it whole); 0 keeps none',
          ),
        maxMcpReplyBytes: z
          .number()
          .int()
          .min(1024)
          .max(32 * 1024 * 1024)
          .default(8 * 1024 * 1024)
          .describe('largest message from an upstream MCP server; a larger reply fails its call'),
        maxStreamedLines: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(1000)
          .describe(
            'stdout/stderr lines sent as logging notifications while the code runs, per execution (then one notice)',
          ),
        taskTtlMs: z
          .number()
          .int()
          .min(1000)
          .max(86_400_000)
          .default(600_000)
          .describe(
            'how long a task-augmented call and its result are kept (a shorter ttl asked for is honoured)',
          ),
      })
      .strict()
      .refine((l) => l.defaultTimeoutMs <= l.maxTimeoutMs, {
        message: 'defaultTimeoutMs must not exceed maxTimeoutMs',
      })
      .default({
        defaultTimeoutMs: 30_000,
        maxTimeoutMs: 120_000,
        maxCodeBytes: 1024 * 1024,
        maxOutputBytes: 64 * 1024,
        maxReturnBytes: 256 * 1024,
        maxMcpCalls: 200,
        maxConcurrentMcpCalls: 16,
        mcpCallTimeoutMs: 60_000,
        maxRetainedBytes: 16 * 1024 * 1024,
        maxMcpReplyBytes: 8 * 1024 * 1024,
        maxStreamedLines: 1000,
        taskTtlMs: 600_000,
      }),
    mcp: z
      .object({
        /** Upstream servers the code may load: `*` for every configured server. */
        servers: z
          .union([z.literal('*'), z.array(z.string().min(1))])
          .default('*')
          .describe('upstream servers the code may load; `*` for all'),
        /**
         * Per server, what the code may use of it. A server named in any of these three is restricted: it serves
         * exactly what they list (`*`: all of that kind; a kind not listed for it: none). A server named in none
         * of them serves everything.
         */
        tools: z
          .record(z.string(), z.array(z.string().min(1)))
          .default({})
          .describe(
            'per server, the tools allowed (`*`: all); see "Restricting a server" for how the three combine',
          ),
        resources: z
          .record(z.string(), z.array(z.string().min(1)))
          .default({})
          .describe(
            'per server, the resource URIs allowed (`*`: all); none on a server restricted otherwise',
          ),
        prompts: z
          .record(z.string(), z.array(z.string().min(1)))
          .default({})
          .describe('per server, the prompts allowed (`*`: all); none on a server restricted otherwise'),
      })
      .strict()
      .default({ servers: '*', tools: {}, resources: {}, prompts: {} }),
    /** The tenant's playbook store: shipped and saved playbooks are always readable; saving new ones may be off. */
    playbooks: z
      .object({
        create: z
          .boolean()
          .default(true)
          .describe(
            "create_playbook may save playbooks to the tenant's store (false: list, get and import only)",
          ),
      })
      .strict()
      .default({ create: true }),
    /** Approved HTTP(S) APIs through the conductor's gateway, and the secrets it puts into their requests. */
    egress: EgressPolicySchema.optional(),
  })
  .strict()
  // With a network, Deno's allow-net (not the gateway) would decide what code reaches: the two do not mix.
  .refine((p) => p.egress === undefined || p.container.network === 'none', {
    message: 'egress needs container.network "none": the gateway is then the only way out of the container',
    path: ['egress'],
  });

export type Policy = z.infer<typeof PolicySchema>;
