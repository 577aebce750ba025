// The management server's side of the KVM agents: a host whose agent connects again (restarted
// after a crash) or goes silent has the commands sent to its old session failed at once, not left
// to their timeout.
import { describe, expect, it } from 'vitest';
import { AgentHub } from '../../../control-cloudstack/index.js';

describe('AgentHub', () => {
  it('fails the commands of a host whose agent connects again; other hosts keep theirs', async () => {
    const hub = new AgentHub(30_000, () => {});
    const a = hub.connect('host-a');
    const b = hub.connect('host-b');
    const onA = hub.send('host-a', 'StartCommand', { vm: { id: 'v1' } }, 60_000);
    const onB = hub.send('host-b', 'StartCommand', { vm: { id: 'v2' } }, 60_000);
    const [cmdA] = (await hub.poll(a, 10))!;
    const [cmdB] = (await hub.poll(b, 10))!;
    expect(cmdA!.name).toBe('StartCommand');
    // host-a's agent restarts: its new session does not inherit the command, which fails now
    const a2 = hub.connect('host-a');
    expect(await onA).toEqual({ result: false, details: 'host host-a disconnected: its agent connected again' });
    expect(hub.answer(a, cmdA!.seq, { result: true })).toBe(false);
    expect(hub.hostOf(a2)).toBe('host-a');
    expect(hub.answer(b, cmdB!.seq, { result: true })).toBe(true);
    expect(await onB).toEqual({ result: true });
    hub.close();
  });
});
