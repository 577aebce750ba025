import { describe, expect, it } from 'vitest';
import { authRequestBody, findEndpoint, imageReadiness, ImageSchema, TokenBodySchema } from '../../../control-openstack/client/index.js';
import { countConfigLines, databaseSetupSql, keystoneUwsgiArgs, renderBarbicanConf, renderBarbicanUwsgi, renderGlanceConf, renderKeystoneConf, type ConfigInputs } from '../../../control-openstack/server/configs.js';
import { listeningSockets } from '../../../control-openstack/server/measure.js';
import { DEFAULT_PORTS, stackLayout } from '../../../control-openstack/server/layout.js';

const inputs: ConfigInputs = {
  layout: stackLayout('/srv/st'),
  ports: DEFAULT_PORTS,
  dbPassword: "p'w",
  glancePassword: 'g',
  barbicanPassword: 'b',
  barbicanKek: 'a2VrLWtlay1rZWstMzItYnl0ZXMtMDEyMzQ1Njc4OWFiY2Q=',
  passwordHashRounds: 4,
  workers: 2,
};

describe('rendered configuration', () => {
  it('Keystone: fernet, keys and state under the state dir, test hash rounds', () => {
    const conf = renderKeystoneConf(inputs);
    expect(conf).toContain('provider = fernet');
    expect(conf).toContain('key_repository = /srv/st/keystone/fernet-keys');
    expect(conf).toContain('password_hash_rounds = 4');
    expect(conf).toContain("mysql+pymysql://edgeplane:p'w@127.0.0.1:3306/keystone");
    const args = keystoneUwsgiArgs(inputs);
    expect(args).toContain('--die-on-term');
    expect(args[args.indexOf('--add-header') + 1]).toBe('Connection: close');
  });

  it('Glance: keystone flavor and the file store', () => {
    const conf = renderGlanceConf(inputs);
    expect(conf).toMatch(/\[paste_deploy\]\nflavor = keystone/);
    expect(conf).toContain('filesystem_store_datadir = /srv/st/glance/images/');
    expect(conf).toContain('enabled_backends = file:file');
  });

  it('Barbican: simple_crypto with the KEK, uwsgi with paste and Connection: close', () => {
    expect(renderBarbicanConf(inputs)).toMatch(/\[simple_crypto_plugin\]\nkek = a2Vr/);
    const ini = renderBarbicanUwsgi(inputs);
    expect(ini).toContain('paste = config:/srv/st/barbican/barbican-api-paste.ini');
    expect(ini).toContain('add-header = Connection: close');
    expect(ini).toContain('http-socket = 127.0.0.1:9311');
  });

  it('database SQL escapes the password', () => {
    expect(databaseSetupSql(inputs)).toContain("IDENTIFIED BY 'p''w'");
  });

  it('counts meaningful config lines', () => {
    expect(countConfigLines('[a]\n# c\n; d\n\nk = v\n')).toBe(2);
  });
});

describe('response parsing', () => {
  it('token body and catalog endpoint discovery', () => {
    const body = TokenBodySchema.parse({
      token: {
        expires_at: '2030-01-01T00:00:00Z',
        methods: ['password'],
        user: { id: 'u', name: 'n', domain: { id: 'default', name: 'Default' } },
        project: { id: 'p', name: 'pn' },
        catalog: [
          {
            type: 'image',
            endpoints: [
              { interface: 'internal', url: 'http://i' },
              { interface: 'public', url: 'http://g:9292/' },
            ],
          },
        ],
      },
    });
    expect(findEndpoint(body.token.catalog!, 'image')).toBe('http://g:9292');
    expect(() => findEndpoint(body.token.catalog!, 'key-manager')).toThrow(/key-manager/);
  });

  it('images keep custom properties; statuses map to readiness', () => {
    const img = ImageSchema.parse({ id: 'i', status: 'deactivated', visibility: 'shared', edgeplane_version: '1' });
    expect((img as Record<string, unknown>).edgeplane_version).toBe('1');
    expect(imageReadiness(img)?.controlErrorKind).toBe('forbidden');
    expect(imageReadiness({ id: 'i', status: 'saving' })?.controlErrorKind).toBe('unavailable');
    expect(imageReadiness({ id: 'i', status: 'killed' })?.controlErrorKind).toBe('invalid');
    expect(imageReadiness({ id: 'i', status: 'active' })).toBeNull();
    expect(() => ImageSchema.parse({ id: 'i', status: 'weird', visibility: 'x' })).toThrow();
  });

  it('auth request bodies for password and application credentials', () => {
    expect(authRequestBody({ kind: 'applicationCredential', id: 'a', secret: 's' })).toEqual({ auth: { identity: { methods: ['application_credential'], application_credential: { id: 'a', secret: 's' } } } });
    expect(authRequestBody({ kind: 'password', userId: 'u', password: 'p', scope: { projectId: 'p1' } })).toEqual({
      auth: { identity: { methods: ['password'], password: { user: { id: 'u', password: 'p' } } }, scope: { project: { id: 'p1' } } },
    });
  });

  it('parses listening sockets from /proc/net/tcp', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:1388 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    expect([...listeningSockets([table])]).toEqual([['4242', 5000]]);
  });
});
