export * from './units.js';
export * from './ids.js';
export {
  scenarioSchemaFor,
  type ScenarioSchema,
  type ScenarioPlane,
  PLANE_MODES,
  PLACEMENTS,
  STRATEGIES,
  MAX_FLEET_NODES,
  COUNT_LIMITS,
  type Scenario,
  type ScenarioInput,
  type LinkParams,
  type BootDist,
  type NodeParams,
  type SiteParams,
  type SwarmParams,
  type NodeSelector,
  type PlaneName,
  type PlaneConfig,
  type SiteOverride,
  type NodeOverride,
  type Crash,
  type SiteWindow,
  type ControlOutage,
  type Faults,
} from './schema.js';
export { ScenarioCatalog, SHIPPED_DIR, PACKAGE_ROOT } from './loader.js';
export { formatPath } from './issues.js';
export { SCHEMA_ID } from './json-schema.js';
