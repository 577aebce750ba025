// The local OpenNebula front-end: build cache, prefix, configuration, daemons, edge services.
export { up, down, status, loadFrontEnd, adminClient, daemonEnv, hostName, waitForHosts, type UpOptions, type RunningFrontEnd, type FrontEndStatus, type StopResult } from './launcher.js';
export { oneLayout, portsFrom, FRONTEND_SSH_NAME, DEFAULT_STATE_DIR, DEFAULT_PORT, DEFAULT_HOSTS, TESTBED_SCHED_INTERVAL_S, DAEMONS, STOCK_FILES, type OneLayout, type OnePorts, type DaemonName } from './layout.js';
export { detectInstallation, assemblyPlan, oneProgramsIn, installationId, selfContainedPrefix, REQUIRED_FILES, SYSTEM_PLACES, type Installation, type InstallKind, type CopyStep } from './installed.js';
export { ensureBuild, cacheValid, readBuildRecord, sha256File, defaultSource, cacheRoot, DEFAULT_CACHE_ROOT, type BuildCache } from './build.js';
export { onedConf, monitordConf, schedConf, monitordClientControl, changedLines, configLines, blocks, ConfigTemplateError } from './configs.js';
export { readOneState, readCredentials, parseCredentialsText, type OneState, type OneCredentials } from './state.js';
export { createEdgeServer, parseRange, TOKEN_CACHE_MS } from './edge-services.js';
export { blobFile, keyFile, writeKey, readKey, type KeyRecord } from './edge-store.js';
export { processesMatching, processTree, isRunning, commandLine } from './processes.js';
export { renderUp, renderStatus } from './text.js';
export { measureLiveProfile, frontEndProcesses, programOf, configLinesOf, type ProcessGroup } from './measure.js';
export { sshConfigText, writeSshConfig } from './ssh-config.js';
