import { describe, expect, it } from 'vitest';
import { createGroup, json, openWindow, registerUser } from './helpers.js';
import { expectInOrderOnce, openInbox, range, secondDevice, sendBurst } from './inbox-helpers.js';

describe('inbox sockets and fan-out on write', () => {
  it('both devices of a user receive every message of a group, in order, once', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const alice2 = await secondDevice(alice);
    const id = await createGroup(alice, [bob, carol]);
    const [d1, d2] = [await openInbox(alice), await openInbox(alice2)];
    const bw = await openWindow(bob, id);
    const acks = await sendBurst(bw, 30, 'bob');
    expect(acks.sort((a, b) => a - b)).toEqual(range(1, 30));
    for (const d of [d1, d2]) {
      await d.until(() => d.seqs(id).length >= 30, '30 events');
      expectInOrderOnce(d.seqs(id), range(1, 30));
    }
    d1.close();
    d2.close();
    bw.close();
  });
});
