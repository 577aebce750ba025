// The OpenNebula plane: a simulation model (native: oned, the scheduler and the ssh transfer
// driver; agent: the edge agent against an added KMS and image service) and its complexity profile.
import type { PlaneDescriptor } from '../adapters/index.js';
import { opennebulaModel } from './model.js';
import { opennebulaProfile } from './profile.js';

export * from './model.js';
export * from './profile.js';

export const opennebula: PlaneDescriptor = {
  name: 'opennebula',
  colour: '#E69F00', // orange (Okabe & Ito)
  modes: ['native', 'agent'],
  options: {
    replicaCache: { description: 'OpenNebula replica cache datastore (opennebula native only)', modes: ['native'] },
  },
  services: ['oned', 'tm-ssh', 'vmm-kvm', 'frontend-http', 'kms'],
  model: opennebulaModel,
  profile: () => opennebulaProfile('native', { flags: { replicaCache: false } }),
};
