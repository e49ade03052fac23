import { z } from 'zod';

/** How one execution ended, as the model sees it; `type_error`: the type check failed and the code did not run. */
export const ExecutionStatusSchema = z.enum(['success', 'error', 'timeout', 'type_error']);
export type ExecutionStatus = z.infer<typeof ExecutionStatusSchema>;

/**
 * Why the sandbox process ended, from host-side facts (the result frame, our deadline, the engine's state and the
 * container's cgroup), never guessed from what the code wrote. A limit (`out_of_memory`, `pids_exhausted`,
 * `disk_full`) is named only when the run failed and the host saw that limit reached.
 */
export const ExitReasonSchema = z.enum([
  'completed',
  'exception',
  'timeout',
  'out_of_memory',
  'pids_exhausted',
  'disk_full',
  'exited',
  'killed',
  'cancelled',
  'rejected',
]);
export type ExitReason = z.infer<typeof ExitReasonSchema>;

export const ErrorInfoSchema = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
});
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

/** One error of the type check, where it is in the caller's code. */
export const TypeErrorInfoSchema = z.object({
  line: z.number().int().positive(),
  column: z.number().int().positive(),
  /** `TS2345`, or Deno's own code for an import it cannot resolve (`not-installed-npm`, `no-cache`, …) */
  code: z.string(),
  message: z.string(),
});
export type TypeErrorInfo = z.infer<typeof TypeErrorInfoSchema>;

/** Output past the result's caps, kept for a while: `resources/read` of `uri` gives it whole. */
export const RetainedRefSchema = z.object({
  uri: z.string(),
  bytes: z.number().int().nonnegative(),
  /** false when the tenant's retention budget cut it short too */
  complete: z.boolean(),
});
export type RetainedRef = z.infer<typeof RetainedRefSchema>;

export const ExecutionResultSchema = z.object({
  status: ExecutionStatusSchema,
  // No JSON Schema type: any JSON value. Described, so no dialect sees an empty schema.
  returnValue: z
    .unknown()
    .optional()
    .describe(
      'what the code returned (its last expression), as JSON; values JSON cannot carry as {"$type": …}',
    ),
  stdout: z.string(),
  stderr: z.string(),
  error: ErrorInfoSchema.optional(),
  /** with status type_error: what the check found */
  typeErrors: z.array(TypeErrorInfoSchema).optional(),
  durationMs: z.number(),
  truncated: z.object({ stdout: z.boolean(), stderr: z.boolean(), returnValue: z.boolean() }),
  /** where the whole of each truncated output is (limits.maxRetainedBytes > 0) */
  retained: z
    .object({ stdout: RetainedRefSchema, stderr: RetainedRefSchema, returnValue: RetainedRefSchema })
    .partial()
    .optional(),
  resources: z.object({
    exitReason: ExitReasonSchema,
    /** absent unless the sandbox process exited before the code returned a result (a portable schema: no null) */
    exitCode: z.number().int().optional(),
    /** the container's peak memory (its cgroup's high-water mark), when the engine's cgroup is readable */
    peakMemoryBytes: z.number().int().nonnegative().optional(),
    /**
     * CPU time the sandbox used from the code's delivery to its result (user and system, all its processes), when
     * the engine's cgroup is readable
     */
    cpuMs: z.number().int().nonnegative().optional(),
    /** mcpFactory calls the code made */
    mcpCalls: z.number().int().nonnegative().optional(),
    /** how long the type check took, when one was asked for */
    checkMs: z.number().int().nonnegative().optional(),
  }),
});
export type ExecutionResult = z.infer<typeof ExecutionResultSchema>;
