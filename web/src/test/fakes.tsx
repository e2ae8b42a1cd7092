import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router";
import { createApiClients } from "../lib/api-clients";
import { ApiContext, ConfigContext, SessionContext } from "../lib/app-context";
import type { AppConfig } from "../lib/config";
import type { Role } from "../lib/roles";
import { Session, type Grant } from "../lib/session";
import type { SessionEndpoints } from "../lib/session-endpoints";

export const testConfig: AppConfig = {
  api: { auth: "/api/auth", tasks: "/api/tasks", accounting: "/api/accounting", analytics: "/api/analytics" },
  session: "/session",
  business_timezone: "UTC",
};

function base64Url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

export function fakeJwt(claims: Record<string, unknown>): string {
  return `${base64Url(JSON.stringify({ alg: "EdDSA" }))}.${base64Url(JSON.stringify(claims))}.signature`;
}

export function grantFor(role: Role, sub = "00000000-0000-7000-8000-000000000001", expiresIn = 900): Grant {
  return { access_token: fakeJwt({ sub, role, email: `${role}@popug.inc` }), token_type: "Bearer", expires_in: expiresIn };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const contentType = status >= 400 ? "application/problem+json" : "application/json";
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": contentType, ...headers } });
}

export type Handler = (request: Request) => Response | Promise<Response>;

// Routes "METHOD /path" (query string ignored) to a handler; anything else is a 404 problem.
export function fakeServer(routes: Record<string, Handler>) {
  const calls: Request[] = [];
  const send = async (request: Request): Promise<Response> => {
    calls.push(request);
    const url = new URL(request.url, "http://localhost");
    const handler = routes[`${request.method} ${url.pathname}`];
    if (!handler) return json({ type: "about:blank", title: "Not Found", status: 404, detail: `no route ${url.pathname}` }, 404);
    return handler(request);
  };
  return { send, calls };
}

// One page of a list paged by cursor, as the services answer it.
export function cursorPage<Item>(items: readonly Item[], nextCursor: string | null = null) {
  return { items, next_cursor: nextCursor };
}

// A list served a page at a time: no `cursor` gives pages[0], and page i's `next_cursor`
// ("page-<i+1>", null on the last page) gives the next one. Other parameters are not looked at.
export function pagedList(pages: readonly (readonly unknown[])[]): Handler {
  return (request) => {
    const cursor = new URL(request.url).searchParams.get("cursor");
    const index = cursor === null ? 0 : Number(cursor.replace(/^page-/, ""));
    const items = pages[index];
    if (items === undefined) {
      return json({ type: "about:blank", title: "Unprocessable Entity", status: 422, detail: `no page ${cursor}` }, 422);
    }
    return json(cursorPage(items, index + 1 < pages.length ? `page-${index + 1}` : null));
  };
}

// The query parameters of the GETs of `path` (without its query string), in order.
export function queriesTo(calls: readonly Request[], path: string): Record<string, string>[] {
  return calls
    .filter((request) => request.method === "GET")
    .map((request) => new URL(request.url, "http://localhost"))
    .filter((url) => url.pathname === path)
    .map((url) => Object.fromEntries(url.searchParams));
}

export function fakeSessionEndpoints(overrides: Partial<SessionEndpoints> = {}): SessionEndpoints {
  return {
    login: async () => grantFor("worker"),
    changePassword: async () => grantFor("worker"),
    refresh: async () => null,
    logout: async () => undefined,
    ...overrides,
  };
}

export function renderApp(
  ui: ReactNode,
  {
    role = null,
    routes = {},
    endpoints = fakeSessionEndpoints(),
    path = "/",
  }: { role?: Role | null; routes?: Record<string, Handler>; endpoints?: SessionEndpoints; path?: string | { pathname: string; state?: unknown } } = {},
) {
  const session = new Session(endpoints);
  if (role) session.start(grantFor(role));
  else session.end(null);
  const server = fakeServer(routes);
  const api = createApiClients(testConfig, session, server.send, endpoints);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const result = render(
    <ConfigContext.Provider value={testConfig}>
      <SessionContext.Provider value={session}>
        <ApiContext.Provider value={api}>
          <QueryClientProvider client={queryClient}>
            <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
          </QueryClientProvider>
        </ApiContext.Provider>
      </SessionContext.Provider>
    </ConfigContext.Provider>,
  );
  return { ...result, session, server, queryClient };
}
