/**
 * @module moderation/filter
 * Content filtering of messages in conversations that are not end-to-end encrypted (the
 * server never sees plaintext of those, so nothing here applies to them): blocked terms,
 * a cap on links, and the same text sent to many conversations by one user (the usual
 * shape of spam). Plain functions over a config object; the ConversationDO applies them.
 */
import { AppError } from '../errors.js';
import type { MessageContent } from '../protocol/index.js';

export interface FilterConfig {
  /** Matched case-insensitively as whole words (or phrases) in the normalised text. */
  blockedTerms: readonly string[];
  /** Most links (http(s):// or www.) in one message. */
  maxLinks: number;
  /**
   * A text (normalised, at least `minLength` characters so "ok" and "thanks" never count)
   * may be sent to at most `maxConversations` conversations within `windowMs`.
   */
  repeat: { maxConversations: number; windowMs: number; minLength: number };
}

/**
 * The defaults. `CONTENT_FILTER_BLOCKED_TERMS` (comma-separated, in wrangler.toml vars or
 * a secret) replaces `blockedTerms`; the rest changes here.
 */
export const CONTENT_FILTER: FilterConfig = {
  blockedTerms: ['free crypto giveaway', 'double your bitcoin'],
  maxLinks: 5,
  repeat: { maxConversations: 3, windowMs: 10 * 60_000, minLength: 20 },
};

export function filterConfig(env: { CONTENT_FILTER_BLOCKED_TERMS?: string | undefined }): FilterConfig {
  const override = env.CONTENT_FILTER_BLOCKED_TERMS;
  if (override === undefined) return CONTENT_FILTER;
  const blockedTerms = override.split(',').map(normalise).filter((t) => t.length > 0);
  return { ...CONTENT_FILTER, blockedTerms };
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Lower case, compatibility forms folded, whitespace collapsed: what "the same text" means.
 * ASCII is its own NFKC form, and most messages are ASCII: they skip the fold, which was
 * ~6% of a send's CPU.
 */
export function normalise(text: string): string {
  return (ASCII.test(text) ? text : text.normalize('NFKC')).toLowerCase().replace(/\s+/gu, ' ').trim();
}

/**
 * A fingerprint of the normalised text (cyrb53: fast, synchronous, 53 bits). The send
 * path is synchronous, so no SubtleCrypto; a collision only makes a text look repeated.
 */
export function textHash(text: string): string {
  return hashNormalised(normalise(text));
}

function hashNormalised(s: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** The text a filter looks at, or null for content it does not inspect (media). */
export function filterableText(content: MessageContent): string | null {
  return content.type === 'text' ? content.text : null;
}

/** Whether a text takes part in the repeated-text check. */
export function isRepeatCandidate(text: string, config: FilterConfig): boolean {
  return normalise(text).length >= config.repeat.minLength;
}

const LINK = /\b(?:https?:\/\/|www\.)\S/giu;

/**
 * Throws `content_rejected` naming the rule a text breaks. `repeated` holds the hashes of
 * texts this user already sent to `repeat.maxConversations` other conversations.
 */
export function assertAcceptable(text: string, config: FilterConfig, repeated: ReadonlySet<string>): void {
  const normal = normalise(text);
  if (blockedTermsPattern(config)?.test(normal)) {
    throw new AppError('content_rejected', 'This message contains a blocked term.', { rule: 'blocked_term' });
  }
  const links = normal.match(LINK)?.length ?? 0;
  if (links > config.maxLinks) {
    throw new AppError('content_rejected', `Messages may contain at most ${config.maxLinks} links.`, { rule: 'too_many_links' });
  }
  if (repeated.size > 0 && normal.length >= config.repeat.minLength && repeated.has(hashNormalised(normal))) {
    throw new AppError(
      'content_rejected',
      `The same text may go to at most ${config.repeat.maxConversations} conversations in ${config.repeat.windowMs / 60_000} minutes.`,
      { rule: 'repeated_text' },
    );
  }
}

const patterns = new WeakMap<FilterConfig, RegExp | null>();

/**
 * Every blocked term as whole words, in one expression compiled once per config: a
 * pattern per term per message was a visible part of a send's cost.
 */
function blockedTermsPattern(config: FilterConfig): RegExp | null {
  let pattern = patterns.get(config);
  if (pattern === undefined) {
    const terms = config.blockedTerms.map(normalise).filter((t) => t.length > 0).map(escapeRegExp);
    pattern = terms.length === 0 ? null : new RegExp(`(?:^|[^\\p{L}\\p{N}])(?:${terms.join('|')})(?:$|[^\\p{L}\\p{N}])`, 'u');
    patterns.set(config, pattern);
  }
  return pattern;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
