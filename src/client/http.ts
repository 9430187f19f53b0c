/**
 * @module client/http
 * The HTTP half of the SDK: every `/v1` call, the session it authenticates with, and
 * automatic access-token refresh. Answers are checked against the protocol schemas;
 * problem bodies become `ChatError`s with the server's code.
 */
import { z } from 'zod';
import { Session } from '../protocol/index.js';
import { ChatError } from './errors.js';
import { WireErrorSchema } from './wire.js';

/** Refresh this long before the access token expires, so a call never races its expiry. */
export const REFRESH_MARGIN_MS = 30_000;

/** A call that has not answered in this long is abandoned as a network failure (and retried by its caller). */
export const REQUEST_TIMEOUT_MS = 15_000;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions<T> {
  body?: unknown;
  /** Validates a 2xx answer; omit for answers without a body (204). */
  schema?: z.ZodType<T>;
  /** Whether to send the access token (default true). */
  auth?: boolean;
  /** Overrides the client's request timeout (a long poll is held longer than a normal call). */
  timeoutMs?: number;
  /** Abandons the call (it rejects with `network`). */
  signal?: AbortSignal;
}

/**
 * @example
 * const api = new HttpApi('http://127.0.0.1:8787', fetch, (s) => save(s));
 */
export class HttpApi {
  readonly baseUrl: string;
  #session: Session | null;
  #refreshing: Promise<Session> | null = null;
  readonly #fetch: FetchLike;
  readonly #onSession: (session: Session | null) => void;
  readonly #now: () => number;
  readonly #timeoutMs: number;

  constructor(
    baseUrl: string,
    fetchFn: FetchLike,
    onSession: (session: Session | null) => void,
    options: { session?: Session | null; now?: () => number; timeoutMs?: number } = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#fetch = fetchFn;
    this.#onSession = onSession;
    this.#session = options.session ?? null;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  get session(): Session | null {
    return this.#session;
  }

  /** Replaces the session (after login or register) and tells the client's listeners. */
  setSession(session: Session | null): void {
    this.#session = session;
    this.#onSession(session);
  }

  /** Calls `path` (under `/v1`), refreshing the access token once if the server says it expired. */
  async request<T = void>(method: string, path: string, options: RequestOptions<T> = {}): Promise<T> {
    const auth = options.auth ?? true;
    if (auth) await this.#freshSession();
    try {
      return await this.#send(method, path, options, auth);
    } catch (error) {
      if (!(auth && error instanceof ChatError && error.code === 'invalid_token')) throw error;
      await this.refresh();
      return this.#send(method, path, options, auth);
    }
  }

  /**
   * Whether the service answers plain HTTP now (`/healthz`, any status): after a socket
   * that never opened, it tells a blocked wire (answers) from a network that is down.
   */
  async reachable(): Promise<boolean> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    try {
      await endedBy(controller.signal, this.#fetch(`${this.baseUrl}/healthz`, { signal: controller.signal }), 'GET /healthz');
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Exchanges the refresh token for new tokens. Concurrent callers share one exchange,
   * because a refresh token is single use: a second exchange would revoke the first.
   */
  refresh(): Promise<Session> {
    this.#refreshing ??= (async () => {
      const current = this.#session;
      if (!current) throw new ChatError('unauthenticated', 'Not logged in.');
      try {
        const next = await this.#send('POST', '/auth/refresh', { body: { refreshToken: current.refreshToken }, schema: Session }, false);
        this.setSession(next);
        return next;
      } catch (error) {
        // A refused refresh token cannot be retried; a network failure can.
        if (error instanceof ChatError && error.status === 401) this.setSession(null);
        throw error;
      }
    })().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /**
   * Opens a streaming GET (Server-Sent Events) with the bearer header and returns the
   * response once its headers arrived; the body is the caller's to read. A refused
   * answer becomes a `ChatError` like any call's.
   */
  async openStream(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const open = async () => {
      const token = await this.freshToken();
      // The timeout covers the wait for headers (and a refusal's body) only; the body lasts as long as the caller's signal allows.
      const controller = new AbortController();
      signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
      const timer = setTimeout(() => controller.abort(new Error('The stream did not open in time.')), this.#timeoutMs);
      try {
        let response: Response;
        try {
          response = await endedBy(controller.signal, this.#fetch(`${this.baseUrl}/v1${path}`, { headers: { ...headers, authorization: `Bearer ${token}` }, signal: controller.signal }), `GET ${path}`);
        } catch (cause) {
          throw new ChatError('network', `GET ${path} failed: the stream did not open.`, { cause });
        }
        if (response.ok) return response;
        const text = await endedBy(controller.signal, response.text(), `GET ${path}`).catch(() => '');
        throw problemToError(response, text);
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      return await open();
    } catch (error) {
      if (!(error instanceof ChatError && error.code === 'invalid_token')) throw error;
      await this.refresh();
      return open();
    }
  }

  /** The access token, refreshed first when it is about to expire. */
  async freshToken(): Promise<string> {
    return (await this.#freshSession()).accessToken;
  }

  async #freshSession(): Promise<Session> {
    const session = this.#session;
    if (!session) throw new ChatError('unauthenticated', 'Not logged in: call login() or register() first.');
    if (session.accessTokenExpiresAt - this.#now() > REFRESH_MARGIN_MS) return session;
    return this.refresh();
  }

  /**
   * One call, ended by its deadline or the caller's abort whether or not the runtime's
   * fetch honours the signal: Node's can leave a body read pending for good when the abort
   * lands while the body streams in (nodejs/node#56917), and a call that never ends would
   * hold its caller (an outbox's posts, a feed) forever. The deadline is a timer of ours,
   * which a runtime cannot collect the way it may an unreferenced AbortSignal.timeout.
   */
  async #send<T>(method: string, path: string, options: RequestOptions<T>, auth: boolean): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const call = new AbortController();
    const timer = setTimeout(() => call.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const cancel = () => call.abort(options.signal?.reason);
    if (options.signal?.aborted) cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await endedBy(call.signal, this.#exchange(method, path, options, auth, call.signal), `${method} ${path}`);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', cancel);
    }
  }

  async #exchange<T>(method: string, path: string, options: RequestOptions<T>, auth: boolean, signal: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.#session) headers.authorization = `Bearer ${this.#session.accessToken}`;
    let response: Response;
    try {
      response = await this.#fetch(`${this.baseUrl}/v1${path}`, {
        method,
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        signal,
      });
    } catch (cause) {
      throw new ChatError('network', `${method} ${path} failed: the request did not complete.`, { cause });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      throw new ChatError('network', `${method} ${path} failed: the answer was cut off.`, { cause });
    }
    if (!response.ok) throw problemToError(response, text);
    if (!options.schema) return undefined as T;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ChatError('invalid_response', `${method} ${path}: the answer is not JSON.`, { status: response.status });
    }
    const parsed = options.schema.safeParse(json);
    if (!parsed.success) throw new ChatError('invalid_response', `${method} ${path}: unexpected answer shape.`, { status: response.status, cause: parsed.error });
    return parsed.data;
  }
}

/** `work`, or a `network` failure as soon as `signal` aborts if `work` has not settled by then. */
function endedBy<T>(signal: AbortSignal, work: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abandon = () => reject(new ChatError('network', `${what} failed: the request did not complete.`, { cause: signal.reason }));
    if (signal.aborted) abandon();
    signal.addEventListener('abort', abandon, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abandon));
  });
}

function problemToError(response: Response, text: string): ChatError {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not a problem body (e.g. a proxy's HTML page): fall through to a generic error.
  }
  const body = WireErrorSchema.safeParse(json);
  if (!body.success) {
    const code = response.status >= 500 ? 'internal' : 'invalid_response';
    return new ChatError(code, `HTTP ${response.status} without a problem body.`, { status: response.status, ...(requestId ? { requestId } : {}) });
  }
  const { code, message, issues, retryAfterMs } = body.data;
  return new ChatError(code, message, {
    status: response.status,
    ...(issues ? { issues } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(requestId ? { requestId } : {}),
  });
}
