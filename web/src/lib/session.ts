import type { components } from "./api/auth";
import { decodeClaims, type Claims } from "./jwt";

export const SESSION_ENDED = "Your session ended, please log in again";
export const LOGGED_OUT = "You are logged out.";

// What /session/login, /session/refresh and /session/password answer: the
// auth-api token response without the refresh token (the app server keeps that).
export type Grant = Omit<components["schemas"]["TokenResponse"], "refresh_token">;

export interface SessionTransport {
  // A grant, or null when there is no session (401); throws when the server cannot be reached.
  refresh(): Promise<Grant | null>;
  logout(): Promise<void>;
}

export type SessionState =
  | { status: "restoring" }
  | { status: "anonymous"; notice: string | null }
  | { status: "authenticated"; accessToken: string; claims: Claims };

const renewAtFraction = 0.8;
const retryAfterFailureMs = 10_000;

// Renew at 80% of the token's life, never sooner than a second from now.
export function renewalDelayMs(expiresInSeconds: number): number {
  return Math.max(1_000, Math.floor(expiresInSeconds * 1_000 * renewAtFraction));
}

// The access token lives only here, in memory.
export class Session {
  private state: SessionState = { status: "restoring" };
  private readonly listeners = new Set<() => void>();
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<boolean> | null = null;

  constructor(private readonly transport: SessionTransport) {}

  getState = (): SessionState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  accessToken(): string | null {
    return this.state.status === "authenticated" ? this.state.accessToken : null;
  }

  start(grant: Grant): void {
    const claims = decodeClaims(grant.access_token);
    if (!claims) {
      this.end("The server sent a token this page cannot read. Please log in again.");
      return;
    }
    this.setState({ status: "authenticated", accessToken: grant.access_token, claims });
    this.schedule(renewalDelayMs(grant.expires_in));
  }

  // On page load: the refresh cookie, if any, brings the session back.
  async restore(): Promise<void> {
    let restored = false;
    try {
      restored = await this.refresh();
    } catch {
      restored = false;
    }
    if (!restored && this.state.status === "restoring") this.setState({ status: "anonymous", notice: null });
  }

  // One refresh at a time, however many callers ask; true when a new token arrived.
  refresh(): Promise<boolean> {
    this.refreshing ??= this.transport
      .refresh()
      .then((grant) => {
        if (grant) this.start(grant);
        return grant !== null;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  // After a 401 or when the renewal timer fires: a new token, or back to log-in with a notice.
  async renewOrEnd(): Promise<boolean> {
    try {
      if (await this.refresh()) return true;
    } catch {
      if (this.state.status === "authenticated") this.schedule(retryAfterFailureMs);
      return false;
    }
    this.end(SESSION_ENDED);
    return false;
  }

  end(notice: string | null): void {
    this.clearTimer();
    this.setState({ status: "anonymous", notice });
  }

  async logout(): Promise<void> {
    this.clearTimer();
    try {
      await this.transport.logout();
    } finally {
      this.end(LOGGED_OUT);
    }
  }

  dispose(): void {
    this.clearTimer();
    this.listeners.clear();
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      void this.renewOrEnd();
    }, delayMs);
  }

  private clearTimer(): void {
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
  }

  private setState(next: SessionState): void {
    this.state = next;
    for (const listener of this.listeners) listener();
  }
}
