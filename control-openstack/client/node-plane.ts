// The OpenStack node client seen through the agent runtime's NodePlane contract: the image blob
// is the Glance image itself (its file is the sealed chunks in manifest order).
import type { NodePlane, NodeReport, PlaneManifest } from '../../adapters/index.js';
import type { AgentStatus, Assignment, FailureReason } from '../../agent/machine/types.js';
import { OpenStackNodeClient, type NodeClientOptions, type NodeConfig } from './node.js';

export class OpenStackNodePlane implements NodePlane {
  readonly plane = 'openstack';
  readonly client: OpenStackNodeClient;

  constructor(config: NodeConfig, opts: NodeClientOptions = {}) {
    this.client = new OpenStackNodeClient(config, opts);
  }

  get recorder() {
    return this.client.recorder;
  }

  login(): Promise<void> {
    return this.client.login();
  }

  getAssignment(): Promise<Assignment | null> {
    return this.client.getAssignment();
  }

  async getManifest(assignment: Assignment): Promise<PlaneManifest> {
    const m = await this.client.getManifest(assignment);
    return { bytes: m.bytes, keyRef: m.keyRef, blobRef: m.image.id };
  }

  getKey(keyRef: string): Promise<Buffer> {
    return this.client.getKey(keyRef);
  }

  downloadRange(blobRef: string, offset: number, length: number): Promise<Buffer> {
    return this.client.downloadRange(blobRef, offset, length);
  }

  report(r: NodeReport): Promise<void> {
    // wall-clock sequence: survives agent restarts, so the operator can order reports
    return this.client.report({
      status: r.status as AgentStatus,
      image: r.image,
      failure: (r.failure ?? null) as FailureReason | null,
      seq: Date.now(),
    });
  }
}
