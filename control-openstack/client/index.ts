// The real OpenStack clients: Keystone v3, Glance v2, Barbican v1, the node and the operator.
export * from './schemas.js';
export * from './keystone.js';
export * from './session.js';
export * from './glance.js';
export * from './barbican.js';
export * from './node.js';
export * from './operator.js';
export * from './node-plane.js';
