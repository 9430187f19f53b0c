/**
 * @module web/lib/receipts
 * Message status as its sender sees it, from the members' receipt watermarks (WhatsApp's
 * rule: delivered when every recipient has it, read when every recipient read it).
 * Pure, so it is unit tested in Node.
 */
import type { Watermark } from '../../client/index.js';

export type Watermarks = ReadonlyMap<string, Pick<Watermark, 'deliveredSeq' | 'readSeq'>>;

export interface MessageStatus {
  status: 'sent' | 'delivered' | 'read';
  /** Members other than the author. */
  recipients: number;
  delivered: number;
  read: number;
}

/** Folds watermark updates into the map (they only move forward). */
export function mergeWatermarks(current: Watermarks, updates: readonly Watermark[]): Map<string, Pick<Watermark, 'deliveredSeq' | 'readSeq'>> {
  const next = new Map(current);
  for (const w of updates) {
    const old = next.get(w.userId);
    next.set(w.userId, {
      deliveredSeq: Math.max(old?.deliveredSeq ?? 0, w.deliveredSeq, w.readSeq),
      readSeq: Math.max(old?.readSeq ?? 0, w.readSeq),
    });
  }
  return next;
}

export function messageStatus(seq: number, authorId: string, memberIds: readonly string[], watermarks: Watermarks): MessageStatus {
  const recipients = memberIds.filter((id) => id !== authorId);
  let delivered = 0;
  let read = 0;
  for (const id of recipients) {
    const w = watermarks.get(id);
    if (!w) continue;
    if (w.readSeq >= seq) read++;
    if (w.deliveredSeq >= seq || w.readSeq >= seq) delivered++;
  }
  const n = recipients.length;
  const status = n > 0 && read === n ? 'read' : n > 0 && delivered === n ? 'delivered' : 'sent';
  return { status, recipients: n, delivered, read };
}
