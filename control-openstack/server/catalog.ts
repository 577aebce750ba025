// After `keystone-manage bootstrap`: the service project, the glance/barbican service users, the
// image and key-manager services and endpoints, and the roles the placement design needs — by
// direct Keystone v3 calls (the openstack CLI costs 2–3 s per call). Idempotent.
import { CallRecorder, Transport } from '../../adapters/transport/index.js';
import { KeystoneSession } from '../client/session.js';

export const REGION = 'RegionOne';
/** roles the design uses: `member`/`reader` come from bootstrap, `creator` is Barbican's */
export const EXTRA_ROLES = ['member', 'reader', 'creator'] as const;

export interface CatalogInputs {
  identityUrl: string;
  adminPassword: string;
  serviceUsers: { name: string; password: string }[];
  services: { type: string; name: string; url: string }[];
}

export async function bootstrapCatalog(inputs: CatalogInputs): Promise<void> {
  const transport = new Transport({ plane: 'openstack', recorder: new CallRecorder() });
  const session = new KeystoneSession(transport, inputs.identityUrl, {
    kind: 'password',
    username: 'admin',
    userDomain: 'Default',
    password: inputs.adminPassword,
    scope: { projectName: 'admin', projectDomain: 'Default' },
  });
  const ks = session.keystone;
  const token = await session.token();

  const roles = new Map((await ks.listRoles(token)).map((r) => [r.name, r.id]));
  for (const name of EXTRA_ROLES) if (!roles.has(name)) roles.set(name, (await ks.createRole(token, name)).id);
  const adminRole = roles.get('admin');
  if (!adminRole) throw new Error('keystone bootstrap did not create the admin role');

  const serviceProject = (await ks.findProjects(token, 'service'))[0] ?? (await ks.createProject(token, { name: 'service', description: 'OpenStack service users' }));

  for (const u of inputs.serviceUsers) {
    const user = (await ks.findUsers(token, u.name))[0] ?? (await ks.createUser(token, { name: u.name, password: u.password, defaultProjectId: serviceProject.id }));
    // without admin on the service project every token validation is a 401
    await ks.assignProjectRole(token, serviceProject.id, user.id, adminRole);
  }

  const services = await ks.listServices(token);
  const endpoints = await ks.listEndpoints(token);
  for (const s of inputs.services) {
    const serviceId = services.find((x) => x.type === s.type)?.id ?? (await ks.createService(token, { type: s.type, name: s.name })).id;
    for (const iface of ['public', 'internal', 'admin']) {
      if (endpoints.some((e) => e.service_id === serviceId && e.interface === iface)) continue;
      await ks.createEndpoint(token, { serviceId, interface: iface, url: s.url, region: REGION });
    }
  }
}
