// The Apache CloudStack plane: a simulation model (native: the management server, its allocator
// and secondary storage or direct download; agent: the edge agent) and its complexity profile.
import type { PlaneDescriptor } from '../adapters/index.js';
import { cloudstackModel } from './model.js';
import { cloudstackProfile } from './profile.js';

export * from './model.js';
export * from './profile.js';

export const cloudstack: PlaneDescriptor = {
  name: 'cloudstack',
  colour: '#009E73', // bluish green (Okabe & Ito)
  modes: ['native', 'agent'],
  options: {
    directDownload: { description: 'CloudStack direct download templates (cloudstack native only)', modes: ['native'] },
  },
  services: ['cs-management', 'secondary-storage', 'template-http', 'kms'],
  model: cloudstackModel,
  profile: () => cloudstackProfile('native', { flags: { directDownload: false } }),
};
