// environments/containers/: containers as nodes through the Docker Engine API (dockerode; Docker or
// Podman's compatible service), an agent runtime of the emulation (docs/emulate.md "Containers").
export { containerLauncher, demuxLogs, removeStale, CONTAINER_PREFIX } from './launcher.js';
export { parseEngine, type EngineEndpoint } from './engines.js';
export { buildRootfs, ensureImage, IMAGE_REPO } from './image.js';
