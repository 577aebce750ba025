// The objects the emulator keeps in its database, in CloudStack's own field names where a
// response carries them (private bookkeeping fields start with an underscore).
export interface ZoneRec {
  id: string;
  name: string;
  type: 'Core' | 'Edge';
  networktype: 'Advanced';
  allocationstate: 'Enabled';
  localstorageenabled: boolean;
  created: number;
}
export interface PodRec {
  id: string;
  name: string;
  zoneid: string;
}
export interface ClusterRec {
  id: string;
  name: string;
  podid: string;
  zoneid: string;
}
export interface HostRec {
  id: string;
  name: string;
  zoneid: string;
  podid: string;
  clusterid: string;
  /** its local primary storage pool */
  poolid: string;
  cpunumber: number;
  cpuspeed: number;
  memorytotal: number;
  ipaddress: string;
  created: number;
  /** the KVM agent's credential (CloudStack: the agent's keystore / cluster token) */
  _agentToken: string;
}
export interface PoolRec {
  id: string;
  name: string;
  zoneid: string;
  clusterid: string;
  hostid: string;
  scope: 'HOST';
}
export interface OfferingRec {
  id: string;
  name: string;
  displaytext: string;
  cpunumber: number;
  cpuspeed: number;
  memory: number;
  created: number;
}
export interface OsTypeRec {
  id: string;
  description: string;
  oscategoryid: string;
}
export interface AccountRec {
  id: string;
  name: string;
  /** 1 root admin, 0 user */
  accounttype: 0 | 1;
  domainid: string;
  created: number;
  /** absent in databases written before disableAccount existed: enabled */
  state?: AccountState;
}
/** Account.State: a disabled or locked account's keys no longer authenticate (ApiServer.verifyRequest) */
export type AccountState = 'enabled' | 'disabled' | 'locked';
export interface UserRec {
  id: string;
  username: string;
  accountid: string;
  apikey: string;
  secretkey: string;
  /** scrypt hash, hex, with its salt */
  _password: string;
  _salt: string;
  created: number;
}
export type TemplateStoreState = 'DOWNLOAD_IN_PROGRESS' | 'DOWNLOADED' | 'DOWNLOAD_ERROR' | 'BYPASSED' | 'NOT_DOWNLOADED';
export interface TemplateZoneRec {
  zoneid: string;
  state: TemplateStoreState;
  percent: number;
  error?: string;
}
export interface TemplateRec {
  id: string;
  name: string;
  displaytext: string;
  url: string;
  format: string;
  hypervisor: string;
  ostypeid: string;
  checksum?: string;
  directdownload: boolean;
  ispublic: boolean;
  isfeatured: boolean;
  isextractable: boolean;
  passwordenabled: boolean;
  accountid: string;
  sharedWith: string[];
  details: Record<string, string>;
  zones: TemplateZoneRec[];
  size?: number;
  created: number;
  removed?: number;
}
/** template_spool_ref: a template's copy on one primary pool. */
export interface TemplatePoolRec {
  id: string;
  templateid: string;
  poolid: string;
  bytes: number;
  created: number;
}
export type VmState = 'Starting' | 'Running' | 'Stopping' | 'Stopped' | 'Destroyed' | 'Expunging' | 'Error';
export interface VmRec {
  id: string;
  name: string;
  displayname: string;
  instancename: string;
  state: VmState;
  zoneid: string;
  hostid?: string;
  lasthostid?: string;
  templateid: string;
  serviceofferingid: string;
  accountid: string;
  ipaddress: string;
  macaddress: string;
  created: number;
}
export interface JobRec {
  jobid: string;
  accountid: string;
  userid: string;
  cmd: string;
  jobstatus: 0 | 1 | 2;
  jobresultcode: number;
  jobresult?: Record<string, unknown>;
  jobinstancetype?: string;
  jobinstanceid?: string;
  created: number;
  completed?: number;
}
export interface TagRec {
  id: string;
  key: string;
  value: string;
  resourcetype: string;
  resourceid: string;
  accountid: string;
}
/** The added KMS: a data key per image (CloudStack has none). */
export interface SecretRec {
  id: string;
  /** base64 */
  payload: string;
  /** accounts allowed to read it, besides the admin */
  readers: string[];
  created: number;
}
/** An image published on the added HTTP origin: its signed manifest and sealed blob (files). */
export interface ImageRec {
  id: string;
  imageId: string;
  version: string;
  templateid: string;
  secretid: string;
  blobBytes: number;
}
