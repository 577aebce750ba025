// Placement without Nova (see docs/placement-openstack.md): pure naming, pin encoding and plans.
// A node is a Keystone project with one user; its pinned image@version is a project tag only the
// operator (admin) can write; the node reports through a Keystone credential it owns.
import type { AgentStatus, Assignment, FailureReason } from '../agent/machine/index.js';

export const PIN_TAG_PREFIX = 'edgeplane:pin=';
export const NODE_TAG = 'edgeplane:node';
export const REPORT_CREDENTIAL_TYPE = 'edgeplane-report';
/** Keystone's limits on a project tag */
export const KEYSTONE_TAG_MAX = 255;

/** Glance image properties the operator sets (the node cannot change another project's image). */
export const IMAGE_PROPS = {
  role: 'edgeplane_role',
  version: 'edgeplane_version',
  manifestImage: 'edgeplane_manifest_image',
  keySecret: 'edgeplane_key_secret',
} as const;

const NODE_ID = /^[a-z0-9][a-z0-9-]{0,47}$/;
/** Glance image ids are UUIDs; accept any id made of URL-safe characters without '@' */
const IMAGE_ID = /^[A-Za-z0-9-]{1,64}$/;
/** no '/' or ',' (Keystone), no '@' (our separator), nothing that needs URL escaping */
const VERSION = /^[A-Za-z0-9._+-]{1,64}$/;

export class PlacementError extends Error {
  readonly controlErrorKind = 'invalid';
}

export function assertNodeId(nodeId: string): string {
  if (!NODE_ID.test(nodeId)) throw new PlacementError(`node id ${JSON.stringify(nodeId)} must match ${NODE_ID.source}`);
  return nodeId;
}

export function nodeProjectName(nodeId: string): string {
  return `edgeplane-node-${assertNodeId(nodeId)}`;
}

export function nodeUserName(nodeId: string): string {
  return `edgeplane-node-${assertNodeId(nodeId)}`;
}

export function encodePinTag(a: Assignment): string {
  if (!IMAGE_ID.test(a.imageId)) throw new PlacementError(`image id ${JSON.stringify(a.imageId)} must match ${IMAGE_ID.source}`);
  if (!VERSION.test(a.version)) throw new PlacementError(`version ${JSON.stringify(a.version)} must match ${VERSION.source}`);
  const tag = `${PIN_TAG_PREFIX}${a.imageId}@${a.version}`;
  if (tag.length > KEYSTONE_TAG_MAX) throw new PlacementError(`pin tag longer than ${KEYSTONE_TAG_MAX} characters`);
  return tag;
}

export function isPinTag(tag: string): boolean {
  return tag.startsWith(PIN_TAG_PREFIX);
}

/** The assignment in a project's tags: null when unpinned; more than one pin is an error. */
export function decodePin(tags: readonly string[]): Assignment | null {
  const pins = tags.filter(isPinTag);
  if (pins.length === 0) return null;
  if (pins.length > 1) throw new PlacementError(`project carries ${pins.length} pin tags`);
  const body = pins[0]!.slice(PIN_TAG_PREFIX.length);
  const at = body.lastIndexOf('@');
  const assignment = { imageId: body.slice(0, at), version: body.slice(at + 1) };
  if (at <= 0 || !IMAGE_ID.test(assignment.imageId) || !VERSION.test(assignment.version)) {
    throw new PlacementError(`malformed pin tag ${JSON.stringify(pins[0])}`);
  }
  return assignment;
}

/** The project's tags with the pin replaced (or removed): non-pin tags kept, order stable. */
export function tagsWithPin(tags: readonly string[], pin: Assignment | null): string[] {
  const kept = tags.filter((t) => !isPinTag(t));
  if (!kept.includes(NODE_TAG)) kept.unshift(NODE_TAG);
  return pin ? [...kept, encodePinTag(pin)] : kept;
}

export interface NodePlacement {
  nodeId: string;
  projectName: string;
  userName: string;
  pinTag: string | null;
}

/** The same nodes and pins give the same placement, whatever their input order. */
export function planPlacement(nodeIds: readonly string[], pins: Readonly<Record<string, Assignment | null | undefined>>): NodePlacement[] {
  const unique = [...new Set(nodeIds.map(assertNodeId))].sort();
  for (const pinned of Object.keys(pins)) {
    if (!unique.includes(pinned)) throw new PlacementError(`pin for unknown node ${pinned}`);
  }
  return unique.map((nodeId) => {
    const pin = pins[nodeId] ?? null;
    return { nodeId, projectName: nodeProjectName(nodeId), userName: nodeUserName(nodeId), pinTag: pin ? encodePinTag(pin) : null };
  });
}

/** What a node reports (the blob of its report credential). */
export interface NodeReport {
  status: AgentStatus;
  image: Assignment | null;
  failure: FailureReason | null;
  /** node-local sequence number, so the operator can order reports */
  seq: number;
}

export function encodeReport(r: NodeReport): string {
  return JSON.stringify({ status: r.status, image: r.image ? `${r.image.imageId}@${r.image.version}` : null, failure: r.failure, seq: r.seq });
}

export function decodeReport(blob: string): NodeReport | null {
  try {
    const d = JSON.parse(blob) as { status?: unknown; image?: unknown; failure?: unknown; seq?: unknown };
    if (typeof d.status !== 'string' || typeof d.seq !== 'number') return null;
    let image: Assignment | null = null;
    if (typeof d.image === 'string') {
      const at = d.image.lastIndexOf('@');
      image = { imageId: d.image.slice(0, at), version: d.image.slice(at + 1) };
    }
    return { status: d.status as AgentStatus, image, failure: typeof d.failure === 'string' ? (d.failure as FailureReason) : null, seq: d.seq };
  } catch {
    return null;
  }
}
