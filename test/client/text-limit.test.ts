import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/client/outbox.js';
import { LIMITS, MEDIA, MessageContent, MessageEvent, codePointLength, codePointSlice, previewOf, quoteOf } from '../../src/protocol/index.js';

/** 😀 is one code point and two UTF-16 code units. */
const EMOJI = '😀';
const emoji = (n: number) => EMOJI.repeat(n);
const text = (t: string) => ({ type: 'text' as const, text: t });
const author = { userId: 'u_alice', deviceId: 'd_phone' };

describe('message text is counted in code points, on both sides of the wire', () => {
  it('accepts 4,000 emoji (8,000 code units) and refuses 4,001, as it refuses 4,001 ASCII characters', () => {
    expect(emoji(LIMITS.maxTextLength).length).toBe(2 * LIMITS.maxTextLength);
    expect(MessageContent.safeParse(text(emoji(LIMITS.maxTextLength))).success).toBe(true);
    expect(MessageContent.safeParse(text('x'.repeat(LIMITS.maxTextLength))).success).toBe(true);
    expect(MessageContent.safeParse(text(emoji(LIMITS.maxTextLength + 1))).success).toBe(false);
    expect(MessageContent.safeParse(text('x'.repeat(LIMITS.maxTextLength + 1))).success).toBe(false);
    expect(MessageContent.safeParse(text(`${'x'.repeat(LIMITS.maxTextLength)}${EMOJI}`)).success).toBe(false);
    expect(MessageContent.safeParse(text('')).success).toBe(false);
    const refused = MessageContent.safeParse(text(emoji(LIMITS.maxTextLength + 1)));
    expect(refused.error?.issues[0]).toMatchObject({ code: 'too_big', maximum: LIMITS.maxTextLength, path: ['text'] });
  });

  it('counts captions the same way', () => {
    const media = (caption: string) => ({ type: 'media' as const, mediaId: 'm_1', caption });
    expect(MessageContent.safeParse(media(emoji(MEDIA.maxCaptionLength))).success).toBe(true);
    expect(MessageContent.safeParse(media(emoji(MEDIA.maxCaptionLength + 1))).success).toBe(false);
  });

  it("the SDK refuses what the server would, before it enters the outbox", async () => {
    const outbox = new Outbox();
    await expect(outbox.add('g_one', text(emoji(LIMITS.maxTextLength)))).resolves.toMatchObject({ conversationId: 'g_one' });
    expect(() => outbox.add('g_one', text(emoji(LIMITS.maxTextLength + 1)))).toThrow();
    expect(outbox.pending('g_one')).toHaveLength(1);
  });

  it('cuts quotes and previews at a code point, never inside a surrogate pair', () => {
    const long = `a${emoji(300)}`;
    const quote = quoteOf(text(long))!;
    expect(codePointLength(quote)).toBe(LIMITS.maxQuoteLength);
    expect(quote).toBe(`a${emoji(LIMITS.maxQuoteLength - 1)}`);
    const event = MessageEvent.parse({ seq: 2, ts: 1, author, type: 'message', cmid: 'cmid00000002', content: text('x'), replyTo: { seq: 1, quote } });
    expect(event.replyTo?.quote).toBe(quote);

    const preview = previewOf({ seq: 1, author, content: text(long) }, 100)!.text;
    expect(codePointLength(preview)).toBe(100);
    expect(preview).toBe(`a${emoji(98)}…`);
    expect(previewOf({ seq: 1, author, content: text(emoji(100)) }, 100)!.text).toBe(emoji(100));
  });

  it('codePointSlice keeps short text whole and counts a lone surrogate once', () => {
    expect(codePointSlice('abc', 5)).toBe('abc');
    expect(codePointSlice(`${EMOJI}b${EMOJI}`, 2)).toBe(`${EMOJI}b`);
    expect(codePointLength('\ud83d')).toBe(1);
  });
});
