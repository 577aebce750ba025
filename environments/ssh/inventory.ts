// The inventory of SSH nodes (`--inventory FILE`): real Linux hosts edgeplane reaches over SSH to
// run the edge agent on them (`edgeplane run --env real --inventory`, `edgeplane nodes check`).
// YAML, checked by the schema below (types derived from it); relative key files are relative
// to the inventory file.
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError, readInputText } from '../../common/index.js';

/** An inventory is a small file: a few hundred nodes at most. */
export const MAX_INVENTORY_BYTES = 1024 * 1024;

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, . _ - (at most 63, starting with a letter or digit)');

export const SshNodeSchema = z.strictObject({
  /** the node's name in results and logs */
  name,
  /** address or DNS name of the host */
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1).max(64).default('root'),
  /** a private key file (OpenSSH or PEM); without it, the SSH agent at $SSH_AUTH_SOCK */
  key: z.string().min(1).optional(),
  /** the key file's passphrase, if it has one (prefer an agent) */
  passphrase: z.string().optional(),
  /** a site name, for grouping in results (the node's machine record carries it) */
  site: z.string().min(1).max(63).optional(),
  /** where edgeplane may create its folder on the host (one `edgeplane-<run>-<name>` folder, removed afterwards) */
  workDir: z.string().min(1).default('/tmp'),
  /** the host key's SHA-256 fingerprint (`SHA256:...`, as `ssh-keygen -lf` prints it); checked when given */
  hostKey: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'SHA256:<base64>, as ssh-keygen -lf prints it')
    .optional(),
  /** the Node.js binary on the host (PATH lookup by default) */
  node: z.string().min(1).default('node'),
});

export const InventorySchema = z.strictObject({
  nodes: z.array(SshNodeSchema).min(1).max(256),
  /** seconds to wait for the TCP connection and the SSH handshake */
  connectTimeoutS: z.number().positive().max(600).default(15),
  /**
   * How the nodes reach the plane: `tunnel` (default) forwards the plane's loopback ports from
   * each host's 127.0.0.1 back to this machine over the SSH connection (ssh -R); `direct`: the
   * plane's URLs as they are (the plane must listen on an address the hosts can reach).
   */
  plane: z
    .strictObject({
      access: z.enum(['tunnel', 'direct']).default('tunnel'),
      /** more loopback ports to forward in tunnel mode (e.g. the ports of a service catalog the agent discovers) */
      ports: z.array(z.number().int().min(1).max(65535)).max(64).default([]),
    })
    .default({ access: 'tunnel', ports: [] }),
});

export type SshNode = z.infer<typeof SshNodeSchema>;
export type Inventory = z.infer<typeof InventorySchema>;

/** Parses inventory text; `file` names it in messages and anchors relative key paths. */
export function parseInventory(text: string, file: string): Inventory {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = InventorySchema.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new InputError(`${file}: not a valid inventory: ${details[0]}`, details);
  }
  const inv = parsed.data;
  const seen = new Set<string>();
  for (const n of inv.nodes) {
    if (seen.has(n.name)) throw new InputError(`${file}: node name ${n.name} appears twice`);
    seen.add(n.name);
  }
  const base = dirname(resolve(file));
  return { ...inv, nodes: inv.nodes.map((n) => (n.key && !isAbsolute(n.key) ? { ...n, key: resolve(base, n.key) } : n)) };
}

export async function loadInventory(file: string): Promise<Inventory> {
  return parseInventory(await readInputText(file, { what: 'inventory', maxBytes: MAX_INVENTORY_BYTES }), file);
}

/** The inventory text for a list of nodes (what `nodes vms up` writes). */
export function inventoryText(nodes: SshNode[], header: string): string {
  const lines = [`# ${header}`, 'nodes:'];
  for (const n of nodes) {
    lines.push(`  - name: ${n.name}`, `    host: ${n.host}`, `    port: ${n.port}`, `    user: ${n.user}`);
    if (n.key) lines.push(`    key: ${JSON.stringify(n.key)}`);
    if (n.site) lines.push(`    site: ${n.site}`);
    if (n.hostKey) lines.push(`    hostKey: ${JSON.stringify(n.hostKey)}`);
    lines.push(`    workDir: ${JSON.stringify(n.workDir)}`);
  }
  return `${lines.join('\n')}\n`;
}
