// Glance v2 calls (images): create, upload, properties, sharing (members), whole and ranged
// downloads, and what each image status means to a caller.
import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { HttpError, ResponseLengthError, type RequestBody, type StreamedResponse, type Transport } from '../../adapters/transport/index.js';
import { ImageSchema, MemberListSchema, MemberSchema, type GlanceStatus, type Image, type Member } from './schemas.js';

/** An image that is not (or no longer) downloadable; `controlErrorKind` maps it for the agent. */
export class ImageStatusError extends Error {
  constructor(
    readonly imageId: string,
    readonly status: GlanceStatus,
    readonly controlErrorKind: 'unavailable' | 'forbidden' | 'notFound' | 'invalid',
  ) {
    super(`image ${imageId} is ${status}`);
    this.name = 'ImageStatusError';
  }
}

/**
 * What a reader should do with an image in this status:
 * queued/saving/uploading/importing: data not there yet, retry later;
 * deactivated: the owner blocked downloads (forbidden); killed: upload failed, never usable;
 * deleted/pending_delete: gone.
 */
export function imageReadiness(image: Pick<Image, 'id' | 'status'>): ImageStatusError | null {
  switch (image.status) {
    case 'active':
      return null;
    case 'queued':
    case 'saving':
    case 'uploading':
    case 'importing':
      return new ImageStatusError(image.id, image.status, 'unavailable');
    case 'deactivated':
      return new ImageStatusError(image.id, image.status, 'forbidden');
    case 'killed':
      return new ImageStatusError(image.id, image.status, 'invalid');
    case 'deleted':
    case 'pending_delete':
      return new ImageStatusError(image.id, image.status, 'notFound');
  }
}

/** A custom (string) image property, or undefined. */
export function imageProperty(image: Image, name: string): string | undefined {
  const v = (image as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

export type JsonPatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

const parseImage = (d: unknown) => ImageSchema.parse(d);

export class GlanceApi {
  /** `baseUrl` is the catalog's image endpoint (without `/v2`) */
  constructor(
    private readonly transport: Transport,
    readonly baseUrl: string,
  ) {}

  private h(token: string): Record<string, string> {
    return { 'X-Auth-Token': token };
  }

  async createImage(token: string, img: { name: string; diskFormat?: string; containerFormat?: string; visibility?: 'private' | 'shared'; properties?: Record<string, string> }): Promise<Image> {
    return this.transport.json(
      this.baseUrl,
      {
        op: 'glance.image.create',
        method: 'POST',
        path: '/v2/images',
        headers: this.h(token),
        body: {
          json: {
            name: img.name,
            disk_format: img.diskFormat ?? 'raw',
            container_format: img.containerFormat ?? 'bare',
            visibility: img.visibility ?? 'shared',
            ...img.properties,
          },
        },
        expect: [201],
      },
      parseImage,
    );
  }

  /** Upload the image data (a Buffer, or a file streamed from disk). */
  async upload(token: string, imageId: string, data: Buffer | { file: string }): Promise<void> {
    const body: RequestBody = Buffer.isBuffer(data) ? data : { stream: (): Readable => createReadStream(data.file), length: statSync(data.file).size };
    await this.transport.request(this.baseUrl, {
      op: 'glance.image.upload',
      method: 'PUT',
      path: '/v2/images/{image_id}/file',
      params: { image_id: imageId },
      headers: { ...this.h(token), 'Content-Type': 'application/octet-stream' },
      body,
      expect: [204],
    });
  }

  async showImage(token: string, imageId: string): Promise<Image> {
    return this.transport.json(this.baseUrl, { op: 'glance.image.show', method: 'GET', path: '/v2/images/{image_id}', params: { image_id: imageId }, headers: this.h(token) }, parseImage);
  }

  async updateImage(token: string, imageId: string, patch: JsonPatchOp[]): Promise<Image> {
    return this.transport.json(
      this.baseUrl,
      {
        op: 'glance.image.update',
        method: 'PATCH',
        path: '/v2/images/{image_id}',
        params: { image_id: imageId },
        headers: { ...this.h(token), 'Content-Type': 'application/openstack-images-v2.1-json-patch' },
        body: JSON.stringify(patch),
      },
      parseImage,
    );
  }

  async deactivate(token: string, imageId: string): Promise<void> {
    await this.transport.request(this.baseUrl, { op: 'glance.image.deactivate', method: 'POST', path: '/v2/images/{image_id}/actions/deactivate', params: { image_id: imageId }, headers: this.h(token), expect: [204] });
  }

  async reactivate(token: string, imageId: string): Promise<void> {
    await this.transport.request(this.baseUrl, { op: 'glance.image.reactivate', method: 'POST', path: '/v2/images/{image_id}/actions/reactivate', params: { image_id: imageId }, headers: this.h(token), expect: [204] });
  }

  async deleteImage(token: string, imageId: string): Promise<void> {
    await this.transport.request(this.baseUrl, { op: 'glance.image.delete', method: 'DELETE', path: '/v2/images/{image_id}', params: { image_id: imageId }, headers: this.h(token), expect: [204] });
  }

  // ---- sharing ----
  async addMember(token: string, imageId: string, projectId: string): Promise<Member> {
    return this.transport.json(
      this.baseUrl,
      { op: 'glance.member.create', method: 'POST', path: '/v2/images/{image_id}/members', params: { image_id: imageId }, headers: this.h(token), body: { json: { member: projectId } } },
      (d) => MemberSchema.parse(d),
    );
  }

  async setMemberStatus(token: string, imageId: string, projectId: string, status: Member['status']): Promise<Member> {
    return this.transport.json(
      this.baseUrl,
      {
        op: 'glance.member.update',
        method: 'PUT',
        path: '/v2/images/{image_id}/members/{member_id}',
        params: { image_id: imageId, member_id: projectId },
        headers: this.h(token),
        body: { json: { status } },
      },
      (d) => MemberSchema.parse(d),
    );
  }

  async listMembers(token: string, imageId: string): Promise<Member[]> {
    const r = await this.transport.json(this.baseUrl, { op: 'glance.member.list', method: 'GET', path: '/v2/images/{image_id}/members', params: { image_id: imageId }, headers: this.h(token) }, (d) =>
      MemberListSchema.parse(d),
    );
    return r.members;
  }

  async removeMember(token: string, imageId: string, projectId: string): Promise<void> {
    await this.transport.request(this.baseUrl, {
      op: 'glance.member.delete',
      method: 'DELETE',
      path: '/v2/images/{image_id}/members/{member_id}',
      params: { image_id: imageId, member_id: projectId },
      headers: this.h(token),
      expect: [204],
    });
  }

  // ---- downloads ----
  /** The whole image file into memory (small images). */
  async download(token: string, imageId: string): Promise<Buffer> {
    const res = await this.transport.request(this.baseUrl, { op: 'glance.image.download', method: 'GET', path: '/v2/images/{image_id}/file', params: { image_id: imageId }, headers: this.h(token), expect: [200] });
    return res.body;
  }

  /** A manifest image's file (recorded with the `{manifest_image_id}` template the model uses). */
  async downloadManifest(token: string, manifestImageId: string): Promise<Buffer> {
    const res = await this.transport.request(this.baseUrl, {
      op: 'glance.image.download',
      method: 'GET',
      path: '/v2/images/{manifest_image_id}/file',
      params: { manifest_image_id: manifestImageId },
      headers: this.h(token),
      expect: [200],
    });
    return res.body;
  }

  /**
   * The whole image file as a stream (large images, node:http data path); the call is recorded when
   * it ends, as `op` (an agent's whole-blob read is `glance.image.download_whole`, a data op).
   */
  async downloadStream(token: string, imageId: string, op = 'glance.image.download'): Promise<StreamedResponse> {
    return this.transport.stream(this.baseUrl, { op, method: 'GET', path: '/v2/images/{image_id}/file', params: { image_id: imageId }, headers: this.h(token), expect: [200] });
  }

  /**
   * Bytes [offset, offset+length) of the image file, via HTTP Range (206), on the transport's data
   * path (node:http keep-alive, one preallocated buffer). Any other length is a RangeLengthError.
   */
  async downloadRange(token: string, imageId: string, offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    try {
      return await this.transport.range(this.baseUrl, { op: 'glance.image.download_range', path: '/v2/images/{image_id}/file', params: { image_id: imageId }, headers: this.h(token), expect: [206] }, offset, length);
    } catch (err) {
      if (err instanceof ResponseLengthError) throw new RangeLengthError(imageId, offset, length, err.got);
      if (err instanceof HttpError && err.status === 400 && RANGES_REFUSED_RE.test(err.bodyExcerpt)) throw new RangesRefusedError(imageId, err.message);
      throw err;
    }
  }
}

/**
 * What Glance answers (400) to a ranged GET when the image's store cannot read at an offset
 * (glance_store's RBD driver lacks READ_RANDOM; `glance_store/capabilities.py`).
 */
export const RANGES_REFUSED_RE = /Getting images randomly from this store is not supported/;

/** The image's store refuses ranged reads (Glance on RBD): read it whole (`downloadStream`). */
export class RangesRefusedError extends Error {
  /** see `isRangesRefused` (adapters): the agent's fetcher streams the blob whole instead */
  readonly rangesRefused = true;
  /** were it retried as a range, it would fail the same way */
  readonly controlErrorKind = 'invalid';
  constructor(
    readonly imageId: string,
    detail: string,
  ) {
    super(`image ${imageId}: Glance refuses ranged reads from its store (${detail})`);
    this.name = 'RangesRefusedError';
  }
}

/** A range whose body is not the length asked for: wrong bytes from the store (the agent counts it as a corrupt chunk). */
export class RangeLengthError extends ResponseLengthError {
  constructor(imageId: string, offset: number, expected: number, got: number) {
    super('glance.image.download_range', `image ${imageId}`, expected, got, `range at ${offset}`);
    this.name = 'RangeLengthError';
  }
}
