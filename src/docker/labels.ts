/** Every container the conductor creates carries these, so reap, start-up cleanup and tests can find leftovers. */
export const LABEL_MANAGED = 'mcp-conductor.managed';
export const LABEL_INSTANCE = 'mcp-conductor.instance';
export const LABEL_EXECUTION = 'mcp-conductor.execution-id';
export const LABEL_TENANT = 'mcp-conductor.tenant';
/** The host directory holding this container's socket, so reap can remove it with the container. */
export const LABEL_SOCKET_DIR = 'mcp-conductor.socket-dir';
/** Host name and process id of the conductor, so start-up cleanup can tell a dead conductor from a live one. */
export const LABEL_HOST = 'mcp-conductor.host';
export const LABEL_PID = 'mcp-conductor.pid';
/**
 * `<boot id>:<pid>:<process start time>` of the conductor. A pid alone is not enough: a conductor restarted in its
 * container is pid 1 again, so the old one's leftovers would look owned forever.
 */
export const LABEL_OWNER = 'mcp-conductor.owner';
/**
 * The id of the container the conductor runs in, when it runs in one on this same engine. Its host name and pid are
 * the container's own, meaningless elsewhere; the engine can say whether that container still runs.
 */
export const LABEL_OWNER_CONTAINER = 'mcp-conductor.owner-container';
/** On images: the content hash of every build input. */
export const LABEL_IMAGE_HASH = 'mcp-conductor.image-hash';
/** On images: the hash of the inputs that do not come from the build host (an imported image is found by it). */
export const LABEL_IMAGE_RECIPE = 'mcp-conductor.image-recipe';

export interface ContainerIdentity {
  instanceId: string;
  executionId: string;
  tenant: string;
  socketDir: string;
  host: string;
  pid: number;
  owner: string;
  /** the conductor's own container on this engine, if any */
  ownerContainer?: string;
}

export function containerLabels(id: ContainerIdentity): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_INSTANCE]: id.instanceId,
    [LABEL_EXECUTION]: id.executionId,
    [LABEL_TENANT]: id.tenant,
    [LABEL_SOCKET_DIR]: id.socketDir,
    [LABEL_HOST]: id.host,
    [LABEL_PID]: String(id.pid),
    [LABEL_OWNER]: id.owner,
    ...(id.ownerContainer ? { [LABEL_OWNER_CONTAINER]: id.ownerContainer } : {}),
  };
}
/** On images: the bill of materials (CycloneDX JSON) of what the image holds, for `doctor`, `image --list` and scanners. */
export const LABEL_IMAGE_BOM = 'mcp-conductor.bom';
