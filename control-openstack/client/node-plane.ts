// The OpenStack node client seen through the agent runtime's NodePlane contract: the image blob
// is the Glance image itself (its file is the sealed chunks in manifest order).
//
// Naming: the pin names a Glance image id (`<uuid>@<version>`), while the signed manifest names the
// image lineage it was sealed as (`<imageId>@<version>`), and the agent refuses a manifest that is
// not the assignment's. So this plane hands the agent the pin under the lineage name the operator
// published it as (Glance image name `<imageId>-<version>`, set by `publishImage`: read with one
// `glance.image.show` per new pin), keeps the Glance id for the calls, and reports with the Glance
// id again, so that the operator compares a report with the pin it set. The manifest check itself
// is unchanged: a pinned image whose signed manifest is another lineage or version is refused.
import { isRangesRefused, type BlobStream, type NodePlane, type NodeReport, type PlaneManifest } from '../../adapters/index.js';
import type { AgentStatus, Assignment, FailureReason } from '../../agent/machine/index.js';
import { GlanceApi, RangesRefusedError } from './glance.js';
import type { Image } from './schemas.js';
import { OpenStackNodeClient, type NodeClientOptions, type NodeConfig } from './node.js';

/** The pinned Glance image is gone from the node's view (no longer pinned): not found. */
class UnknownAssignmentError extends Error {
  readonly controlErrorKind = 'notFound';
}

const key = (a: Assignment) => `${a.imageId}@${a.version}`;

/** The lineage name of Glance image `name` published for `version` (`<imageId>-<version>`), or null. */
export function lineageOf(name: string | null | undefined, version: string): string | null {
  const suffix = `-${version}`;
  if (!name?.endsWith(suffix) || name.length === suffix.length) return null;
  return name.slice(0, -suffix.length);
}

export class OpenStackNodePlane implements NodePlane {
  readonly plane = 'openstack';
  readonly client: OpenStackNodeClient;
  /** pin (Glance id@version) → the agent's assignment (lineage@version) */
  private readonly named = new Map<string, Assignment>();
  /** the agent's assignment → pin */
  private readonly pins = new Map<string, Assignment>();
  private glanceApi: GlanceApi | null = null;
  /** per Glance image: whether its store takes ranges, or the first range's answer is awaited */
  private readonly blobAccess = new Map<string, 'ranges' | 'whole' | Promise<void>>();
  /** the image record read to name a new pin, handed to the manifest fetch that follows (one show per deployment, as the model has it) */
  private shown: { pin: string; image: Image } | null = null;

  constructor(config: NodeConfig, opts: NodeClientOptions = {}) {
    this.client = new OpenStackNodeClient(config, opts);
  }

  get recorder() {
    return this.client.recorder;
  }

  login(): Promise<void> {
    return this.client.login();
  }

  async getAssignment(): Promise<Assignment | null> {
    const pin = await this.client.getAssignment();
    if (pin === null) return null;
    const known = this.named.get(key(pin));
    if (known) return known;
    const glance = (this.glanceApi ??= new GlanceApi(this.client.transport, await this.client.session.endpoint('image')));
    const image = await this.client.session.authed((t) => glance.showImage(t, pin.imageId));
    this.shown = { pin: key(pin), image };
    // a name that is not `<lineage>-<version>`: keep the Glance id (the agent then refuses the manifest)
    const named: Assignment = { imageId: lineageOf(image.name, pin.version) ?? pin.imageId, version: pin.version };
    this.named.set(key(pin), named);
    this.pins.set(key(named), pin);
    return named;
  }

  async getManifest(assignment: Assignment): Promise<PlaneManifest> {
    const pin = await this.pinOf(assignment);
    const shown = this.shown?.pin === key(pin) ? this.shown.image : undefined;
    this.shown = null;
    const m = await this.client.getManifest(pin, shown);
    return { bytes: m.bytes, keyRef: m.keyRef, blobRef: m.image.id };
  }

  getKey(keyRef: string): Promise<Buffer> {
    return this.client.getKey(keyRef);
  }

  /**
   * One chunk by HTTP Range. Whether the image's store takes ranges is learnt once per image: the
   * first range asked for it is the probe and the others wait for its answer; when Glance refuses
   * (400, RBD store), every later range of that image is refused here without a call
   * (RangesRefusedError) and the agent streams the image whole (`downloadBlob`).
   */
  async downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer> {
    for (;;) {
      const known = this.blobAccess.get(blobRef);
      if (known === 'whole') throw new RangesRefusedError(blobRef, 'learnt from an earlier range of this image');
      if (known === 'ranges') return this.client.downloadRange(blobRef, offset, length);
      if (known !== undefined) {
        await known;
        continue;
      }
      const probe = this.client.downloadRange(blobRef, offset, length);
      const settled = probe.then(
        () => void this.blobAccess.set(blobRef, 'ranges'),
        (err: unknown) => void (isRangesRefused(err) ? this.blobAccess.set(blobRef, 'whole') : this.blobAccess.delete(blobRef)),
      );
      this.blobAccess.set(blobRef, settled);
      return probe;
    }
  }

  /** Glance refused a range of this image (its store cannot read at an offset): stream it whole. */
  rangesRefused(blobRef: string): boolean {
    return this.blobAccess.get(blobRef) === 'whole';
  }

  /** `glance.image.download` of the whole image file (same token, same membership check as a range). */
  downloadBlob(blobRef: string): Promise<BlobStream> {
    return this.client.downloadBlob(blobRef);
  }

  async report(r: NodeReport): Promise<void> {
    const image = r.image ? (this.pins.get(key(r.image)) ?? (await this.pinOf(r.image).catch(() => r.image))) : null;
    // wall-clock sequence: survives agent restarts, so the operator can order reports
    return this.client.report({
      status: r.status as AgentStatus,
      image,
      failure: (r.failure ?? null) as FailureReason | null,
      seq: Date.now(),
    });
  }

  /** The pin behind an assignment; after a restart (nothing cached) the current pin is read again. */
  private async pinOf(a: Assignment): Promise<Assignment> {
    let pin = this.pins.get(key(a));
    if (!pin) {
      await this.getAssignment();
      pin = this.pins.get(key(a));
    }
    if (!pin) throw new UnknownAssignmentError(`${key(a)} is not (or no longer) the image pinned to this node`);
    return pin;
  }
}
