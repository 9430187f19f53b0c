/**
 * @module bench/report
 * Turns the load generator's figures into the report: ratios against the baselines of
 * the same run (with the issue's targets), a text table, an SVG chart drawn from the
 * numbers, and the generated part of docs/BENCHMARKS.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { E2EE_CRYPTO_HEAD, e2eeCryptoRows } from './e2ee-crypto.mjs';

/** The targets of issue 6, each read from figures of one run. */
const TARGETS = [
  { name: '1:1 msgs/s, service / sqlite', shape: '1:1 max', metric: (r) => r.msgsPerS, vs: 'sqlite', atLeast: 0.9 },
  { name: 'group 10 msgs/s, service / sqlite', shape: 'group 10 max', metric: (r) => r.msgsPerS, vs: 'sqlite', atLeast: 0.9 },
  { name: 'group 100 deliveries/s, service / no-storage', shape: 'group 100 max', metric: (r) => r.deliveriesPerS, vs: 'memory', atLeast: 1.0 },
  { name: 'p50 send→receive at 100 msg/s, service / sqlite', shape: '1:1 100/s', metric: (r) => r.recv.p50, vs: 'sqlite', atMost: 1.2 },
  { name: 'p50 send→ack at 100 msg/s, service / sqlite', shape: '1:1 100/s', metric: (r) => r.ack.p50, vs: 'sqlite', atMost: 1.2 },
];

/** Issue 19's targets: where real traffic is (many small conversations, steady rates, tails). */
const STEADY_TARGETS = [
  { name: '50x2 max msgs/s, service / sqlite', shape: /^\d+x2 parallel$/, metric: (r) => r.msgsPerS, vs: 'sqlite', atLeast: 0.9 },
  { name: '50x2 max CPU per message until quiet, service / sqlite', shape: /^\d+x2 parallel$/, metric: (r) => r.cpuPerMsgUntilQuietMs, vs: 'sqlite', atMost: 1.5 },
  { name: '1:1 100/s CPU per message until quiet, service / sqlite', shape: '1:1 100/s', metric: (r) => r.cpuPerMsgUntilQuietMs, vs: 'sqlite', atMost: 1.5 },
  { name: 'group 100 at 50/s p50 send→receive, service / sqlite', shape: 'group 100 50/s', metric: (r) => r.recv.p50, vs: 'sqlite', atMost: 1.2 },
  { name: 'group 100 at 50/s p95 send→receive, service / sqlite', shape: 'group 100 50/s', metric: (r) => r.recv.p95, vs: 'sqlite', atMost: 1.5 },
  { name: 'group 10 max CPU per message until quiet, service / sqlite', shape: 'group 10 max', metric: (r) => r.cpuPerMsgUntilQuietMs, vs: 'sqlite', atMost: 1.0 },
  { name: 'group 100 max CPU per message until quiet, service / sqlite', shape: 'group 100 max', metric: (r) => r.cpuPerMsgUntilQuietMs, vs: 'sqlite', atMost: 1.0 },
];

/** Issue 19's history target, read from the history walks (bench/load.mjs, runHistory). */
const HISTORY_TARGET = { name: 'history events/s, service / sqlite', shape: 'history pages of 100', metric: (r) => r.eventsPerS, vs: 'sqlite', atLeast: 0.8 };

/** Informational ratios: no target in the issue, but a reader wants them beside the rest. */
const CONTEXT = [
  { name: 'group 100 deliveries/s, service / sqlite', shape: 'group 100 max', metric: (r) => r.deliveriesPerS, vs: 'sqlite' },
  { name: '50x2 at a steady rate, p50 send→receive, service / sqlite', shape: /^\d+x2 \d+\/s$/, metric: (r) => r.recv.p50, vs: 'sqlite' },
  { name: '50x10 max msgs/s, service / sqlite', shape: /^\d+x10 max$/, metric: (r) => r.msgsPerS, vs: 'sqlite' },
  { name: 'group 99 at 50/s (fan-out on write) p50 send→receive, service / sqlite', shape: 'group 99 50/s', metric: (r) => r.recv.p50, vs: 'sqlite' },
  { name: 'group 99 at 50/s (fan-out on write) p95 send→receive, service / sqlite', shape: 'group 99 50/s', metric: (r) => r.recv.p95, vs: 'sqlite' },
  { name: 'group 99 at 50/s (fan-out on write) CPU per message until quiet, service / sqlite', shape: 'group 99 50/s', metric: (r) => r.cpuPerMsgUntilQuietMs, vs: 'sqlite' },
];

/**
 * The HTTP wires against WebSocket delivery of the same messages in the same conversation
 * at the same moment (bench/shapes/stream.mjs): the issue's target compares what a
 * fallback client with the conversation open reads (its feed) with the chat window's
 * socket; the device event stream over the same wire, against the inbox socket, tells
 * the wire's own share on the path through the member's UserDO.
 */
const STREAM_TARGETS = [
  { name: 'p50 delivery at 100 msg/s, SSE / chat-window WebSocket', shape: 'sse-latency', wire: 'sse', vs: 'websocket', atMost: 2 },
  { name: 'p50 delivery at 100 msg/s, long poll / chat-window WebSocket', shape: 'long-poll-latency', wire: 'long-poll', vs: 'websocket', atMost: 2 },
  { name: 'p50 delivery at 100 msg/s, SSE device stream / inbox WebSocket', shape: 'sse-latency', wire: 'sse-inbox', vs: 'inbox' },
  { name: 'p50 delivery at 100 msg/s, long-poll device stream / inbox WebSocket', shape: 'long-poll-latency', wire: 'long-poll-inbox', vs: 'inbox' },
];

/**
 * End-to-end encrypted conversations against plain ones of the same shape, same run
 * (bench/shapes/e2ee.mjs): informational, no target in issue 17.
 */
const E2EE_RATIOS = [
  { what: 'msgs/s', metric: (r) => r.msgsPerS },
  { what: 'p50 send→ack', metric: (r) => r.ack.p50 },
  { what: 'p50 send→receive', metric: (r) => r.recv.p50 },
  { what: 'p95 send→receive', metric: (r) => r.recv.p95 },
  { what: 'runtime CPU per message', metric: (r) => r.cpuPerMsgMs },
  { what: 'runtime CPU per message until quiet', metric: (r) => r.cpuPerMsgUntilQuietMs },
];

/** Ratios of the means over the rounds, as for every other shape. */
function e2eeRatios(rows) {
  const shapes = [...new Set(rows.map((r) => r.shape))];
  return shapes.flatMap((shape) => {
    const plain = rows.find((r) => r.shape === shape && r.target === 'plain');
    const enc = rows.find((r) => r.shape === shape && r.target !== 'plain');
    if (!plain || !enc) return [];
    return E2EE_RATIOS.map((spec) => ratioOf({ name: `${shape.replace(/^e2ee-send /, '')} ${spec.what}, ${enc.target} / plain` }, spec.metric(enc), spec.metric(plain)));
  }).filter(Boolean);
}

/**
 * The same ratios per round: each round runs plain and encrypted back to back, so a ratio
 * of one round compares neighbouring moments, and the spread of these says how far the
 * machine's noise moved it (a round where other work starved the runtime stands out).
 */
function e2eePerRound(rounds) {
  const shapes = [...new Set(rounds.map((r) => r.shape))];
  return shapes.map((shape) => {
    const of = rounds.filter((r) => r.shape === shape);
    const byRound = [...new Set(of.map((r) => r.round))].map((n) => [of.find((r) => r.round === n && r.target === 'plain'), of.find((r) => r.round === n && r.target !== 'plain')]).filter(([a, b]) => a && b);
    const scheme = byRound[0]?.[1].target ?? '?';
    const per = (metric) => {
      const values = byRound.map(([plain, enc]) => (metric(plain) ? Math.round((metric(enc) / metric(plain)) * 100) / 100 : null)).filter((v) => v !== null);
      const sorted = [...values].sort((a, b) => a - b);
      const median = sorted.length === 0 ? null : sorted.length % 2 ? sorted[sorted.length >> 1] : Math.round(((sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2) * 100) / 100;
      return `${values.join(', ')} (median ${median})`;
    };
    return `${shape}, ${scheme} / plain by round: msgs/s ${per((r) => r.msgsPerS)}; p50 send→receive ${per((r) => r.recv.p50)}; runtime CPU per message ${per((r) => r.cpuPerMsgMs)}.`;
  });
}

const IDLE_TARGET = 10_000;

function find(rows, shape, target) {
  return rows.find((r) => (shape instanceof RegExp ? shape.test(r.shape) : r.shape === shape) && r.target === target);
}

/**
 * The ratio of the means over the rounds, with the ratio of each round beside it: each
 * round runs the targets back to back, so their spread says how far the machine's noise
 * moved the figure in this run.
 */
function ratio(rows, spec, rounds = []) {
  const service = find(rows, spec.shape, 'service');
  const base = find(rows, spec.shape, spec.vs);
  if (!service || !base) return null;
  const result = ratioOf(spec, spec.metric(service), spec.metric(base));
  if (!result) return null;
  const numbers = [...new Set(rounds.map((r) => r.round))].sort((a, b) => a - b);
  const byRound = numbers.flatMap((n) => {
    const ofRound = rounds.filter((r) => r.round === n);
    const [a, b] = [find(ofRound, spec.shape, 'service'), find(ofRound, spec.shape, spec.vs)];
    const each = a && b ? ratioOf(spec, spec.metric(a), spec.metric(b)) : null;
    return each ? [each.ratio] : [];
  });
  return byRound.length > 1 ? { ...result, byRound } : result;
}

function ratioOf(spec, a, b) {
  if (a === null || b === null || b === 0) return null;
  const value = Math.round((a / b) * 100) / 100;
  const met = spec.atLeast !== undefined ? value >= spec.atLeast : spec.atMost !== undefined ? value <= spec.atMost : null;
  const goal = spec.atLeast !== undefined ? `>= ${spec.atLeast}` : spec.atMost !== undefined ? `<= ${spec.atMost}` : '';
  return { name: spec.name, service: a, baseline: b, ratio: value, goal, met };
}

/**
 * Send→receive includes the send itself, the same for every reader: when the sender's
 * acks fall behind (a congested send path, a loaded machine), every reader's latency is
 * mostly that queue and the ratio tends to 1 whatever the wire. Such a run is not judged.
 */
const STREAM_CONGESTED_ACK_P50_MS = 50;

function streamRatio(streams, spec) {
  const row = streams.find((r) => r.shape === spec.shape);
  if (!row) return null;
  const result = ratioOf(spec, row.readers[spec.wire].recv.p50, row.readers[spec.vs].recv.p50);
  const congested = row.msgsPerS < 0.9 * row.rate || row.ack.p50 === null || row.ack.p50 > STREAM_CONGESTED_ACK_P50_MS;
  if (!result || !congested || result.met === null) return result;
  return { ...result, name: `${spec.name} (not judged: send path congested, send→ack p50 ${row.ack.p50} ms at ${row.msgsPerS} msg/s)`, met: null };
}

/**
 * Inbox fan-out against the chat windows' fan-out of the same run: deliveries/s to 99
 * inbox sockets (every member's UserDO queues and pushes each message: the largest group
 * that fans out on write) against deliveries/s to 100 chat-window sockets of one
 * conversation (`group 100 max`), both at max rate with 2 senders and 16 sends in flight
 * each. Informational: no target. Full runs only: a quick run's inbox group has 20 members.
 */
function inboxRatio(load) {
  const inbox = load.inbox.find((r) => r.shape.endsWith(' max') && r.inboxes === 99);
  const chat = find(load.chat, 'group 100 max', 'service');
  if (!inbox || !chat) return null;
  return ratioOf({ name: 'group 99/100 deliveries/s at max rate, inbox sockets / chat windows' }, inbox.deliveriesPerS, chat.deliveriesPerS);
}

/**
 * The first history page each target served, before the walks' warm-up (bench/load.mjs,
 * HISTORY_WARMUP_PAGES): it pays for whatever went cold since the conversation's load
 * (objects the runtime evicted, code it dropped). Informational.
 */
function historyWarmupRatio(load) {
  const firstPage = (target) => load.historyWarmup?.find((r) => r.target === target)?.firstPageMs ?? null;
  return ratioOf({ name: 'history first page before the warm-up (ms), service / sqlite' }, firstPage('service'), firstPage('sqlite'));
}

export function buildReport({ load, e2eeCrypto = null, ...meta }) {
  const ratios = [
    ...[...TARGETS, ...STEADY_TARGETS, ...CONTEXT].map((spec) => ratio(load.chat, spec, load.rounds)),
    ratio(load.history, HISTORY_TARGET, load.historyRounds),
    historyWarmupRatio(load),
    ...STREAM_TARGETS.map((spec) => streamRatio(load.streams, spec)),
    inboxRatio(load),
    ...e2eeRatios(load.e2ee ?? []),
  ].filter(Boolean);
  const idle = load.idle.find((r) => r.target === 'service');
  if (idle) {
    ratios.push({
      name: 'idle hibernated sockets held by one object (service)',
      service: idle.held,
      baseline: load.idle.find((r) => r.target === 'sqlite')?.held ?? null,
      ratio: null,
      goal: `>= ${IDLE_TARGET}`,
      // A run that could not attempt the target (see IDLE_UNDER_WRANGLER_DEV) neither meets nor misses it.
      met: load.plan.idle >= IDLE_TARGET ? idle.held >= IDLE_TARGET : null,
    });
  }
  return { ...meta, plan: load.plan, loadSeconds: load.loadSeconds, ratios, chat: load.chat, history: load.history, streams: load.streams, inbox: load.inbox, channel: load.channel ?? [], e2ee: load.e2ee ?? [], e2eePerRound: e2eePerRound(load.e2eeRounds ?? []), e2eeCrypto, idle: load.idle, streamRounds: load.streamRounds, inboxRounds: load.inboxRounds };
}

// ── Text and Markdown tables ─────────────────────────────────────────────────────

const lat = (l) => (l.p50 === null ? '–' : `${l.p50} / ${l.p95} / ${l.p99}`);
const verdict = (met) => (met === null ? '–' : met ? 'met' : 'MISSED');

function chatRows(report) {
  return report.chat.map((r) => [r.shape, r.target, r.sockets, r.msgsPerS, r.deliveriesPerS, lat(r.ack), lat(r.recv), r.runtimeCpu, r.cpuPerMsgMs ?? '–', r.cpuPerMsgUntilQuietMs ?? '–', r.quietAfterS ?? '–', r.loadCpu, r.runtimeRssMb, r.lost]);
}
const CHAT_HEAD = ['shape', 'target', 'sockets', 'msgs/s', 'deliveries/s', 'ack p50/95/99 ms', 'recv p50/95/99 ms', 'runtime cpu', 'cpu ms/msg', 'cpu ms/msg until quiet', 'quiet after s', 'load cpu', 'rss MB', 'lost'];

const RATIO_HEAD = ['ratio', 'measured', 'against', 'ratio', 'by round', 'target', 'verdict'];
const ratioRows = (report, ratios = report.ratios) => ratios.map((r) => [r.name, r.service, r.baseline ?? '–', r.ratio ?? '–', r.byRound?.join(', ') ?? '–', r.goal || '–', verdict(r.met)]);
/** The page's table leaves out the encrypted/plain ratios: the per-round notes under the encryption table give them. */
const isE2eeRatio = (r) => r.name.endsWith(' / plain');

const HISTORY_HEAD = ['target', 'pages', 'events/s', 'page p50/95/99 ms', 'runtime cpu'];
const historyRows = (report) => report.history.map((r) => [r.target, r.pages, r.eventsPerS, lat(r.page), r.runtimeCpu]);

const STREAM_HEAD = ['shape', 'reader', 'deliveries/s', 'recv p50/95/99 ms', 'lost'];
const WIRE_LABELS = {
  websocket: 'chat-window WebSocket',
  inbox: 'inbox WebSocket',
  sse: 'SSE (conversation feed)',
  'long-poll': 'long poll (conversation feed)',
  'sse-inbox': 'SSE (device event stream)',
  'long-poll-inbox': 'long poll (device event stream)',
};
const streamRows = (report) =>
  report.streams.flatMap((r) => Object.entries(r.readers).map(([wire, x]) => [r.shape, WIRE_LABELS[wire] ?? wire, x.deliveriesPerS, lat(x.recv), x.lost]));
const streamNotes = (report) =>
  report.streams.map((r) => {
    const usage = `${r.shape}: ${r.messages} messages measured at ${r.msgsPerS} msg/s, send→ack ${lat(r.ack)} ms, runtime cpu ${r.runtimeCpu}, load cpu ${r.loadCpu}, duplicates ${r.duplicates}${r.wireEnded ? `, ${r.wire} ended early: ${r.wireEnded}` : ''}.`;
    const p = r.repoll;
    if (!p) return usage;
    return `${usage} Re-polls: ${p.pollsPerS} polls/s, ${p.eventsPerPoll} events/poll, poll answered in ${lat(p.pollMs)} ms, client gap answer→next poll ${lat(p.gapMs)} ms; ${Math.round((p.inGapShare ?? 0) * 100)}% of messages were sent before the poll that carried them left (recv ${lat(p.recvInGap)} ms) vs sent while it waited (recv ${lat(p.recvHeld)} ms).`;
  });

const INBOX_HEAD = ['shape', 'inboxes', 'msgs/s', 'inbox deliveries/s', 'ack p50/95/99 ms', 'inbox recv p50/95/99 ms', 'runtime cpu', 'load cpu', 'rss MB', 'drain s', 'lost', 'missing', 'repeated'];
const inboxRows = (report) =>
  report.inbox.map((r) => [r.shape, r.inboxes, r.msgsPerS, r.deliveriesPerS, lat(r.ack), lat(r.recv), r.runtimeCpu, r.loadCpu, r.runtimeRssMb, r.drainS, r.lost, r.missing, r.repeated]);

const CHANNEL_HEAD = ['shape', 'sockets', 'msgs/s', 'deliveries/s', 'recv p50/95/99 ms', 'runtime cpu', 'cpu ms/msg', 'load cpu', 'rss MB', 'lost', 'repeated', 'out of order'];
const channelRows = (report) =>
  report.channel.map((r) => [r.shape, r.sockets, r.msgsPerS, r.deliveriesPerS, lat(r.recv), r.runtimeCpu, r.cpuPerMsgMs, r.loadCpu, r.runtimeRssMb, r.lost, r.repeated ?? '–', r.outOfOrder ?? '–']);

const E2EE_HEAD = ['shape', 'sent', 'sockets', 'msgs/s', 'deliveries/s', 'ack p50/95/99 ms', 'recv p50/95/99 ms', 'runtime cpu', 'cpu ms/msg', 'cpu ms/msg until quiet', 'load cpu', 'content bytes', 'lost'];
const e2eeRows = (report) =>
  (report.e2ee ?? []).map((r) => [r.shape, r.target, r.sockets, r.msgsPerS, r.deliveriesPerS, lat(r.ack), lat(r.recv), r.runtimeCpu, r.cpuPerMsgMs, r.cpuPerMsgUntilQuietMs, r.loadCpu, Math.round(r.envelopeBytes), r.lost]);
const e2eeCryptoNote = (report) =>
  report.e2eeCrypto ? [`SDK crypto (Node ${report.versions.node}): CPU µs per message (the process's user + system time), median of ${report.e2eeCrypto.runs} runs; payload ${report.e2eeCrypto.payloadBytes} bytes (a short text, padded); load average ${report.e2eeCrypto.loadAverage?.join(' ') ?? '–'} after.`] : [];

const IDLE_HEAD = ['target', 'sockets', 'held after idle', 'runtime alive', 'first connect error', 'hibernated', 'connects/s', 'wake + broadcast ms', 'runtime rss before → connected → idle MB', 'runtime KiB/socket', 'proxy KiB/socket'];
const idleRows = (report) =>
  report.idle.map((r) => [r.target, r.connected, r.held, r.runtimeAlive, r.firstError ?? '–', r.hibernated ?? 'not observable', r.connectPerS, r.wakeBroadcastMs, `${r.rssBeforeMb} → ${r.rssConnectedMb} → ${r.rssIdleMb}`, r.kbPerSocketIdle, r.proxyKbPerSocketIdle]);

function textTable(head, rows) {
  const all = [head, ...rows].map((row) => row.map(String));
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  return all.map((row, n) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ') + (n === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n');
}

function mdTable(head, rows) {
  return [head, head.map(() => '---'), ...rows].map((row) => `| ${row.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`).join('\n');
}

export function renderTable(report) {
  // `--only` runs leave most sections empty: print the ones that have rows.
  const sections = [
    [CHAT_HEAD, chatRows(report)],
    [HISTORY_HEAD, historyRows(report)],
    [STREAM_HEAD, streamRows(report), streamNotes(report)],
    [INBOX_HEAD, inboxRows(report)],
    [CHANNEL_HEAD, channelRows(report)],
    [E2EE_HEAD, e2eeRows(report), report.e2eePerRound ?? []],
    [E2EE_CRYPTO_HEAD, e2eeCryptoRows(report.e2eeCrypto), e2eeCryptoNote(report)],
    [IDLE_HEAD, idleRows(report)],
    [RATIO_HEAD, ratioRows(report)],
  ].filter(([, rows]) => rows.length > 0);
  return [
    `Benchmark ${report.quick ? '(quick) ' : ''}${report.startedAt} on ${report.machine.cores} x ${report.machine.cpu}`,
    ...sections.flatMap(([head, rows, notes = []]) => ['', textTable(head, rows), ...notes]),
  ].join('\n');
}

// ── docs/BENCHMARKS.md ───────────────────────────────────────────────────────────

const BEGIN = '<!-- bench:generated:begin -->';
const END = '<!-- bench:generated:end -->';

function markdown(report) {
  const m = report.machine;
  return [
    `Run ${report.startedAt} (${report.loadSeconds} s of load), on ${m.cores} x ${m.cpu}, ${m.memoryGb} GB RAM, load average at start ${m.loadAverageAtStart}; Node ${report.versions.node}, wrangler ${report.versions.wrangler}, workerd ${report.versions.workerd}. Harness: ${report.harness}.`,
    '',
    '![Benchmark chart](bench-latest.svg)',
    '',
    '### Against the targets',
    '',
    mdTable(RATIO_HEAD, ratioRows(report, report.ratios.filter((r) => !isE2eeRatio(r)))),
    '',
    '### Chat shapes',
    '',
    mdTable(CHAT_HEAD, chatRows(report)),
    '',
    '### History (pages of 100, one request at a time)',
    '',
    mdTable(HISTORY_HEAD, historyRows(report)),
    '',
    '### SSE and long-poll delivery (one group: a sender, and a reader on each wire)',
    '',
    mdTable(STREAM_HEAD, streamRows(report)),
    '',
    ...streamNotes(report).map((n) => `- ${n}`),
    '',
    '### Fan-out to the inbox sockets of a group of 99 (on write)',
    '',
    mdTable(INBOX_HEAD, inboxRows(report)),
    '',
    '### Channel: 1 poster, N readers, on relays and on one object',
    '',
    mdTable(CHANNEL_HEAD, channelRows(report)),
    '',
    '### End-to-end encrypted against plain conversations (send path)',
    '',
    mdTable(E2EE_HEAD, e2eeRows(report)),
    '',
    ...(report.e2eePerRound ?? []).map((n) => `- ${n}`),
    '',
    '### End-to-end encryption in the SDK (Node, µs per message)',
    '',
    mdTable(E2EE_CRYPTO_HEAD, e2eeCryptoRows(report.e2eeCrypto)),
    '',
    ...e2eeCryptoNote(report),
    '',
    '### Idle capacity',
    '',
    mdTable(IDLE_HEAD, idleRows(report)),
  ].join('\n');
}

/** Replaces what lies between the markers, keeping the hand-written text around it. */
export function rewriteBenchmarksDoc(path, report) {
  const doc = readFileSync(path, 'utf8');
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${path} lacks the ${BEGIN} … ${END} markers`);
  writeFileSync(path, `${doc.slice(0, begin + BEGIN.length)}\n${markdown(report)}\n${doc.slice(end)}`);
}

// ── The chart ────────────────────────────────────────────────────────────────────

const COLORS = {
  service: '#d9480f',
  sqlite: '#1c7ed6',
  memory: '#868e96',
  websocket: '#d9480f',
  inbox: '#f08c00',
  sse: '#2f9e44',
  'long-poll': '#7048e8',
  'sse-inbox': '#8ce99a',
  'long-poll-inbox': '#b197fc',
};
const LABELS = { service: 'service', sqlite: 'SQLite baseline', memory: 'no-storage baseline' };

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Horizontal grouped bars: one group per shape, one bar per target, each on its own axis. */
function barPanel({ x, y, width, title, groups, unit }) {
  const barH = 14;
  const gap = 10;
  const labelW = 120;
  const plotW = width - labelW - 70;
  const parts = [`<text x="${x}" y="${y}" font-weight="bold">${esc(title)}</text>`];
  let cy = y + 14;
  for (const group of groups) {
    const max = Math.max(...group.bars.map((b) => b.value ?? 0), 1);
    parts.push(`<text x="${x}" y="${cy + barH + 4}" >${esc(group.label)}</text>`);
    for (const bar of group.bars) {
      const w = bar.value === null ? 0 : Math.max(1, (bar.value / max) * plotW);
      parts.push(`<rect x="${x + labelW}" y="${cy}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[bar.target]}"/>`);
      parts.push(`<text x="${x + labelW + w + 4}" y="${cy + barH - 4}" font-size="10">${bar.value === null ? '–' : esc(bar.value)}${unit}${bar.label ? ` ${esc(bar.label)}` : ''}</text>`);
      cy += barH;
    }
    cy += gap;
  }
  return { svg: parts.join('\n'), bottom: cy };
}

export function renderSvg(report) {
  const shapes = [...new Set(report.chat.map((r) => r.shape))];
  const bars = (metric, shapeList) =>
    shapeList.map((shape) => ({
      label: shape,
      bars: ['service', 'sqlite', 'memory'].map((target) => {
        const row = find(report.chat, shape, target);
        return { target, value: row ? metric(row) : null };
      }),
    }));
  const width = 980;
  const throughput = barPanel({ x: 20, y: 60, width: width / 2 - 20, title: 'Messages accepted per second', groups: bars((r) => r.msgsPerS, shapes.filter((s) => !s.includes('/s'))), unit: '' });
  const deliveries = barPanel({ x: width / 2 + 10, y: 60, width: width / 2 - 20, title: 'Deliveries per second', groups: bars((r) => r.deliveriesPerS, shapes.filter((s) => !s.includes('/s'))), unit: '' });
  const latencyTop = Math.max(throughput.bottom, deliveries.bottom) + 20;
  const rateShape = shapes.find((s) => s.includes('/s'));
  const latency = barPanel({ x: 20, y: latencyTop, width: width / 2 - 20, title: `p50 send→receive at ${rateShape ?? ''} (ms)`, groups: rateShape ? bars((r) => r.recv.p50, [rateShape]) : [], unit: ' ms' });
  const latency99 = barPanel({ x: width / 2 + 10, y: latencyTop, width: width / 2 - 20, title: `p99 send→receive at ${rateShape ?? ''} (ms)`, groups: rateShape ? bars((r) => r.recv.p99, [rateShape]) : [], unit: ' ms' });
  // Each wire's bar is labelled: the legend above names the targets of the chat shapes.
  const wires = barPanel({
    x: 20,
    y: Math.max(latency.bottom, latency99.bottom) + 20,
    width: width - 40,
    title: 'p50 delivery at 100 msg/s by wire, same messages (service) (ms)',
    groups: report.streams.map((r) => ({ label: r.shape, bars: Object.entries(r.readers).map(([wire, x]) => ({ target: wire, value: x.recv.p50, label: WIRE_LABELS[wire] ?? wire })) })),
    unit: ' ms',
  });
  const height = (report.streams.length > 0 ? wires.bottom : Math.max(latency.bottom, latency99.bottom)) + 20;
  const legend = ['service', 'sqlite', 'memory']
    .map((t, i) => `<rect x="${20 + i * 200}" y="34" width="12" height="12" fill="${COLORS[t]}"/><text x="${36 + i * 200}" y="44">${LABELS[t]}</text>`)
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="20" font-size="14" font-weight="bold">${esc(`edge-chat benchmark, ${report.startedAt.slice(0, 16)}Z, ${report.machine.cores} cores (each shape scaled to its own largest bar)`)}</text>
${legend}
${throughput.svg}
${deliveries.svg}
${latency.svg}
${latency99.svg}
${report.streams.length > 0 ? wires.svg : ''}
</svg>
`;
}
