import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { SandboxError } from '../core/index.js';
import { guard, statusOf } from './engine-errors.js';
import type { BuildProgress, DockerPort } from './port.js';

type ImageCalls = Pick<
  DockerPort,
  'inspectImage' | 'buildImage' | 'listImages' | 'removeImage' | 'exportImage' | 'importImage'
>;

/** Image calls of the port: lookups, the FROM-scratch build, export and import. */
export function imageCalls(docker: Docker): ImageCalls {
  return {
    inspectImage: (ref) =>
      guard('inspect an image', async () => {
        try {
          const img = await docker.getImage(ref).inspect();
          return { id: img.Id, labels: img.Config?.Labels ?? {}, sizeBytes: img.Size };
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      }),

    buildImage: (context, tag, labels, onProgress, options = {}) =>
      guard('build the image', async () => {
        const stream = await docker.buildImage(context, {
          // The API takes `t` once per name; docker-modem repeats an array's items (the typings allow one).
          t: tag as string,
          labels,
          rm: true,
          forcerm: true,
          nocache: options.nocache === true,
          // Build steps run offline: an air-gapped engine has no network to give them, and they need none.
          networkmode: 'none',
        });
        await new Promise<void>((resolve, reject) => {
          docker.modem.followProgress(
            stream,
            (err: Error | null, output: BuildProgress[]) => {
              const failed = output?.find((o) => o.error);
              if (err) reject(err);
              else if (failed) reject(new SandboxError(`image build failed: ${failed.error}`));
              else resolve();
            },
            (event: BuildProgress) => onProgress(event),
          );
        });
      }),

    listImages: (repository) =>
      guard('list images', async () => {
        const list = await docker.listImages({ filters: { reference: [repository] } });
        return list.map((i) => ({
          id: i.Id,
          tags: (i.RepoTags ?? []).filter((t) => t.startsWith(`${repository}:`)),
          labels: i.Labels ?? {},
          sizeBytes: i.Size,
          createdMs: i.Created * 1000,
        }));
      }),

    removeImage: (ref) =>
      guard('remove an image', async () => {
        try {
          await docker.getImage(ref).remove({ force: true });
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
      }),

    exportImage: (ref) =>
      guard('export an image', async () => (await docker.getImage(ref).get()) as Readable),

    importImage: (tar) =>
      guard('import an image', async () => {
        const stream = await docker.loadImage(tar, { quiet: true });
        const output = await new Promise<BuildProgress[]>((resolve, reject) =>
          docker.modem.followProgress(stream, (err: Error | null, out: BuildProgress[]) =>
            err ? reject(err) : resolve(out ?? []),
          ),
        );
        const failed = output.find((o) => o.error);
        if (failed) throw new SandboxError(`loading the image failed: ${failed.error}`);
        return output
          .map((o) => /^Loaded image(?: ID)?: (\S+)/.exec(o.stream?.trim() ?? '')?.[1])
          .filter((ref): ref is string => ref !== undefined);
      }),
  };
}
