import { describe, expect, it } from 'vitest';
import { accountFiles, conductorDockerfile, DATA_DIR } from './conductor-image.js';

describe('the conductor image', () => {
  it('runs as the conductor user, in the sandbox’s group and the engine socket’s', () => {
    const { passwd, group } = accountFiles(105);
    expect(passwd).toContain('conductor:x:10001:65534:');
    expect(group).toContain('docker:x:105:conductor\n');
    // A root-owned socket (gid 0) or none: no group to add; the operator adds one at run time.
    expect(accountFiles(0).group).not.toContain('docker');
    expect(accountFiles(undefined).group).toBe('root:x:0:\nnogroup:x:65534:\n');
  });

  it('has no shell to lean on: exec-form steps, a Node health check on /readyz, and the data directory its own', () => {
    const lines = conductorDockerfile().split('\n');
    expect(lines[0]).toBe('FROM scratch');
    expect(lines).toContain('USER conductor');
    expect(lines).toContain(`ENV MCP_CONDUCTOR_SOCKET_DIR="${DATA_DIR}/sockets"`);
    expect(lines.find((l) => l.startsWith('RUN '))).toMatch(
      /^RUN \["\/usr\/local\/bin\/node","-e",.*chownSync/,
    );
    const health = lines.find((l) => l.startsWith('HEALTHCHECK '))!;
    expect(health).toContain('CMD ["/usr/local/bin/node","-e","fetch(\'http://127.0.0.1:8787/readyz\')');
    expect(lines).toContain('ENTRYPOINT ["/usr/local/bin/node","/opt/mcp-conductor/dist/cli.js"]');
    expect(lines).toContain('CMD ["serve","--host","0.0.0.0"]');
  });
});
