/**
 * @module routes/inbox
 * The inbox socket: one per device, carrying the events of all the user's conversations
 * (GET /v1/inbox/ws?ticket=). Authenticated exactly like a chat-window socket.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { authenticateUpgrade, forwardUpgrade } from './upgrade.js';

export const inboxRoutes = new Hono<AppBindings>().get('/ws', async (c) => {
  const identity = await authenticateUpgrade(c);
  if (identity instanceof Response) return identity;
  return forwardUpgrade(c.env.USERS.getByName(identity.userId), identity, 'https://user.internal/inbox');
});
