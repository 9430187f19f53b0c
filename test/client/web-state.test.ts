import { describe, expect, it } from 'vitest';
import { connectionView } from '../../src/web/lib/connection.js';
import { mergeWatermarks, messageStatus } from '../../src/web/lib/receipts.js';

describe('message status from watermarks', () => {
  const members = ['me', 'b', 'c'];
  it('is sent until every recipient has it, delivered until every one read it, then read', () => {
    let w = mergeWatermarks(new Map(), [{ userId: 'b', deliveredSeq: 5, readSeq: 0 }]);
    expect(messageStatus(5, 'me', members, w)).toEqual({ status: 'sent', recipients: 2, delivered: 1, read: 0 });
    w = mergeWatermarks(w, [{ userId: 'c', deliveredSeq: 5, readSeq: 5 }]);
    expect(messageStatus(5, 'me', members, w)).toEqual({ status: 'delivered', recipients: 2, delivered: 2, read: 1 });
    w = mergeWatermarks(w, [{ userId: 'b', deliveredSeq: 6, readSeq: 6 }]);
    expect(messageStatus(5, 'me', members, w)).toEqual({ status: 'read', recipients: 2, delivered: 2, read: 2 });
    expect(messageStatus(7, 'me', members, w).status).toBe('sent');
  });

  it('never moves a watermark back, and a read implies delivered', () => {
    const w = mergeWatermarks(mergeWatermarks(new Map(), [{ userId: 'b', deliveredSeq: 9, readSeq: 8 }]), [{ userId: 'b', deliveredSeq: 2, readSeq: 1 }]);
    expect(w.get('b')).toEqual({ deliveredSeq: 9, readSeq: 8 });
    expect(mergeWatermarks(new Map(), [{ userId: 'b', deliveredSeq: 0, readSeq: 4 }]).get('b')).toEqual({ deliveredSeq: 4, readSeq: 4 });
  });

  it('a conversation with nobody else stays sent', () => {
    expect(messageStatus(1, 'me', ['me'], new Map()).status).toBe('sent');
  });
});

describe('connection badge', () => {
  it('says online with the transport only while the stream is open and the browser online', () => {
    expect(connectionView({ status: 'open', browserOnline: true, queued: 0, transport: 'websocket' })).toEqual({ tone: 'online', text: 'Online via WebSocket' });
    expect(connectionView({ status: 'open', browserOnline: false, queued: 2, transport: 'websocket' })).toEqual({ tone: 'offline', text: 'Offline · 2 queued' });
    expect(connectionView({ status: 'reconnecting', browserOnline: true, queued: 1, transport: 'websocket' })).toEqual({ tone: 'offline', text: 'Offline, reconnecting · 1 queued' });
    expect(connectionView({ status: 'connecting', browserOnline: true, queued: 0, transport: null }).tone).toBe('connecting');
  });
});
