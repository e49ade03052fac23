/**
 * The front matter of a `playbook.md` or `SKILL.md`: the small YAML subset such files use (`key: value` lines,
 * quoted or not, and `tags` as `[a, b]` or as `- a` lines). Anything else in it is ignored, never an error: a
 * playbook written by another tool still lists, with what could be read of it.
 */
export interface PlaybookMeta {
  name?: string;
  description?: string;
  author?: string;
  version?: string;
  source?: string;
  tags: string[];
}

const KEYS = ['name', 'description', 'author', 'version', 'source'] as const;
type ScalarKey = (typeof KEYS)[number];
const FENCE = /^---\r?\n([\s\S]*?)\r?\n---(?:\r?\n|$)/;

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]) {
    if (v[0] === "'") return v.slice(1, -1).replace(/''/g, "'");
    try {
      return String(JSON.parse(v));
    } catch {
      return v.slice(1, -1);
    }
  }
  return v;
}

function inlineList(value: string): string[] {
  const v = value.trim();
  const items = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1).split(',') : v ? [v] : [];
  return items.map(unquote).filter(Boolean);
}

/** The front matter's fields and the body after it (the whole text when there is none). */
export function parseFrontMatter(text: string): { meta: PlaybookMeta; body: string } {
  const meta: PlaybookMeta = { tags: [] };
  const fence = FENCE.exec(text);
  if (!fence) return { meta, body: text };
  let inTags = false;
  for (const line of fence[1]!.split(/\r?\n/)) {
    const item = /^\s+-\s+(.*)$/.exec(line);
    if (inTags && item) {
      const tag = unquote(item[1]!);
      if (tag) meta.tags.push(tag);
      continue;
    }
    inTags = false;
    const pair = /^([A-Za-z_][\w-]*):\s*(.*)$/.exec(line);
    if (!pair) continue;
    const [, key, value] = pair as unknown as [string, string, string];
    if (key === 'tags') {
      meta.tags = inlineList(value);
      inTags = value.trim() === '';
    } else if ((KEYS as readonly string[]).includes(key)) {
      meta[key as ScalarKey] = unquote(value);
    }
  }
  return { meta, body: text.slice(fence[0].length) };
}

/** A value as a double-quoted YAML scalar on one line: what is written reads back the same. */
function quote(value: string): string {
  return JSON.stringify(value.replace(/[\r\n]+/g, ' '));
}

/** `playbook.md` as create_playbook writes it: front matter, then the caller's markdown. */
export function renderPlaybookMd(meta: PlaybookMeta, body: string): string {
  const lines = ['---'];
  for (const key of KEYS) {
    const value = meta[key];
    if (value !== undefined) lines.push(`${key}: ${quote(value)}`);
  }
  if (meta.tags.length) lines.push(`tags: [${meta.tags.map(quote).join(', ')}]`);
  lines.push('---', '');
  return `${lines.join('\n')}${body}`;
}
