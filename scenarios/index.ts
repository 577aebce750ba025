export * from './units.js';
export * from './ids.js';
export {
  ScenarioSchema,
  PLANE_NAMES,
  PLANE_MODES,
  PLACEMENTS,
  STRATEGIES,
  DEFAULT_MODE,
  CONTROL_SERVICES,
  MAX_FLEET_NODES,
  type Scenario,
  type ScenarioInput,
  type LinkParams,
  type BootDist,
  type NodeParams,
  type SiteParams,
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
export { parseScenario, loadScenario, listShipped, SHIPPED_DIR, PACKAGE_ROOT } from './loader.js';
export { formatPath } from './issues.js';
export { scenarioJsonSchema, scenarioJsonSchemaText, SCHEMA_ID } from './json-schema.js';
