/**
 * @module moderation/reports
 * Reports in D1, where moderators (outside this service) read them. A message report
 * keeps the reported content as the reporter saw it, except in end-to-end encrypted
 * conversations, whose plaintext the server never has. Reports also demote the reported
 * account (REPUTATION in src/ratelimit/rules.ts). Its tier lives in its UserDO
 * (src/user/devices.ts), not in a per-request read of this table: the route tells that
 * object of each report at once (`noteReport`), and the object re-reads recent
 * reporters from D1 only with the account's other facts, at most every
 * ACCOUNT_FACTS_REFRESH_MS, so a report an operator deleted stops counting.
 */
import { newId } from '../ids.js';
import type { MessageContent } from '../protocol/index.js';

export interface NewReport {
  reporterId: string;
  targetUserId: string;
  conversationId: string | null;
  seq: number | null;
  reason: string;
  content: MessageContent | null;
}

/** Stores a report once per reporter and target (message or user); a repeat returns the first. */
export async function fileReport(db: D1Database, report: NewReport, now = Date.now()): Promise<{ reportId: string; duplicate: boolean }> {
  const id = `r_${newId('u').slice(2)}`;
  const inserted = await db
    .prepare(
      `INSERT INTO reports (id, reporter_id, target_user_id, conversation_id, seq, reason, content, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    .bind(id, report.reporterId, report.targetUserId, report.conversationId, report.seq, report.reason, report.content ? JSON.stringify(report.content) : null, now)
    .run();
  if (inserted.meta.changes === 1) return { reportId: id, duplicate: false };
  const existing = await db
    .prepare(
      `SELECT id FROM reports WHERE reporter_id = ? AND target_user_id = ? AND coalesce(conversation_id, '') = ? AND coalesce(seq, 0) = ?`,
    )
    .bind(report.reporterId, report.targetUserId, report.conversationId ?? '', report.seq ?? 0)
    .first<{ id: string }>();
  return { reportId: existing?.id ?? id, duplicate: true };
}
