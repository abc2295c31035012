// Type definitions for @jwtd/browser (jwtd.js).

/** A PKCE code_verifier (RFC 7636 §4.1): 32 random bytes, base64url, 43 characters. */
export function createVerifier(): string;
/** The S256 code_challenge of a verifier (RFC 7636 §4.2), made with WebCrypto. */
export function createChallenge(verifier: string): Promise<string>;
/** A fresh verifier and its S256 challenge. */
export function pkce(): Promise<{ verifier: string; challenge: string }>;

/** An answer of jwtd that was not a success. */
export class JwtdError extends Error {
  /** HTTP status. */
  status: number;
  /** RFC 6749 error code (invalid_grant, invalid_request, temporarily_unavailable, …). */
  error?: string;
  /** RFC 6749 error_description. */
  description?: string;
}

export interface ClientOptions {
  /** jwtd's base URL (its issuer), e.g. "https://auth.example". */
  issuer: string;
  /** Fraction of the access token's lifetime after which to refresh. Default 0.5. */
  refreshAt?: number;
  /** Up to this fraction of the lifetime earlier, at random, per tab. Default 0.1. */
  jitter?: number;
  /** Milliseconds the refreshing tab keeps the lock after broadcasting the new token. Default 100. */
  settle?: number;
  /**
   * Milliseconds after another tab announced a refresh without its end (the
   * tab closed mid-request) before this tab refreshes, inside
   * tokens.reuse_grace, to repair the cookie. Default 2000.
   */
  watchdog?: number;
  /** Without Web Locks: milliseconds of the BroadcastChannel election. Default 100. */
  electMs?: number;
  /** Name of the lock and of the channel. Default "jwtd:" + issuer. */
  name?: string;
  /** The Web Locks manager; null forces the BroadcastChannel fallback. Default navigator.locks. */
  locks?: LockManager | null;
  /** The BroadcastChannel constructor; null: this tab alone. Default globalThis.BroadcastChannel. */
  BroadcastChannel?: typeof BroadcastChannel | null;
  /** fetch to use. Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Clock in milliseconds. Default Date.now. */
  now?: () => number;
}

export interface SessionEvent {
  accessToken: string;
  /** Expiry in this tab's clock, milliseconds since the epoch (from expires_in). */
  expiresAt: number;
  sessionId?: string;
  scope?: string;
  /** exchange: this tab logged in; refresh: this tab refreshed; peer: another tab did. */
  source: 'exchange' | 'refresh' | 'peer';
}

export interface LogoutEvent {
  /**
   * logout: this tab called logout(); peer: another tab logged out or lost
   * the session; otherwise the RFC 6749 error of the refused refresh
   * (invalid_grant: expired, revoked or reused; invalid_request: no cookie).
   */
  reason: string;
}

export interface ErrorEvent {
  /** A JwtdError (429, 5xx, 403) or the network's TypeError. */
  error: Error;
}

export interface EventMap {
  session: SessionEvent;
  logout: LogoutEvent;
  error: ErrorEvent;
}

export interface Client {
  /** The current access token (memory only), or null. */
  readonly accessToken: string | null;
  /** When it expires (ms since the epoch, this tab's clock), or null. */
  readonly expiresAt: number | null;
  /** POST /v1/sessions/exchange: trade the handoff code and PKCE verifier; resolves with the access token. */
  exchange(code: string, verifier: string): Promise<string>;
  /** After a page load: another tab's token, or a refresh by the cookie; null when there is no session. */
  start(waitMs?: number): Promise<string | null>;
  /** Refresh now, once across all tabs; null when the session is over or jwtd is unreachable. */
  refresh(): Promise<string | null>;
  /** The access token, refreshed first when missing or expired. */
  token(): Promise<string | null>;
  /** fetch with Authorization: Bearer; on a 401, refreshes once and retries once. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** POST /v1/logout by the cookie; every tab of the app logs out. */
  logout(): Promise<void>;
  /** Subscribe to an event; returns the function that unsubscribes. */
  on<K extends keyof EventMap>(type: K, listener: (event: EventMap[K]) => void): () => void;
  /** Stop timers, listeners and the channel. */
  close(): void;
}

export function createClient(options: ClientOptions): Client;
