// environments/ssh: SSH nodes for `--env real --inventory` (inventory, connections, the bundled
// agent copied and run over SSH) and node VMs (qemu guests with sshd and Node, as an inventory).
export { InventorySchema, SshNodeSchema, parseInventory, loadInventory, inventoryText, MAX_INVENTORY_BYTES, type Inventory, type SshNode } from './inventory.js';
export { SshConnection, shellQuote, describeConnectError, type ExecResult } from './connection.js';
export { probeNode, probeCommand, parseProbe, requireAgentHost, MIN_NODE_MAJOR, type NodeMachine, type ProbeResult } from './probe.js';
export { agentBundle, bundleCacheDir, BUNDLE_PACKAGE_JSON } from './bundle.js';
export { loopbackPorts, viaTunnel, SshHost, RemoteAgent } from './remote.js';
export { sshHosts } from './hosts.js';
export { nodeVmsUp, nodeVmsDown, nodeVmImage, MAX_NODE_VMS, type NodeVmsUpOptions } from './vms.js';
export { ownerGone, thisOwner, removeStaleFolders, listRunFolders, OwnerSchema, OWNER_FILE, type Owner } from './stale.js';
