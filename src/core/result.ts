import { z } from 'zod';

/** How one execution ended, as the model sees it. */
export const ExecutionStatusSchema = z.enum(['success', 'error', 'timeout']);
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

export const ExecutionResultSchema = z.object({
  status: ExecutionStatusSchema,
  returnValue: z.unknown().optional(),
  stdout: z.string(),
  stderr: z.string(),
  error: ErrorInfoSchema.optional(),
  durationMs: z.number(),
  truncated: z.object({ stdout: z.boolean(), stderr: z.boolean(), returnValue: z.boolean() }),
  resources: z.object({
    exitReason: ExitReasonSchema,
    exitCode: z.number().nullable(),
    /** the container's peak memory (its cgroup's high-water mark), when the engine's cgroup is readable */
    peakMemoryBytes: z.number().int().nonnegative().optional(),
    /** mcpFactory calls the code made */
    mcpCalls: z.number().int().nonnegative().optional(),
  }),
});
export type ExecutionResult = z.infer<typeof ExecutionResultSchema>;
