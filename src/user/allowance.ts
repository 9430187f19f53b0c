/**
 * @module user/allowance
 * Storage of the per-user send allowance (the decision is src/ratelimit/allowance.ts):
 * one row per conversation, replaced by each report.
 */
import type { SendReport } from '../ratelimit/allowance.js';

interface Row {
  conversation_id: string;
  hits: string;
  texts: string;
  lease_tokens: number;
  lease_expires_at: number;
  [key: string]: SqlStorageValue;
}

export function load(sql: SqlStorage): SendReport[] {
  return sql.exec<Row>('SELECT * FROM send_reports').toArray().map((r) => ({
    conversationId: r.conversation_id,
    hits: JSON.parse(r.hits) as number[],
    texts: JSON.parse(r.texts) as SendReport['texts'],
    leaseTokens: r.lease_tokens,
    leaseExpiresAt: r.lease_expires_at,
  }));
}

export function save(sql: SqlStorage, report: SendReport): void {
  sql.exec(
    `INSERT INTO send_reports (conversation_id, hits, texts, lease_tokens, lease_expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (conversation_id) DO UPDATE SET hits = excluded.hits, texts = excluded.texts,
       lease_tokens = excluded.lease_tokens, lease_expires_at = excluded.lease_expires_at`,
    report.conversationId,
    JSON.stringify(report.hits),
    JSON.stringify(report.texts),
    report.leaseTokens,
    report.leaseExpiresAt,
  );
}

/** Drops reports too old to matter to any window (a report's data predates its lease's expiry). */
export function forgetOlderThan(sql: SqlStorage, before: number): void {
  sql.exec('DELETE FROM send_reports WHERE lease_expires_at < ?', before);
}
