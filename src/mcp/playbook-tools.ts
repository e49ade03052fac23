import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Playbook, PlaybookSummary } from '../playbooks/index.js';
import type { ServerContext } from './context.js';
import { errorText } from './errors.js';
import { escapeControlChars } from './format.js';

/** A tag as front matter holds it in a `[a, b]` list: no commas, brackets or line breaks. */
const Tag = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^,[\]\r\n]+$/, 'a tag has no commas, brackets or line breaks');
const Line = (max: number, what: string) => z.string().max(max).describe(what);

/** One line of list_playbooks. */
export function playbookLine(p: PlaybookSummary): string {
  const facts = [p.shipped ? 'shipped' : 'saved', p.hasCode ? 'importPlaybook' : 'notes only'];
  const tags = p.tags.length ? ` [${p.tags.join(', ')}]` : '';
  const title = p.name && p.name !== p.folderName ? ` (${p.name})` : '';
  return `${p.folderName}${title} — ${p.description ?? 'no description'}${tags} (${facts.join(', ')})`;
}

function playbookText(p: Playbook): string {
  const how = p.hasCode
    ? `In run_deno_code: \`const m = await importPlaybook(${JSON.stringify(p.folderName)});\` gives the module of its playbook.ts.`
    : 'It has no playbook.ts: its notes are the whole playbook.';
  const parts = [`# Playbook ${p.folderName} (${p.shipped ? 'shipped with the conductor' : 'saved'})`, how];
  parts.push(`--- ${p.file} ---\n${p.markdown}`);
  if (p.code !== undefined) parts.push(`--- playbook.ts ---\n${p.code}`);
  return parts.join('\n\n');
}

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: escapeControlChars(t) }] });

/**
 * `list_playbooks`, `get_playbook` and `create_playbook` (the original project's names and inputs): saved, reusable
 * code plus notes, the tenant's own beside those shipped with the conductor.
 */
export function registerPlaybookTools(server: McpServer, ctx: ServerContext): void {
  // Read at each call, not once: a reload may have given the session another store or policy (liveServerContext).
  const failed = (error: unknown): CallToolResult => ({
    ...text(errorText(error, ctx.logger)),
    isError: true,
  });
  server.registerTool(
    'list_playbooks',
    {
      title: 'List playbooks',
      description:
        'Playbooks: reusable code and notes for run_deno_code (shipped with the conductor, or saved with create_playbook), one per line: folder name, title, description, tags. Read one with get_playbook; import its code in run_deno_code with `await importPlaybook("<folder name>")`.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    async () => {
      try {
        const list = await ctx.playbooks.list();
        return text(list.length ? list.map(playbookLine).join('\n') : 'No playbooks yet.');
      } catch (error) {
        return failed(error);
      }
    },
  );
  server.registerTool(
    'get_playbook',
    {
      title: 'Get a playbook',
      description:
        'One playbook whole: its notes (playbook.md or SKILL.md, front matter and all) and its code (playbook.ts), with how to import it.',
      inputSchema: { folder_name: z.string().max(200).describe('the folder name list_playbooks shows') },
      annotations: { readOnlyHint: true },
    },
    async ({ folder_name }) => {
      try {
        return text(playbookText(await ctx.playbooks.get(folder_name)));
      } catch (error) {
        return failed(error);
      }
    },
  );
  registerCreatePlaybook(server, ctx, failed);
}

function registerCreatePlaybook(
  server: McpServer,
  ctx: ServerContext,
  failed: (error: unknown) => CallToolResult,
): void {
  // The description is written once per session; each call asks the store in force.
  const { limits, canCreate } = ctx.playbooks;
  const { maxContentBytes, maxCodeBytes } = limits;
  server.registerTool(
    'create_playbook',
    {
      title: 'Save a playbook',
      description: `Saves reusable code and notes as a playbook of this caller, so later run_deno_code calls can \`await importPlaybook("<folder_name>")\` (the module of \`code\`) and anyone can read it with get_playbook. Saving under an existing folder_name of this caller replaces that playbook; a shipped one cannot be replaced. Notes up to ${maxContentBytes} bytes, code up to ${maxCodeBytes}.${canCreate ? '' : ' The policy of this conductor does not allow saving playbooks for this caller: every call is refused.'}`,
      inputSchema: {
        folder_name: z
          .string()
          .max(200)
          .describe('1-64 characters a-z, 0-9 and "-", starting with a letter or digit'),
        name: Line(200, 'the title'),
        description: Line(1000, 'one line: what it is for'),
        content: z.string().describe('markdown notes: how to use it, its API, examples'),
        code: z
          .string()
          .optional()
          .describe('TypeScript module (playbook.ts): its exports are what importPlaybook gives'),
        author: Line(200, 'who wrote it').optional(),
        version: Line(64, 'its version, e.g. 1.0.0').optional(),
        tags: z.array(Tag).max(32).optional().describe('keywords'),
        source: Line(2000, 'where it came from (a URL, say)').optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
    },
    async ({ folder_name, ...rest }) => {
      try {
        const saved = await ctx.playbooks.create({ folderName: folder_name, ...rest });
        const how = saved.hasCode
          ? ` Import it with \`await importPlaybook(${JSON.stringify(saved.folderName)})\`.`
          : '';
        return text(`Saved playbook ${saved.folderName}.${how}`);
      } catch (error) {
        return failed(error);
      }
    },
  );
}
