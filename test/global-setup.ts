import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { createDockerClient } from '../src/docker/index.js';
import { ensureImage } from '../src/image/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    docker: boolean;
    imageTag: string;
    /** CI=true or MCP_CONDUCTOR_REQUIRE_DOCKER=1: a suite that cannot run here fails instead of skipping */
    dockerRequired: boolean;
  }
}

/**
 * Pings Docker once for the integration suites and builds the sandbox image (a no-op when it is current).
 * Without an engine the Docker suites are skipped, loudly; under CI=true or MCP_CONDUCTOR_REQUIRE_DOCKER=1 that is
 * a failure instead, so a green run can never hide skipped Docker tests.
 */
export default async function setup(project: TestProject): Promise<void> {
  const docker = createDockerClient();
  const required = process.env.CI === 'true' || process.env.MCP_CONDUCTOR_REQUIRE_DOCKER === '1';
  project.provide('dockerRequired', required);
  try {
    await docker.ping();
  } catch (error) {
    if (required)
      throw new Error(`Docker is required for these tests but is not reachable: ${(error as Error).message}`);
    process.stderr.write(
      '\n\n*** DOCKER IS NOT REACHABLE: every Docker integration suite is SKIPPED. Run scripts/docker-setup.sh (as root). ***\n\n',
    );
    project.provide('docker', false);
    project.provide('imageTag', '');
    return;
  }
  const ref = await ensureImage({
    docker,
    imageDir: new URL('../images/deno', import.meta.url).pathname,
    registries: { npm: process.env.NPM_CONFIG_REGISTRY, jsr: process.env.JSR_URL },
    hostEnv: process.env,
    onProgress: (line) => process.stderr.write(`[image] ${line}\n`),
  });
  project.provide('docker', true);
  project.provide('imageTag', ref.tag);
}
