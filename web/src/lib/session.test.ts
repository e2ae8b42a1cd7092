// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { grantFor } from "../test/fakes";
import { LOGGED_OUT, SESSION_ENDED, Session, renewalDelayMs, type Grant, type SessionTransport } from "./session";

function transport(refresh: () => Promise<Grant | null>): SessionTransport & { refresh: ReturnType<typeof vi.fn> } {
  return { refresh: vi.fn(refresh), logout: vi.fn(async () => undefined) };
}

describe("session renewal", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("renews at 80% of expires_in", () => {
    expect(renewalDelayMs(900)).toBe(720_000);
    expect(renewalDelayMs(0)).toBe(1_000);
  });

  it("calls refresh once 80% of the token's life has passed, then schedules the next one", async () => {
    const t = transport(async () => grantFor("worker", "sub-1", 100));
    const session = new Session(t);
    session.start(grantFor("worker", "sub-1", 900));

    await vi.advanceTimersByTimeAsync(719_999);
    expect(t.refresh).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(t.refresh).toHaveBeenCalledTimes(1);
    expect(session.getState().status).toBe("authenticated");

    // The new token lives 100 s: the next renewal is 80 s later.
    await vi.advanceTimersByTimeAsync(79_999);
    expect(t.refresh).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.refresh).toHaveBeenCalledTimes(2);
    session.dispose();
  });

  it("ends the session with a message when the renewal is refused", async () => {
    const t = transport(async () => null);
    const session = new Session(t);
    session.start(grantFor("admin"));
    await vi.advanceTimersByTimeAsync(720_000);
    expect(session.getState()).toEqual({ status: "anonymous", notice: SESSION_ENDED });
    expect(session.accessToken()).toBeNull();
  });

  it("tries again later when the server cannot be reached, keeping the session", async () => {
    let fail = true;
    const t = transport(async () => {
      if (fail) throw new TypeError("network");
      return grantFor("admin");
    });
    const session = new Session(t);
    session.start(grantFor("admin"));
    await vi.advanceTimersByTimeAsync(720_000);
    expect(session.getState().status).toBe("authenticated");
    fail = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.refresh).toHaveBeenCalledTimes(2);
    expect(session.getState().status).toBe("authenticated");
    session.dispose();
  });

  it("stops renewing after log-out", async () => {
    const t = transport(async () => grantFor("admin"));
    const session = new Session(t);
    session.start(grantFor("admin"));
    await session.logout();
    await vi.advanceTimersByTimeAsync(2_000_000);
    expect(t.refresh).not.toHaveBeenCalled();
    expect(session.getState()).toEqual({ status: "anonymous", notice: LOGGED_OUT });
  });
});

describe("session restore and refresh", () => {
  it("restores from the cookie on load, or becomes anonymous without a message", async () => {
    const restored = new Session(transport(async () => grantFor("manager")));
    await restored.restore();
    expect(restored.getState().status).toBe("authenticated");
    restored.dispose();

    const none = new Session(transport(async () => null));
    await none.restore();
    expect(none.getState()).toEqual({ status: "anonymous", notice: null });
  });

  it("shares one refresh between callers that ask at once", async () => {
    let resolve: (grant: Grant) => void = () => undefined;
    const t = transport(() => new Promise<Grant>((r) => (resolve = r)));
    const session = new Session(t);
    const first = session.refresh();
    const second = session.refresh();
    resolve(grantFor("worker"));
    expect(await first).toBe(true);
    expect(await second).toBe(true);
    expect(t.refresh).toHaveBeenCalledTimes(1);
    session.dispose();
  });
});
