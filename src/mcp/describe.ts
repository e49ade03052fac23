import { describePermissions } from '../config/deno-flags.js';
import type { McpDirectory } from '../proxy/directory.js';
import { mountsWorkspace, WORKSPACE_IN_CONTAINER, type SandboxProfile } from '../sandbox/profile.js';

/** An image.json specifier and what it resolves to in the image (from the image's bill of materials). */
export interface ImportablePackage {
  specifier: string;
  name: string;
  version: string;
}

export interface DescribeInput {
  profile: SandboxProfile;
  /** what `import` resolves to in the image */
  dependencies: ImportablePackage[];
  directory: Pick<McpDirectory, 'servers'>;
}

export function importsText({ dependencies, profile }: DescribeInput): string {
  const { allowRemoteImports, allowUncachedImports } = profile.policy.deno;
  const example = dependencies[0]?.specifier ?? 'node:path';
  const listed = dependencies.length
    ? `these pre-installed packages, with exactly these specifiers (each also without its range, or with the exact version): ${dependencies.map((d) => `${d.specifier} (${d.name} ${d.version})`).join(', ')}; and Deno's \`node:\` built-ins`
    : "Deno's `node:` built-ins (no packages are pre-installed)";
  const more = [
    allowUncachedImports
      ? 'other npm:/jsr: packages are downloaded at run time where the network allows'
      : '',
    allowRemoteImports ? 'http(s) URL imports are allowed where the network allows' : '',
  ].filter(Boolean);
  return [
    `Imports: static \`import\` statements, anywhere at top level, of ${listed}.`,
    `Example: \`import * as lib from "${example}";\`.`,
    more.length ? `Also: ${more.join('; ')}.` : 'Nothing else can be imported (no downloads).',
  ].join(' ');
}

export function mcpText(directory: DescribeInput['directory']): string[] {
  const servers = directory.servers();
  const api =
    'The global `mcpFactory` (no import needed) calls the tools of other MCP servers from inside the code, so their results can be filtered and combined before anything returns: `const s = await mcpFactory.load("name"); const r = await s.callTool("tool", { arg: 1 });`. callTool returns the structuredContent, else the parsed JSON text, else the text, and throws on a tool error; calls can run in parallel with Promise.all. Also: `await mcpFactory.list()` (server names), s.listTools(), s.callToolRaw(name, args), s.listResources(), s.readResource(uri), s.listPrompts(), s.getPrompt(name, args).';
  if (servers.length === 0) {
    return [
      api,
      'No MCP servers are configured for this conductor right now: `await mcpFactory.list()` returns [] and `mcpFactory.load(name)` throws.',
    ];
  }
  return [
    api,
    `MCP servers available: ${servers.join(', ')}. The get_tools tool shows a server's tools and their input schemas; read it before calling a tool. With format "typescript" it gives their TypeScript types, and \`mcpFactory.load("<server>")\` is typed by them.`,
  ];
}

/** What the egress gateway lets the code reach, and the secret names it may use; nothing without egress. */
function egressText({ profile }: DescribeInput): string[] {
  const egress = profile.policy.egress;
  if (!egress) return [];
  const hosts = egress.allow.length ? egress.allow.join(', ') : 'none';
  const lines = [
    `HTTP(S): fetch(), node:http/node:https and libraries built on them (such as npm:@octokit/rest) reach exactly these hosts through the conductor's gateway, with no permission needed: ${hosts} (\`*.domain\` means its subdomains; without a port, 443 and 80). Any other host fails with a NotCapable error naming it. At most ${egress.maxRequests} requests per call, ${egress.maxResponseBytes} bytes per response body, ${egress.timeoutMs} ms per request; redirects are followed and checked again.`,
  ];
  const secrets = Object.entries(egress.secrets);
  if (secrets.length > 0) {
    const named = secrets.map(([name, s]) => `Deno.env.get('${name}') for ${s.hosts.join(', ')}`).join('; ');
    lines.push(
      `Secrets: ${named}. Each gives a placeholder: put it where the credential goes, in a request header (for example \`new Octokit({ auth: Deno.env.get('${secrets[0]![0]}') })\` or an Authorization header). The gateway puts the real value in on requests to those hosts only, refuses it anywhere else (and in URLs), and shows the placeholder in responses: the code never sees the value.`,
    );
  }
  return lines;
}

export function accessText({ profile }: DescribeInput): string[] {
  const { policy, permissions } = profile;
  const lines = [
    `Permissions: ${describePermissions(permissions)}. Anything not granted fails at once with a Deno.errors.NotCapable error saying what is granted (there is no prompt, and code cannot widen the grant).`,
  ];
  if (permissions.run) {
    lines.push(
      'Permitted programs run with `await new Deno.Command("name", { args: [...] }).output()` (stdout is bytes: decode with TextDecoder).',
    );
  }
  if (policy.workspace.mode !== 'none') {
    lines.push(
      `Files, as far as the permissions allow: /workspace persists between calls (mounted ${policy.workspace.mode === 'ro' ? 'read-only' : 'read-write'}); /tmp is a small scratch area that does not.`,
    );
  }
  const { limits, container } = policy;
  lines.push(
    `Limits: ${limits.defaultTimeoutMs} ms by default (the timeout parameter allows up to ${limits.maxTimeoutMs} ms; a larger one is refused), ${container.memoryMb} MB of memory, ${container.network !== 'none' ? 'network as far as the permissions allow' : policy.egress ? 'no network but HTTP(S) to the hosts above' : 'no network at all (the container has none, whatever the permissions say)'}; stdout/stderr are kept up to ${limits.maxOutputBytes} bytes each and the return value up to ${limits.maxReturnBytes} bytes, beyond that they are truncated.`,
  );
  return lines;
}

function checkText(profile: SandboxProfile): string {
  const always = profile.policy.deno.check
    ? ' This conductor checks every call unless it passes `check: false`.'
    : '';
  return `Type check: pass \`check: true\` to have the code checked like \`deno check\` first (strict TypeScript, against mcpFactory's types, the typed tools of the servers the code names, and the packages' own types); type errors come back with the line and column in your code, and the code does not run. Ask for it when the code calls MCP tools (wrong arguments fail before anything runs) or has side effects that must not happen half-way; skip it for quick computations.${always}`;
}

/** importPlaybook and the WORKSPACE_DIR / PERMISSIONS globals, as this profile sets them. */
export function globalsText(profile: SandboxProfile): string {
  const workspace = mountsWorkspace(profile)
    ? `\`WORKSPACE_DIR\` is "${WORKSPACE_IN_CONTAINER}" (the mounted workspace)`
    : '`WORKSPACE_DIR` is undefined (no workspace is mounted)';
  return `Playbooks: \`const m = await importPlaybook("folder-name")\` (a global, no import needed) gives the module of a playbook's code, run with these same permissions; list_playbooks lists them, get_playbook shows one with its API, create_playbook saves code for later calls. Globals: ${workspace}; \`PERMISSIONS\` is the grant in force (frozen), e.g. \`PERMISSIONS.net\` is true, a list of hosts, or undefined.`;
}

/** The run_deno_code description: what a model needs to write working code on the first try. */
export function describeTool(input: DescribeInput): string {
  return [
    'Runs TypeScript or JavaScript in a fresh, isolated Deno sandbox (one throwaway container per call) and returns only the final value, so intermediate data never enters the conversation.',
    '',
    'Result: a top-level `return x` ends the code with x. Without a return that runs, `export default x` makes x the result; otherwise the value of the last top-level expression statement is the result (as in a REPL: `const a = 2; a * 21` gives 42). Top-level `await` works. Return plain data (objects, arrays, strings, numbers); Map, Set, BigInt, Date, undefined and class instances come back in a JSON form. console.log output is returned separately.',
    '',
    importsText(input),
    '',
    ...mcpText(input.directory),
    '',
    'During a long run, the global `progress(value, total?, message?)` (no import needed) tells the user how far the code got, e.g. `progress(i, files.length, "parsing")`; call it as often as you like, it is sent at most 4 times a second. console.log lines also reach the client as they are printed (the result still carries the output).',
    '',
    ...egressText(input),
    ...accessText(input),
    '',
    checkText(input.profile),
    '',
    globalsText(input.profile),
  ].join('\n');
}
