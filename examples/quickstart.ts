/**
 * Two users chat through the SDK. Start the service first (`npm start`), then:
 *   npm run example                      # against http://127.0.0.1:8787
 *   npm run example -- http://host:port  # elsewhere
 *   npm run example -- http://127.0.0.1:8787 sse   # force a transport: websocket, sse, long-poll
 */
import { ChatClient, ChatError, type TransportKind } from 'edge-chat/client';

const baseUrl = process.argv[2] ?? 'http://127.0.0.1:8787';
const transport = (process.argv[3] ?? 'auto') as 'auto' | TransportKind;
const suffix = Math.random().toString(36).slice(2, 8);

const alice = new ChatClient({ baseUrl, transport });
const bob = new ChatClient({ baseUrl, transport });
// Which wire carries the stream, and whether it is live (a fallback shows up here).
alice.on('transport', ({ kind, state }) => console.log(`alice: ${state} via ${kind}`));
await alice.register({ handle: `alice_${suffix}`, displayName: 'Alice', password: 'correct horse battery', deviceName: 'quickstart' });
await bob.register({ handle: `bob_${suffix}`, displayName: 'Bob', password: 'correct horse battery', deviceName: 'quickstart' });

// Alice starts a direct conversation with Bob; both open it.
const peer = await alice.userByHandle(`bob_${suffix}`);
const { id } = await alice.createDirect(peer.id);
const aliceChat = await alice.open(id);
const bobChat = await bob.open(id);

const done = new Promise<void>((resolve) => {
  bobChat.on('message', (m) => {
    if (m.content?.type === 'text') console.log(`bob got #${m.seq}: ${m.content.text}`);
    if (m.seq === 3) resolve();
  });
});

// send() resolves once the server has stored the message, with its seq.
for (const text of ['hi Bob', 'this went through the outbox', 'and arrives exactly once, in order']) {
  const ack = await aliceChat.send(text);
  console.log(`alice: "${text}" stored as #${ack.seq}`);
}
await done;

// Errors carry the server's stable code.
try {
  await aliceChat.send('x'.repeat(10_000));
} catch (error) {
  if (error instanceof ChatError) console.log(`refused as expected: ${error.code}`);
}

// Scroll back: a page of history before what is on screen.
const page = await bobChat.history({ before: 3 });
console.log(`history before #3: ${page.events.length} events`);

alice.close();
bob.close();
