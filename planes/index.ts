// The composition root: the one file that lists the control planes. Everything else (scenario
// schema, CLI, agent configuration, environments, reports and their colours) derives from it.
// A new plane is one folder exporting a descriptor, plus one line here.
import { PlaneRegistry } from '../adapters/index.js';
import { cloudstack } from '../control-cloudstack/index.js';
import { opennebula } from '../control-opennebula/index.js';
import { openstack } from '../control-openstack/index.js';
import { testPlane } from '../control-test-plane/index.js';

export const planes = new PlaneRegistry([openstack, opennebula, cloudstack, testPlane]);

import { ScenarioCatalog } from '../scenarios/index.js';

/** Scenario files naming the planes that have a simulation model. */
export const scenarios = new ScenarioCatalog(planes.simulated);

/** The node clients an agent may be configured with (agent.yaml `plane.kind`). */
export const nodeClients = planes.descriptors.flatMap((d) => (d.nodeClient ? [d.nodeClient] : []));

/** Plane names and colours, in listing order, for reports. */
export const reportPlanes = planes.descriptors.map((d) => ({ name: d.name, colour: d.colour }));

/** The simulator's worker-thread entry (environments/sim-pool.ts runs it; see configureSimThreads). */
export const simWorkerEntry = new URL('./sim-worker.js', import.meta.url);
