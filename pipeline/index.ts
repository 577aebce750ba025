// The image pipeline: appliance build, chunking, encryption, signing, manifest, delta.
export { TamperedError } from './errors.js';
export { alignedOffset, CryptoPool, defaultCryptoWorkers, sharedCryptoPool, UPDATE_BYTES, type Lease, type SealedChunk } from './crypto-pool.js';
export { chunkFile, fastcdcCutter, fastcdcSpec, validateChunking, DEFAULT_CHUNKING, DEFAULT_CHUNK_SIZE, MiB, type ChunkingSpec } from './chunking.js';
export { CHUNK_OVERHEAD, CIPHER_PARAMS, DATA_KEY_BYTES, deriveChunkKeys, encryptChunk, encryptChunkParts, decryptChunkParts, sha256Hex, type ChunkKeys } from './chunk-crypto.js';
export {
  generateDataKey,
  generatePublisherKeys,
  publicKeyId,
  readDataKey,
  readPublicKey,
  readSigningKey,
  toPublicKey,
  writeKeyFiles,
  KEY_FILES,
  type PublicKeyInput,
} from './keys.js';
export { IMAGE_ID_RE, keyRefProblem, MANIFEST_LIMITS, encodeManifest, manifestSchema, signManifest, toManifestInfo, verifyManifest, MANIFEST_PAYLOAD_TYPE, type ImageManifest, type ManifestChunk } from './manifest.js';
export { chunkPath, readSealed, readSealedChunk, readSealedChunkInto, readFileInto, readSealedManifest, writeSealedChunk, writeSealedManifest, prepareSealedDir, MANIFEST_FILE, CHUNKS_DIR } from './layout.js';
export { checkKeyRef, checkSealable, sealImage, openImage, verifyChunk, decryptChunk, chunkKeysFor, type SealOptions, type SealResult, type OpenOptions } from './seal.js';
export { deltaPlan, type DeltaPlan } from './delta.js';
export { isSealedDir, keyRefSlug, preparePublishInput, writeSealedBlob, type PublishInput, type PublishInputOptions } from './publish-input.js';
export {
  buildAppliance,
  buildPayloadImage,
  bootMarker,
  extractBootFiles,
  findKernel,
  readApplianceHeader,
  APPLIANCE_HEADER_BYTES,
  type AfterBoot,
  type ApplianceHeader,
  type BuildApplianceOptions,
} from './appliance.js';
export { buildCpio, type CpioEntry } from './cpio.js';
