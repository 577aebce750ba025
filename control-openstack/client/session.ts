// A Keystone session: one set of credentials, the current scoped token (reused until close to
// expiry), the service catalog from it, and a single re-authentication when a service says 401.
import { HttpError, type Transport } from '../../adapters/transport/index.js';
import { KeystoneApi, type IssuedToken, type KeystoneCredentials } from './keystone.js';
import type { CatalogEntry } from './schemas.js';

export interface SessionOptions {
  /** re-issue the token when it expires within this margin */
  expiryMarginMs?: number;
  now?: () => number;
  /** per service type, a URL used instead of the catalog's (openstacksdk's `<service>_endpoint_override`) */
  endpointOverrides?: Readonly<Record<string, string>>;
}

/** Thrown when the catalog has no endpoint of the asked type (with `controlErrorKind` for the agent). */
export class CatalogError extends Error {
  readonly controlErrorKind = 'invalid';
}

export function findEndpoint(catalog: CatalogEntry[], type: string, iface = 'public'): string {
  const entry = catalog.find((e) => e.type === type);
  const endpoint = entry?.endpoints.find((e) => e.interface === iface);
  if (!endpoint) throw new CatalogError(`no ${iface} endpoint of type ${type} in the service catalog`);
  return endpoint.url.replace(/\/+$/, '');
}

export class KeystoneSession {
  readonly keystone: KeystoneApi;
  private current: IssuedToken | null = null;
  private inflight: Promise<IssuedToken> | null = null;
  private readonly marginMs: number;
  private readonly now: () => number;
  private readonly overrides: Readonly<Record<string, string>>;

  constructor(
    readonly transport: Transport,
    authUrl: string,
    private readonly credentials: KeystoneCredentials,
    opts: SessionOptions = {},
  ) {
    this.keystone = new KeystoneApi(transport, authUrl);
    this.marginMs = opts.expiryMarginMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.overrides = opts.endpointOverrides ?? {};
  }

  /** Issue a new token now (always one `keystone.token.issue` call). */
  async login(): Promise<IssuedToken> {
    this.inflight ??= this.keystone.issueToken(this.credentials).finally(() => {
      this.inflight = null;
    });
    this.current = await this.inflight;
    return this.current;
  }

  /** The current token, re-issued only when missing or about to expire. */
  async token(): Promise<string> {
    if (!this.current || this.current.expiresAt.getTime() - this.now() < this.marginMs) await this.login();
    return this.current!.token;
  }

  get info(): IssuedToken['body'] | null {
    return this.current?.body ?? null;
  }

  get userId(): string | undefined {
    return this.current?.body.user.id;
  }

  get projectId(): string | undefined {
    return this.current?.body.project?.id;
  }

  /** Forget the token (the next call logs in again). */
  invalidate(): void {
    this.current = null;
  }

  async endpoint(type: string, iface = 'public'): Promise<string> {
    const override = this.overrides[type];
    if (override !== undefined) return override.replace(/\/+$/, '');
    await this.token();
    return findEndpoint(this.current!.body.catalog ?? [], type, iface);
  }

  /** Run `fn` with a token; on 401 log in once more and retry once (never more). */
  async authed<T>(fn: (token: string) => Promise<T>): Promise<T> {
    const token = await this.token();
    try {
      return await fn(token);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 401) throw err;
      this.invalidate();
      return fn(await this.token());
    }
  }
}
