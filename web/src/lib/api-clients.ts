import createClient, { type Client } from "openapi-fetch";
import type { paths as AccountingPaths } from "./api/accounting";
import type { paths as AnalyticsPaths } from "./api/analytics";
import type { paths as AuthPaths } from "./api/auth";
import type { paths as GeneratedTasksPaths } from "./api/tasks";
import type { AppConfig } from "./config";
import { SESSION_ENDED, type Session } from "./session";
import { createSessionEndpoints, type SessionEndpoints } from "./session-endpoints";

export type TasksPaths = GeneratedTasksPaths;

export interface ApiClients {
  auth: Client<AuthPaths>;
  tasks: Client<TasksPaths>;
  accounting: Client<AccountingPaths>;
  analytics: Client<AnalyticsPaths>;
  session: SessionEndpoints;
}

type FetchRequest = (request: Request) => Promise<Response>;

// Bearer token on every call; a 401 gets one refresh and one retry, then the session ends.
export function authorizedFetch(session: Session, send: FetchRequest): FetchRequest {
  const withToken = (request: Request) => {
    const token = session.accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return send(request);
  };
  return async (request) => {
    const retry = request.clone();
    const hadToken = session.accessToken() !== null;
    const response = await withToken(request);
    if (response.status !== 401 || !hadToken) return response;
    if (!(await session.renewOrEnd())) return response;
    const second = await withToken(retry);
    if (second.status === 401) session.end(SESSION_ENDED);
    return second;
  };
}

// config.json gives same-origin paths like /api/tasks; made absolute so any Request implementation takes them.
function absolute(base: string): string {
  return new URL(base, globalThis.location?.href ?? "http://localhost/").href.replace(/\/+$/, "");
}

export function createApiClients(
  config: AppConfig,
  session: Session,
  send: FetchRequest = (request) => fetch(request),
  sessionEndpoints: SessionEndpoints = createSessionEndpoints(config.session),
): ApiClients {
  const fetch = authorizedFetch(session, send);
  return {
    auth: createClient<AuthPaths>({ baseUrl: absolute(config.api.auth), fetch }),
    tasks: createClient<TasksPaths>({ baseUrl: absolute(config.api.tasks), fetch }),
    accounting: createClient<AccountingPaths>({ baseUrl: absolute(config.api.accounting), fetch }),
    analytics: createClient<AnalyticsPaths>({ baseUrl: absolute(config.api.analytics), fetch }),
    session: sessionEndpoints,
  };
}
