import { lstat } from 'node:fs/promises';
import type { ConductorSettings } from '../config/env.js';
import { isPlainDir, playbookFolders } from '../playbooks/index.js';
import type { AdminInputs } from './admin-inputs.js';
import { checkedContexts } from './doctor-contexts.js';

/**
 * The shipped playbooks and each context's own store (the root for the local context, root/<tenant> with a tenants
 * file): how many it holds and whether its policy lets create_playbook write there. A store path that is a link or
 * a file fails: the store never follows one, so list_playbooks would show none of it and create_playbook would fail.
 */
export async function describePlaybooks(
  inputs: AdminInputs,
  settings: ConductorSettings,
  shippedDir: string,
): Promise<string> {
  const shipped = await playbookFolders(shippedDir);
  const stores = await checkedContexts(inputs, settings, settings.playbooksDir);
  const lines = [`${shipped.length} shipped (${shipped.join(', ') || '-'})`];
  const problems: string[] = [];
  for (const s of stores) {
    const policy = await inputs.policy(s.policy).catch(() => undefined);
    const saving =
      policy === undefined ? '' : policy.playbooks.create ? ', saving allowed' : ', saving off by policy';
    if (!(await isPlainDir(s.dir))) {
      const kind = await lstat(s.dir).then(
        (st) => (st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'),
        () => undefined,
      );
      if (kind)
        problems.push(`${s.label}: ${s.dir} is ${kind}; the store never follows one: make it a directory`);
      else lines.push(`${s.label}: none saved yet at ${s.dir}${saving}`);
      continue;
    }
    const own = (await playbookFolders(s.dir)).filter((n) => !shipped.includes(n));
    lines.push(`${s.label}: ${own.length} saved at ${s.dir}${saving}`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return lines.join('; ');
}
