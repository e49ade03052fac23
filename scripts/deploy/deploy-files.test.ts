import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { parseAllDocuments, parse } from 'yaml';
import { conductorDockerfile, DATA_DIR } from '../../src/image/index.js';
import { parseDurationMs } from '../../src/cli/options.js';

// The deployment files run where this machine cannot (a multi-node swarm, Kubernetes): check here what they must
// agree on with the image and with each other. The swarm stack itself is deployed for real by test/deploy.test.ts.

const here = (name: string) => new URL(name, import.meta.url).pathname;
const yaml = async (name: string) => parse(await readFile(here(name), 'utf8')) as Record<string, unknown>;
type ComposeService = {
  command?: string[];
  args?: string[];
  stop_grace_period: string;
  healthcheck: { test: string[] };
  volumes: (string | { type: string; source: string; target: string })[];
  environment: Record<string, string>;
  deploy?: Record<string, unknown> & { update_config: Record<string, unknown> };
  ports: unknown[];
};

/** The value after `flag` in an argument list. */
const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];
const imageHealthcheck = () => {
  const line = conductorDockerfile()
    .split('\n')
    .find((l) => l.startsWith('HEALTHCHECK '))!;
  return ['CMD', ...(JSON.parse(line.slice(line.indexOf(' CMD ') + 5)) as string[])];
};

/** The image's ENV variables whose value lies in its data directory (the Docker volume's host path). */
const imagePathsUnderDataDir = () =>
  conductorDockerfile()
    .split('\n')
    .filter((l) => l.startsWith('ENV '))
    .map((l) => /^ENV (\w+)=(.*)$/.exec(l)!)
    .filter(([, , value]) => (JSON.parse(value!) as string).startsWith(`${DATA_DIR}/`))
    .map(([, name]) => name!);

describe('the image', () => {
  it('keeps sockets, workspaces and retained outputs on its data volume', () => {
    expect(imagePathsUnderDataDir().sort()).toEqual([
      'MCP_CONDUCTOR_RETAINED_DIR',
      'MCP_CONDUCTOR_SOCKET_DIR',
      'MCP_CONDUCTOR_WORKSPACE',
    ]);
  });
});

describe.each(['swarm.yaml', 'compose.yaml'])('%s', (file) => {
  it('lets SIGKILL come only after --grace, probes /readyz as the image does, keeps the data at its host path', async () => {
    const conductor = ((await yaml(file)).services as Record<string, ComposeService>).conductor!;
    const grace = parseDurationMs(flag(conductor.command!, '--grace')!, 'grace');
    expect(parseDurationMs(conductor.stop_grace_period, 'stop_grace_period')).toBeGreaterThan(grace);
    expect(conductor.healthcheck.test).toEqual(imageHealthcheck());
    const mounts = conductor.volumes.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    expect(mounts).toContain(`mcp-conductor:${DATA_DIR}`);
    expect(mounts).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(conductor.environment.MCP_CONDUCTOR_TENANTS).toBe('/run/secrets/mcp_conductor_tenants');
  });
});

describe('swarm.yaml', () => {
  it('is a global, stateless service on host-mode port 8787, updated stop-first one node at a time', async () => {
    const stack = await yaml('swarm.yaml');
    const conductor = (stack.services as Record<string, ComposeService>).conductor!;
    expect(conductor.command).toContain('--stateless');
    expect(conductor.ports).toEqual([{ target: 8787, published: 8787, protocol: 'tcp', mode: 'host' }]);
    expect(conductor.deploy).toMatchObject({
      mode: 'global',
      update_config: { parallelism: 1, order: 'stop-first' },
    });
    expect(stack.secrets).toEqual({ mcp_conductor_tenants: { external: true } });
  });
});

describe('kubernetes/', () => {
  const load = async () => {
    const docs = await Promise.all(
      ['namespace.yaml', 'daemonset.yaml', 'service.yaml'].map(async (f) =>
        parseAllDocuments(await readFile(here(`kubernetes/${f}`), 'utf8')).map(
          (d) => d.toJS() as { kind: string },
        ),
      ),
    );
    return docs.flat();
  };

  it('validates against the Kubernetes schemas (kubernetes-models)', async () => {
    const models = { Namespace, Service, DaemonSet } as Record<
      string,
      new (o: unknown) => { validate(): void }
    >;
    const docs = await load();
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'DaemonSet', 'Service']);
    for (const doc of docs) expect(() => new models[doc.kind]!(doc).validate()).not.toThrow();
    const broken = structuredClone(docs[1]) as unknown as {
      spec: { template: { spec: { containers: { ports: unknown[] }[] } } };
    };
    broken.spec.template.spec.containers[0]!.ports = [{ containerPort: 'mcp' }];
    expect(() => new DaemonSet(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  it('mounts the node’s paths at the same paths, runs as the conductor user, and outwaits --grace', async () => {
    const ds = (await load())[1] as unknown as {
      spec: {
        template: {
          spec: {
            terminationGracePeriodSeconds: number;
            securityContext: { runAsUser: number };
            volumes: { name: string; hostPath?: { path: string }; emptyDir?: object }[];
            containers: {
              args: string[];
              env: { name: string; value: string }[];
              volumeMounts: { name: string; mountPath: string }[];
            }[];
          };
        };
      };
    };
    const pod = ds.spec.template.spec;
    const [conductor] = pod.containers;
    expect(pod.securityContext.runAsUser).toBe(10001);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      parseDurationMs(flag(conductor!.args, '--grace')!, 'grace'),
    );
    for (const volume of pod.volumes.filter((v) => v.hostPath)) {
      const mount = conductor!.volumeMounts.find((m) => m.name === volume.name);
      expect(mount?.mountPath).toBe(volume.hostPath!.path);
    }
    const env = Object.fromEntries(conductor!.env.map((e) => [e.name, e.value]));
    const data = pod.volumes.find((v) => v.name === 'data')!.hostPath!.path;
    expect(env.MCP_CONDUCTOR_SOCKET_DIR?.startsWith(`${data}/`)).toBe(true);
    expect(env.MCP_CONDUCTOR_WORKSPACE?.startsWith(`${data}/`)).toBe(true);
    // The root is read-only and the image's data directory is not mounted in the pod: every directory the image
    // puts there is set again, onto a volume. Kept outputs go with the pod (an emptyDir), never onto the node's.
    for (const name of imagePathsUnderDataDir()) expect(env[name], name).toBeDefined();
    const retained = conductor!.volumeMounts.find((m) => env.MCP_CONDUCTOR_RETAINED_DIR === m.mountPath);
    expect(pod.volumes.find((v) => v.name === retained?.name)?.emptyDir).toBeDefined();
  });
});
