// Stale folders on SSH hosts (issue 12): which folders a run may remove, judged from their owner.json.
import { describe, expect, it } from 'vitest';
import { ownerGone, thisOwner, type Owner } from '../../../environments/ssh/index.js';

const here: Owner = { controller: 'ctl abc', bootId: 'boot-1', pid: 4242, start: '777' };
const alive = (pid: number) => (pid === 4242 ? '777' : pid === 5000 ? '900' : null);

describe('ownerGone', () => {
  it('a folder of this controller whose process is gone is stale; one whose process still runs is not', () => {
    expect(ownerGone({ ...here, pid: 31337 }, here, alive)).toBe(true);
    expect(ownerGone(here, here, alive)).toBe(false);
    // the pid taken by another process since: a different start time
    expect(ownerGone({ ...here, pid: 5000, start: '123' }, here, alive)).toBe(true);
    expect(ownerGone({ ...here, pid: 5000, start: '900' }, here, alive)).toBe(false);
  });

  it('a folder made before this controller booted is stale whatever its pid', () => {
    expect(ownerGone({ ...here, bootId: 'boot-0' }, here, alive)).toBe(true);
  });

  it("another controller's folder, or one without a readable owner, is not ours to judge", () => {
    expect(ownerGone({ ...here, controller: 'other xyz', pid: 31337 }, here, alive)).toBeNull();
    expect(ownerGone(null, here, alive)).toBeNull();
    expect(ownerGone({ controller: 'ctl abc' }, here, alive)).toBeNull();
    expect(ownerGone('garbage', here, alive)).toBeNull();
  });

  it('this process is its own live owner', () => {
    const me = thisOwner();
    expect(me.pid).toBe(process.pid);
    expect(me.start).not.toBe('');
    expect(ownerGone(me)).toBe(false);
    expect(ownerGone({ ...me, start: `${me.start}1` })).toBe(true);
  });
});
