import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ImageMissingError } from '../core/index.js';

const require = createRequire(import.meta.url);

/** Docker reports the engine's architecture in uname terms; the npm packages use Node's. */
export function denoPackageFor(engineArchitecture: string): string {
  switch (engineArchitecture) {
    case 'x86_64':
    case 'amd64':
      return '@deno/linux-x64-glibc';
    case 'aarch64':
    case 'arm64':
      return '@deno/linux-arm64-glibc';
    default:
      throw new ImageMissingError(
        `Deno has no Linux build for the Docker engine's architecture "${engineArchitecture}"`,
      );
  }
}

export interface DenoBinary {
  path: string;
  version: string;
  packageName: string;
}

export function locateDenoBinary(
  engineArchitecture: string,
  resolve: (id: string) => string = require.resolve,
): DenoBinary {
  const packageName = denoPackageFor(engineArchitecture);
  let manifest: string;
  try {
    manifest = resolve(`${packageName}/package.json`);
  } catch (error) {
    throw new ImageMissingError(
      `The Deno binary package ${packageName} (needed for the Docker engine's ${engineArchitecture} architecture) is not installed. ` +
        `Run \`npm ci\`; for an engine of another architecture, \`npm install --no-save --force ${packageName}\`.`,
      { cause: error },
    );
  }
  const version = (require(manifest) as { version: string }).version;
  return { path: join(dirname(manifest), 'deno'), version, packageName };
}

export function hostMatchesEngine(engineArchitecture: string, hostArch: string = process.arch): boolean {
  return denoPackageFor(engineArchitecture) === denoPackageFor(hostArch === 'x64' ? 'x86_64' : hostArch);
}
