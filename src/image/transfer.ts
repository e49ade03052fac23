import { createReadStream, createWriteStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ConfigError, ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_RECIPE, type DockerPort } from '../docker/index.js';
import { IMAGE_REPOSITORY, planRecipe, type PlanOptions } from './plan.js';

/** Writes an image to a tar file (`docker save` format) for a machine with no registry. */
export async function exportImageFile(
  docker: Pick<DockerPort, 'exportImage'>,
  tag: string,
  file: string,
): Promise<void> {
  await pipeline(await docker.exportImage(tag), createWriteStream(file));
}

export interface ImportOptions extends PlanOptions {
  docker: DockerPort;
  file: string;
  onProgress?: (line: string) => void;
}

/**
 * Loads an image written by exportImageFile and checks that this conductor will run it: its recipe label must
 * match this conductor's image recipe (image config, runtime, Deno version, mirrors). The build host's own files
 * (shared libraries, CA bundle) may differ: the image carries its own. Returns the loaded tag.
 */
export async function importImageFile(opts: ImportOptions): Promise<string> {
  const say = opts.onProgress ?? (() => undefined);
  try {
    await access(opts.file);
  } catch (error) {
    throw new ConfigError(`cannot read the image file ${opts.file}`, { cause: error });
  }
  say(`loading ${opts.file}`);
  const loaded = await opts.docker.importImage(createReadStream(opts.file));
  const tag = loaded.find((ref) => ref.startsWith(`${IMAGE_REPOSITORY}:`));
  if (!tag) {
    throw new ImageMissingError(
      `${opts.file} holds no ${IMAGE_REPOSITORY} image (loaded: ${loaded.join(', ') || 'nothing'}); write it with \`mcp-conductor image --export FILE\``,
    );
  }
  say(`loaded ${tag}`);
  const recipe = await planRecipe(opts);
  const info = await opts.docker.inspectImage(tag);
  if (info?.labels[LABEL_IMAGE_RECIPE] !== recipe.recipeHash) {
    throw new ImageMissingError(
      `loaded ${tag}, but this conductor will not run it: it was built from other inputs (image.json, runtime, Deno ${recipe.denoVersion} or the mirrors differ). Export it from a conductor of the same version and configuration.`,
    );
  }
  say('the conductor will run this image');
  return tag;
}
