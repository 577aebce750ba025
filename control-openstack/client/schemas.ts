// zod schemas of the Keystone v3, Glance v2 and Barbican v1 answers the clients read; the types
// the clients use are derived from them.
import { z } from 'zod';

// ---- Keystone v3 ----
const Named = z.object({ id: z.string(), name: z.string().optional() });

export const CatalogEntrySchema = z.object({
  type: z.string(),
  name: z.string().optional(),
  id: z.string().optional(),
  endpoints: z.array(z.object({ interface: z.string(), url: z.string(), region_id: z.string().nullish(), id: z.string().optional() })),
});
export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

export const TokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    methods: z.array(z.string()),
    user: Named.extend({ domain: Named.optional() }),
    project: Named.extend({ domain: Named.optional() }).optional(),
    roles: z.array(Named).optional(),
    catalog: z.array(CatalogEntrySchema).optional(),
    application_credential: Named.optional(),
  }),
});
export type TokenBody = z.infer<typeof TokenBodySchema>;

export const ProjectSchema = z.object({
  id: z.string(),
  name: z.string(),
  domain_id: z.string(),
  enabled: z.boolean(),
  description: z.string().nullish(),
  tags: z.array(z.string()).default([]),
});
export type Project = z.infer<typeof ProjectSchema>;
export const ProjectBodySchema = z.object({ project: ProjectSchema });
export const ProjectListSchema = z.object({ projects: z.array(ProjectSchema) });
export const TagsBodySchema = z.object({ tags: z.array(z.string()) });

export const UserSchema = z.object({
  id: z.string(),
  name: z.string(),
  domain_id: z.string(),
  enabled: z.boolean(),
  default_project_id: z.string().nullish(),
});
export type User = z.infer<typeof UserSchema>;
export const UserBodySchema = z.object({ user: UserSchema });
export const UserListSchema = z.object({ users: z.array(UserSchema) });

export const RoleListSchema = z.object({ roles: z.array(z.object({ id: z.string(), name: z.string() })) });
export const RoleBodySchema = z.object({ role: z.object({ id: z.string(), name: z.string() }) });

export const ServiceSchema = z.object({ id: z.string(), type: z.string(), name: z.string().optional() });
export const ServiceBodySchema = z.object({ service: ServiceSchema });
export const ServiceListSchema = z.object({ services: z.array(ServiceSchema) });
export const EndpointSchema = z.object({ id: z.string(), service_id: z.string(), interface: z.string(), url: z.string() });
export const EndpointBodySchema = z.object({ endpoint: EndpointSchema });
export const EndpointListSchema = z.object({ endpoints: z.array(EndpointSchema) });

export const ApplicationCredentialBodySchema = z.object({
  application_credential: z.object({ id: z.string(), name: z.string(), secret: z.string().optional(), project_id: z.string() }),
});

export const CredentialSchema = z.object({ id: z.string(), user_id: z.string(), type: z.string(), blob: z.string(), project_id: z.string().nullish() });
export type Credential = z.infer<typeof CredentialSchema>;
export const CredentialBodySchema = z.object({ credential: CredentialSchema });
export const CredentialListSchema = z.object({ credentials: z.array(CredentialSchema) });

// ---- Glance v2 ----
export const GLANCE_STATUSES = ['queued', 'saving', 'uploading', 'importing', 'active', 'killed', 'deleted', 'pending_delete', 'deactivated'] as const;
export type GlanceStatus = (typeof GLANCE_STATUSES)[number];

/** Glance puts custom properties at the top level of the image: keep unknown keys. */
export const ImageSchema = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  status: z.enum(GLANCE_STATUSES),
  visibility: z.string(),
  owner: z.string().nullish(),
  size: z.number().nullish(),
  checksum: z.string().nullish(),
  os_hash_algo: z.string().nullish(),
  os_hash_value: z.string().nullish(),
  disk_format: z.string().nullish(),
  container_format: z.string().nullish(),
});
export type Image = z.infer<typeof ImageSchema>;

export const MemberSchema = z.object({ image_id: z.string(), member_id: z.string(), status: z.enum(['pending', 'accepted', 'rejected']) });
export type Member = z.infer<typeof MemberSchema>;
export const MemberListSchema = z.object({ members: z.array(MemberSchema) });

// ---- Barbican v1 ----
export const SecretRefSchema = z.object({ secret_ref: z.string() });
export const SecretMetaSchema = z.looseObject({
  secret_ref: z.string(),
  name: z.string().nullish(),
  status: z.string(),
  secret_type: z.string().optional(),
  content_types: z.record(z.string(), z.string()).nullish(),
});
const AclOperation = z.object({ users: z.array(z.string()).default([]), 'project-access': z.boolean().default(true) }).loose();
export const AclSchema = z.object({ read: AclOperation.optional() }).loose();
export type Acl = z.infer<typeof AclSchema>;
export const AclRefSchema = z.object({ acl_ref: z.string() });

/** `.../v1/secrets/<uuid>` -> `<uuid>` */
export function secretIdFromRef(ref: string): string {
  const id = ref.replace(/\/+$/, '').split('/').pop();
  if (!id) throw new Error(`not a secret reference: ${ref}`);
  return id;
}
