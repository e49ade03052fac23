import type { ImageConfig } from '../config/image-config.js';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_RECIPE, type DockerPort } from '../docker/index.js';
import type { ImageBom } from './bom.js';
import { bomOfLabels } from './inventory.js';
import {
  IMAGE_REPOSITORY,
  planImage,
  planRecipe,
  type ImagePlan,
  type ImageRecipe,
  type PlanOptions,
} from './plan.js';

export interface ImageLookup {
  /**
   * current: the image this host's inputs give is there. compatible: an image of the same recipe built from other
   * host files (imported, or the host's libraries changed since). stale: only images of other recipes. missing: none.
   */
  state: 'current' | 'compatible' | 'stale' | 'missing';
  recipe: ImageRecipe;
  /** the tag this host would build; undefined when its files cannot be read (see planError) */
  wanted?: string;
  planError?: unknown;
  /** the image to run, for current and compatible */
  found?: { tag: string; sizeBytes: number; labels: Record<string, string> };
  /** every tag of the repository the engine has */
  have: string[];
}

/** Finds the image to run: the one this host's inputs give, else the newest one of the same recipe. */
export async function lookUpImage(
  opts: PlanOptions & { docker: Pick<DockerPort, 'info' | 'listImages'> },
): Promise<ImageLookup> {
  const recipe = await planRecipe(opts);
  let plan: ImagePlan | undefined;
  let planError: unknown;
  try {
    plan = await planImage(opts, recipe);
  } catch (error) {
    planError = error;
  }
  const listed = await opts.docker.listImages(IMAGE_REPOSITORY);
  const have = listed.flatMap((i) => i.tags).sort();
  const base = { recipe, wanted: plan?.tag, planError, have };
  if (plan) {
    const exact = listed.find((i) => i.tags.includes(plan.tag));
    if (exact)
      return {
        ...base,
        state: 'current',
        found: { tag: plan.tag, sizeBytes: exact.sizeBytes, labels: exact.labels },
      };
  }
  const sameRecipe = listed
    .filter((i) => i.labels[LABEL_IMAGE_RECIPE] === recipe.recipeHash && i.tags.length > 0)
    .sort((a, b) => b.createdMs - a.createdMs)[0];
  if (sameRecipe)
    return {
      ...base,
      state: 'compatible',
      found: { tag: sameRecipe.tags.sort()[0]!, sizeBytes: sameRecipe.sizeBytes, labels: sameRecipe.labels },
    };
  return { ...base, state: have.length > 0 ? 'stale' : 'missing' };
}

/** The image the conductor runs, or an ImageMissingError that says what to do. */
export async function findImage(
  opts: PlanOptions & { docker: Pick<DockerPort, 'info' | 'listImages'> },
): Promise<{ tag: string; config: ImageConfig; bom: ImageBom }> {
  const look = await lookUpImage(opts);
  if (look.found) {
    const bom = bomOfLabels(look.found.labels);
    if (!bom)
      throw new ImageMissingError(
        `The sandbox image ${look.found.tag} carries no readable bill of materials; rebuild it with \`mcp-conductor image --force\`.`,
      );
    return { tag: look.found.tag, config: look.recipe.config, bom };
  }
  if (look.planError instanceof Error) throw look.planError;
  const stale =
    look.state === 'stale' ? ` (the engine has ${look.have.join(', ')}, built from other inputs)` : '';
  throw new ImageMissingError(
    `The sandbox image ${look.wanted} is not built yet${stale}. Run \`mcp-conductor image\` (or \`make image\`), or load one with \`mcp-conductor image --import FILE\`.`,
  );
}
