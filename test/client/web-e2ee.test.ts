/**
 * The web client's pure pieces of end-to-end encryption: where key-change notices sit in
 * the timeline (and that a sign-out then sign-in shows once), what the list previews for
 * an encrypted conversation (what this device decrypted, else "Encrypted message"), and
 * that the device event stream keeps the seq of an encrypted last message.
 */
import { describe, expect, it } from 'vitest';
import type { ConversationSummary, DeviceEvent, MessageEvent } from '../../src/client/index.js';
import { ENCRYPTED_PREVIEW, NO_MESSAGES_PREVIEW, UNDECRYPTABLE_PREVIEW, encryptedPreviewText, knownPreview, notePreview } from '../../src/web/lib/encrypted-previews.js';
import { DELETED_PREVIEW, applyInboxEvents } from '../../src/web/lib/inbox.js';
import { digitGroups, noticeOf, noticeText, placeNotices, type KeyNotice } from '../../src/web/lib/key-notices.js';

const author = { userId: 'bob', deviceId: 'd1' };
const text = (seq: number, body: string): MessageEvent => ({ type: 'message', seq, ts: seq * 1000, author, cmid: `c${seq}`, content: { type: 'text', text: body } });
const devices = (seq: number, userId = 'bob'): KeyNotice => ({ seq, userId, kind: 'devices' });

describe('key-change notices', () => {
  it('come from devices_changed events only', () => {
    expect(noticeOf({ type: 'devices_changed', seq: 4, ts: 1, author, userId: 'bob', version: 3 } as never)).toEqual(devices(4));
    expect(noticeOf(text(5, 'hi'))).toBeNull();
  });

  it('sit before the next message, after the last one, and one per person in a row', () => {
    const messages = [text(1, 'a'), text(4, 'b')];
    const placed = placeNotices(messages, [devices(2), devices(3), devices(3.5, 'carol'), devices(6)], false);
    expect(placed.before.get(4)).toEqual([devices(3), devices(3.5, 'carol')]);
    expect(placed.after).toEqual([devices(6)]);
  });

  it('older than the first message shown wait for older history', () => {
    expect(placeNotices([text(10, 'a')], [devices(2)], true).before.size).toBe(0);
    expect(placeNotices([text(10, 'a')], [devices(2)], false).before.get(10)).toEqual([devices(2)]);
  });

  it('name the person, or say it is yours', () => {
    expect(noticeText(devices(1), 'Bob', false)).toBe("Bob's devices changed: their safety number is new.");
    expect(noticeText({ seq: 1, userId: 'bob', kind: 'identity' }, 'Bob', false)).toBe("Bob's safety number changed.");
    expect(noticeText(devices(1), 'Me', true)).toMatch(/^Your devices changed/);
  });
});

describe('encrypted conversations in the list', () => {
  const item = (lastSeq: number, previewSeq?: number): Pick<ConversationSummary, 'lastSeq' | 'preview'> => ({
    lastSeq,
    preview: previewSeq === undefined ? null : { seq: previewSeq, authorId: 'bob', text: ENCRYPTED_PREVIEW },
  });

  it('show what this device decrypted while it is the last message, else "Encrypted message"', () => {
    notePreview('c1', [text(1, 'first'), text(3, 'latest words')], 4);
    const kept = knownPreview('c1');
    expect(kept).toEqual({ seq: 3, text: 'latest words', upTo: 4 });
    expect(encryptedPreviewText(item(4), kept)).toBe('latest words');
    // A newer message, from the stream (its seq known) or from a list read (only lastSeq): not read here yet.
    expect(encryptedPreviewText(item(6, 6), kept)).toBe(ENCRYPTED_PREVIEW);
    expect(encryptedPreviewText(item(5), kept)).toBe(ENCRYPTED_PREVIEW);
    expect(encryptedPreviewText(item(0), null)).toBe(NO_MESSAGES_PREVIEW);
    expect(encryptedPreviewText(item(2), null)).toBe(ENCRYPTED_PREVIEW);
    // The service marks a deleted last message (it knows that much): said so on any device, read here or not.
    expect(encryptedPreviewText({ lastSeq: 7, preview: { seq: 7, authorId: 'bob', text: '', deleted: true } }, kept)).toBe(DELETED_PREVIEW);
    expect(encryptedPreviewText({ lastSeq: 7, preview: { seq: 7, authorId: 'bob', text: '', deleted: true } }, null)).toBe(DELETED_PREVIEW);
  });

  it('never go back to an older view, and say when the last message could not be decrypted', () => {
    notePreview('c2', [text(5, 'newer')], 5);
    notePreview('c2', [text(2, 'older')], 2);
    expect(knownPreview('c2')?.text).toBe('newer');
    notePreview('c2', [{ ...text(6, ''), content: { type: 'encrypted', scheme: 'pairwise', body: 'x', entries: [] } } as never], 6);
    expect(knownPreview('c2')?.text).toBe(UNDECRYPTABLE_PREVIEW);
  });

  it('the stream keeps an encrypted message\'s seq in the preview, with no text of it', () => {
    const summary: ConversationSummary = { id: 'c3', kind: 'direct', title: null, role: 'member', joinedAt: 0, peerId: 'bob', lastSeq: 1, lastActivityAt: 1, preview: null, unreadCount: 0, readSeq: 1, encrypted: true };
    const event = { ...text(2, ''), content: { type: 'encrypted', scheme: 'pairwise', body: 'sealed', entries: [] } };
    const fold = applyInboxEvents([summary], [{ kind: 'event', cursor: 1, conversationId: 'c3', event } as unknown as DeviceEvent], 'me', null);
    expect(fold.list[0]!.preview).toEqual({ seq: 2, authorId: 'bob', text: ENCRYPTED_PREVIEW });
  });
});

describe('safety numbers', () => {
  it('show as 12 groups of 5 digits', () => {
    const digits = '0123456789'.repeat(6);
    expect(digitGroups(digits)).toHaveLength(12);
    expect(digitGroups(digits).join('')).toBe(digits);
  });
});
