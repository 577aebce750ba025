// The client's session and resume logic against a small fake oned (an HTTP server speaking
// XML-RPC with OpenNebula's response arrays): token limit, revocation, and a rollout whose
// allocate answer is lost (no duplicate VM).
import { afterEach, describe, expect, it } from 'vitest';
import { OneClient, REVOKE_OP_NAME, rollOut } from '../../../control-opennebula/index.js';
import { type FakeOned, fakeOned as startFake } from './fake-oned.js';

let server: FakeOned | null = null;
afterEach(() => server?.close());

async function fakeOned(handler: Parameters<typeof startFake>[0]): Promise<string> {
  server = await startFake(handler);
  return server.url;
}

/** One pinned VM (host 0) rolled out against the fake, polling every millisecond. */
const pinnedRollout = (url: string, vmName: string, extra: { stuckMs?: number } = {}) =>
  rollOut({ endpoint: url, username: 'oneadmin', password: 'pw', targets: [{ node: 'n0', hostId: 0, vmName }], placement: 'pinned', vmTemplate: 'CPU = "0.01"', t0: performance.now(), pollMs: 1, ...extra });

describe('login tokens', () => {
  it('revokes the held token before a new login, so a session never holds more than one', async () => {
    const live = new Set<string>();
    let n = 0;
    const url = await fakeOned((m, a) => {
      if (m !== 'one.user.login') return [true, '', 0];
      const [, , token, valid] = a;
      if (valid === 0) return live.delete(token as string) ? [true, token!, 0] : [false, `[one.user.login] Could not find token: ${token}`, 0x1000, -1];
      if (live.size >= 10) return [false, '[one.user.login] Max number of tokens limit reached.', 0x1000, -1];
      const t = `tok${n++}`;
      live.add(t);
      return [true, t, 0];
    });
    const c = new OneClient({ endpoint: url, username: 'node', password: 'pw' });
    for (let i = 0; i < 25; i++) await c.login();
    expect(live.size).toBe(1);
    expect(c.session).toBe(`node:${[...live][0]}`);
    expect(c.recorder.records().filter((r) => r.op === REVOKE_OP_NAME)).toHaveLength(24);
    await c.close();
    expect(live.size).toBe(0);
  });
  it('at the limit (tokens of an earlier client), resets the user’s tokens once and logs in', async () => {
    const live = new Set(Array.from({ length: 10 }, (_, i) => `old${i}`));
    const url = await fakeOned((_m, a) => {
      const [, , token, valid] = a;
      if (valid === 0 && token === '') {
        live.clear();
        return [true, '', 0];
      }
      if (live.size >= 10) return [false, '[one.user.login] Max number of tokens limit reached.', 0x1000, -1];
      live.add('new');
      return [true, 'new', 0];
    });
    const c = new OneClient({ endpoint: url, username: 'node', password: 'pw' });
    await c.login();
    expect([...live]).toEqual(['new']);
  });
});

describe('a native rollout whose allocate answer is lost', () => {
  it('finds the VM by its name instead of allocating a second one', async () => {
    const vms: { id: number; name: string; state: number; lcm: number; polls: number }[] = [];
    let dropped = false;
    const url = await fakeOned((m, a, res) => {
      if (m === 'one.vm.allocate') {
        const name = /NAME = "([^"]+)"/.exec(a[1] as string)![1]!;
        vms.push({ id: vms.length, name, state: a[2] ? 2 : 1, lcm: 0, polls: 0 });
        if (!dropped) {
          dropped = true; // committed, but the answer never arrives
          res.destroy();
          return null;
        }
        return [true, vms.length - 1, 0];
      }
      if (m === 'one.vmpool.info') return [true, `<VM_POOL>${vms.map((v) => vmXml(v, true)).join('')}</VM_POOL>`, 0];
      if (m === 'one.vm.deploy') {
        const v = vms[a[1] as number]!;
        v.state = 3;
        v.lcm = 1;
        return [true, v.id, 0];
      }
      if (m === 'one.vm.info') {
        const v = vms[a[1] as number]!;
        if (++v.polls > 2) v.lcm = 3;
        return [true, vmXml(v), 0];
      }
      return [false, `[${m}] not in the fake`, 0x1000, -1];
    });
    const [d] = await pinnedRollout(url, 'vm-a');
    expect(d!.outcome).toBe('running');
    expect(vms).toHaveLength(1);
    expect(d!.unreachable).toBe(1);
    expect(d!.states.map((s) => s.state)).toEqual(['HOLD', 'ACTIVE/PROLOG', 'ACTIVE/RUNNING']);
    expect(d!.intended).toBe(true);
  });
});

describe('a native rollout whose deploy trigger a restart of oned lost', () => {
  // oned stopped right after committing a deploy: the VM sits in ACTIVE/LCM_INIT for good (the LCM
  // trigger died with the old oned). The rollout recovers it as an operator would: delete-recreate
  // (-> CLEANUP_RESUBMIT, then -> PENDING, same id), hold, deploy on its host again.
  it('recovers the stuck VM with one.vm.recover delete-recreate and deploys it on its host again', async () => {
    const vm = { id: 0, name: 'vm-a', state: 2, lcm: 0, polls: 0 };
    const calls: string[] = [];
    let deploys = 0;
    const url = await fakeOned((m, a, res) => {
      calls.push(m === 'one.vm.recover' || m === 'one.vm.action' ? `${m}(${a.slice(1).join(',')})` : m);
      if (m === 'one.vm.allocate') return [true, 0, 0];
      if (m === 'one.vm.deploy') {
        vm.state = 3;
        if (deploys++ === 0) {
          vm.lcm = 0; // committed; the answer and the LCM trigger are lost
          res.destroy();
          return null;
        }
        vm.lcm = 1;
        return [true, 0, 0];
      }
      if (m === 'one.vm.recover') {
        if (a[2] !== 4) return [false, '[one.vm.recover] not in the fake', 0x0800, 0];
        if (vm.lcm === 0) vm.lcm = 15;
        else if (vm.lcm === 15) Object.assign(vm, { state: 1, lcm: 0 });
        return [true, 0, 0];
      }
      if (m === 'one.vm.action' && a[1] === 'hold') {
        vm.state = 2;
        return [true, 0, 0];
      }
      if (m === 'one.vm.info') {
        if (vm.state === 3 && vm.lcm === 1 && ++vm.polls > 2) vm.lcm = 3;
        return [true, vmXml(vm), 0];
      }
      return [false, `[${m}] not in the fake`, 0x1000, -1];
    });
    const [d] = await pinnedRollout(url, 'vm-a', { stuckMs: 20 });
    expect(d!.outcome, d!.reason).toBe('running');
    expect(d!.vmId).toBe(0);
    expect(d!.recoveries).toBe(2);
    expect(d!.intended).toBe(true);
    expect(d!.states.map((s) => s.state)).toEqual(['HOLD', 'ACTIVE/LCM_INIT', 'ACTIVE/CLEANUP_RESUBMIT', 'PENDING', 'HOLD', 'ACTIVE/PROLOG', 'ACTIVE/RUNNING']);
    expect(calls.filter((c) => c.startsWith('one.vm.recover') || c.startsWith('one.vm.action'))).toEqual(['one.vm.recover(0,4)', 'one.vm.recover(0,4)', 'one.vm.action(hold,0)']);
    expect(calls.filter((c) => c === 'one.vm.deploy')).toHaveLength(2);
  });
  it('leaves a VM alone in LCM_INIT when oned was never unreachable (no restart, nothing lost)', async () => {
    const vm = { id: 0, name: 'vm-b', state: 2, lcm: 0, polls: 0 };
    const calls: string[] = [];
    const url = await fakeOned((m) => {
      calls.push(m);
      if (m === 'one.vm.allocate') return [true, 0, 0];
      if (m === 'one.vm.deploy') {
        vm.state = 3;
        return [true, 0, 0];
      }
      if (m === 'one.vm.info') {
        if (++vm.polls > 30) vm.lcm = 3;
        return [true, vmXml(vm), 0];
      }
      return [false, `[${m}] not in the fake`, 0x1000, -1];
    });
    const [d] = await pinnedRollout(url, 'vm-b', { stuckMs: 1 });
    expect(d!.outcome).toBe('running');
    expect(d!.recoveries).toBe(0);
    expect(calls).not.toContain('one.vm.recover');
  });
});

/** one.vm.info's VM document; `short`: as one.vmpool.info has it (the history without its times) */
function vmXml(v: { id: number; name: string; state: number; lcm: number }, short = false): string {
  const times = short
    ? '<CID>0</CID><DS_ID>0</DS_ID><VM_MAD><![CDATA[dummy]]></VM_MAD><TM_MAD><![CDATA[dummy]]></TM_MAD><ACTION><![CDATA[0]]></ACTION>'
    : '<STIME>1</STIME><PSTIME>1</PSTIME><PETIME>0</PETIME><RSTIME>0</RSTIME><RETIME>0</RETIME>';
  const hist = v.state === 3 ? `<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><HID>0</HID><HOSTNAME>h</HOSTNAME>${times}</HISTORY></HISTORY_RECORDS>` : '<HISTORY_RECORDS/>';
  return `<VM><ID>${v.id}</ID><UID>0</UID><NAME><![CDATA[${v.name}]]></NAME><STATE>${v.state}</STATE><LCM_STATE>${v.lcm}</LCM_STATE><STIME>1</STIME><ETIME>0</ETIME><TEMPLATE><CPU><![CDATA[0.01]]></CPU></TEMPLATE>${hist}</VM>`;
}

describe('the VM pool', () => {
  it('reads the short history records one.vmpool.info returns (no times), and one.vm.info’s full ones', async () => {
    const vm = { id: 7, name: 'vm-7', state: 3, lcm: 3 };
    const url = await fakeOned((m) => {
      if (m === 'one.vmpool.info') return [true, `<VM_POOL>${vmXml(vm, true)}</VM_POOL>`, 0];
      if (m === 'one.vm.info') return [true, vmXml(vm), 0];
      return [false, `[${m}] not in the fake`, 0x1000, -1];
    });
    const c = new OneClient({ endpoint: url, username: 'oneadmin', password: 'pw' });
    const [pooled] = await c.vmPool(-1);
    expect(pooled!.HISTORY_RECORDS?.HISTORY.map((h) => [h.HID, h.STIME])).toEqual([[0, undefined]]);
    expect((await c.vmInfo(7)).HISTORY_RECORDS?.HISTORY[0]?.STIME).toBe(1);
    await c.close();
  });
});
