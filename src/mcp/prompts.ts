import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { GetPromptResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ServerContext } from './context.js';
import { accessText, globalsText, importsText, mcpText } from './describe.js';
import { escapeControlChars } from './format.js';
import { playbookLine } from './playbook-tools.js';

/** What usage_guide can be asked about; each is a section written from the live configuration. */
const TOPICS = ['mcp', 'imports', 'permissions', 'playbooks', 'results'] as const;
type Topic = (typeof TOPICS)[number];

const RESULTS =
  'Results: a top-level `return x` (or the last expression statement) is what comes back; console.log output comes back separately and costs tokens, so filter and summarise inside the code and return only what is needed. A thrown error comes back as the result with its message and stack.';

async function playbooksText(ctx: ServerContext): Promise<string> {
  const list = await ctx.playbooks.list().catch(() => []);
  const lines = list.length ? list.map((p) => `- ${playbookLine(p)}`).join('\n') : '- none yet';
  const create = ctx.playbooks.canCreate
    ? 'create_playbook saves new ones.'
    : 'Saving new playbooks is not allowed for this caller.';
  return `${globalsText(ctx.profile)}\nPlaybooks available now (get_playbook shows one whole; ${create}):\n${lines}`;
}

/** Each section as it reads now: servers, packages, permissions, limits and playbooks are looked up afresh. */
async function section(ctx: ServerContext, topic: Topic): Promise<string> {
  switch (topic) {
    case 'mcp':
      return mcpText(ctx.directory).join('\n');
    case 'imports':
      return importsText(ctx);
    case 'permissions':
      return accessText(ctx).join('\n');
    case 'playbooks':
      return playbooksText(ctx);
    case 'results':
      return RESULTS;
  }
}

async function guide(ctx: ServerContext, topic: string | undefined): Promise<string> {
  const picked = TOPICS.find((t) => t === topic);
  const topics = picked ? [picked] : TOPICS;
  const parts = await Promise.all(topics.map((t) => section(ctx, t)));
  const head =
    topic && !picked
      ? `There is no topic "${topic.slice(0, 80)}"; the topics are ${TOPICS.join(', ')}. The whole guide:`
      : 'How to use this MCP Conductor: run_deno_code runs TypeScript in a fresh Deno sandbox and returns only its result.';
  return [head, ...parts].join('\n\n');
}

async function taskText(ctx: ServerContext, task: string, requirements: string | undefined): Promise<string> {
  const facts = await Promise.all(TOPICS.filter((t) => t !== 'results').map((t) => section(ctx, t)));
  return [
    'Accomplish this task by running TypeScript with the run_deno_code tool.',
    `Task:\n${task}`,
    ...(requirements ? [`Requirements:\n${requirements}`] : []),
    'Approach: (1) if the task needs other MCP servers, read their tools with get_tools first; (2) look for a playbook that already does part of it (below); (3) write one run_deno_code call that does the work inside the sandbox (calls in parallel with Promise.all, data filtered and summarised there) and returns only the final answer; (4) if it fails, read the error, fix the code and run it again.',
    'What this conductor offers right now:',
    ...facts,
    RESULTS,
  ].join('\n\n');
}

const userMessage = (text: string): GetPromptResult => ({
  messages: [{ role: 'user', content: { type: 'text', text: escapeControlChars(text) } }],
});

/** `execute_task` and `usage_guide` (the original project's prompts), never stale: built at each request. */
export function registerPrompts(server: McpServer, ctx: ServerContext): void {
  server.registerPrompt(
    'execute_task',
    {
      title: 'Execute a task with run_deno_code',
      description:
        'A task for run_deno_code, with what this conductor offers now: servers, packages, permissions, limits, playbooks',
      argsSchema: {
        task: z.string().describe('what to do'),
        requirements: z.string().optional().describe('constraints the result must meet'),
      },
    },
    async ({ task, requirements }) => userMessage(await taskText(ctx, task, requirements)),
  );
  server.registerPrompt(
    'usage_guide',
    {
      title: 'How to use this conductor',
      description: `How to write code for run_deno_code here, from the live configuration; topic: ${TOPICS.join(', ')} (default: all)`,
      argsSchema: {
        topic: z
          .string()
          .optional()
          .describe(`one of ${TOPICS.join(', ')}`),
      },
    },
    async ({ topic }) => userMessage(await guide(ctx, topic)),
  );
}
