import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_BOM, type DockerPort } from '../docker/index.js';
import { fromCycloneDx, type ImageBom } from './bom.js';

/** The bill of materials an image carries in its label; undefined when it has none or an unreadable one. */
export function bomOfLabels(labels: Record<string, string>): ImageBom | undefined {
  const text = labels[LABEL_IMAGE_BOM];
  if (!text) return undefined;
  try {
    return fromCycloneDx(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The bill of materials of an image in the engine (built here or imported). */
export async function readImageBom(docker: Pick<DockerPort, 'inspectImage'>, tag: string): Promise<ImageBom> {
  const info = await docker.inspectImage(tag);
  const bom = info && bomOfLabels(info.labels);
  if (!bom) {
    throw new ImageMissingError(
      `${tag} carries no readable bill of materials (label ${LABEL_IMAGE_BOM}); rebuild it with \`mcp-conductor image --force\``,
    );
  }
  return bom;
}

/** One line for doctor: every package with its version, and the tools with their Debian versions. */
export function summarizeBom(bom: ImageBom): string {
  const packages = bom.packages.map((p) => `${p.ecosystem}:${p.name}@${p.version}`);
  const tools = bom.tools.map(
    (t) => `${t.program} ${t.debian ? `(deb ${t.debian.name} ${t.debian.version})` : '(no Debian package)'}`,
  );
  return [
    `Deno ${bom.deno.version}`,
    `${packages.length} package(s): ${packages.join(', ') || '-'}`,
    `tools: ${tools.join(', ') || '-'}`,
  ].join('; ');
}
