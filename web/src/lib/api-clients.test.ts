// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import { fakeServer, fakeSessionEndpoints, grantFor, json, testConfig } from "../test/fakes";
import { createApiClients } from "./api-clients";
import { SESSION_ENDED, Session } from "./session";

const page = { items: [], next_cursor: null };

describe("API clients", () => {
  it("use the configured base URL and send the bearer token", async () => {
    const session = new Session(fakeSessionEndpoints());
    session.start(grantFor("worker"));
    const server = fakeServer({ "GET /api/tasks/v1/tasks/mine": () => json(page) });
    const api = createApiClients(testConfig, session, server.send, fakeSessionEndpoints());
    const { data } = await api.tasks.GET("/v1/tasks/mine");
    expect(data).toEqual(page);
    expect(server.calls[0]?.headers.get("Authorization")).toBe(`Bearer ${session.accessToken()}`);
    session.dispose();
  });

  it("refresh once on a 401 and retry with the new token", async () => {
    const fresh = grantFor("worker", "00000000-0000-7000-8000-000000000002");
    const endpoints = fakeSessionEndpoints({ refresh: vi.fn(async () => fresh) });
    const session = new Session(endpoints);
    session.start(grantFor("worker"));
    const server = fakeServer({
      "GET /api/tasks/v1/tasks/mine": (request) =>
        request.headers.get("Authorization") === `Bearer ${fresh.access_token}`
          ? json(page)
          : json({ type: "about:blank", title: "Unauthorized", status: 401, detail: "expired" }, 401),
    });
    const api = createApiClients(testConfig, session, server.send, endpoints);
    const { data } = await api.tasks.GET("/v1/tasks/mine");
    expect(data).toEqual(page);
    expect(endpoints.refresh).toHaveBeenCalledTimes(1);
    expect(server.calls).toHaveLength(2);
    session.dispose();
  });

  it("end the session with a message when the refresh is refused", async () => {
    const endpoints = fakeSessionEndpoints({ refresh: async () => null });
    const session = new Session(endpoints);
    session.start(grantFor("worker"));
    const server = fakeServer({
      "GET /api/accounting/v1/me": () => json({ type: "about:blank", title: "Unauthorized", status: 401, detail: "revoked" }, 401),
    });
    const api = createApiClients(testConfig, session, server.send, endpoints);
    const { error, response } = await api.accounting.GET("/v1/me");
    expect(response.status).toBe(401);
    expect(error?.detail).toBe("revoked");
    expect(session.getState()).toEqual({ status: "anonymous", notice: SESSION_ENDED });
  });
});
