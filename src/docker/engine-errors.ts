import { DockerUnavailableError, ImageMissingError } from '../core/index.js';

export function statusOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** What a failed connection to the engine looks like, over a Unix socket (DOCKER_HOST=unix://) or TCP. */
const UNREACHABLE = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Connection failures (no socket, refused, cut, timed out) become DockerUnavailableError; API errors pass through. */
export async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (statusOf(error) === undefined && typeof code === 'string' && UNREACHABLE.has(code)) {
      throw new DockerUnavailableError(
        `The Docker engine is not reachable (${code} while trying to ${what}). Start Docker (as root: scripts/docker-setup.sh) or set DOCKER_HOST.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The image can vanish under a running conductor (`docker rmi`, a prune): say what to do, not just "404". */
export function createError(error: unknown, image: string): unknown {
  const message = (error as { json?: { message?: unknown } } | null)?.json?.message;
  if (statusOf(error) === 404 && typeof message === 'string' && /no such image/i.test(message)) {
    return new ImageMissingError(
      `The sandbox image ${image} is missing (removed while the conductor was running?). Run \`mcp-conductor image\` (or \`make image\`) to build it again.`,
      { cause: error },
    );
  }
  return error;
}
