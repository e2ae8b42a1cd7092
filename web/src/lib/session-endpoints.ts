import type { components } from "./api/auth";
import { apiErrorFrom } from "./problem";
import type { Grant, SessionTransport } from "./session";

export type LoginRequest = components["schemas"]["LoginRequest"];
export type ChangePasswordRequest = components["schemas"]["ChangePasswordRequest"];

export interface SessionEndpoints extends SessionTransport {
  login(body: LoginRequest): Promise<Grant>;
  changePassword(body: ChangePasswordRequest): Promise<Grant>;
}

// The app server's /session routes: the refresh token stays in its HttpOnly cookie.
export function createSessionEndpoints(base: string, fetchFn: typeof fetch = (...args) => fetch(...args)): SessionEndpoints {
  const post = (path: string, body?: unknown) =>
    fetchFn(`${base}${path}`, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-ATES-Session": "1",
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const grantFrom = async (response: Response): Promise<Grant> => {
    if (!response.ok) throw await apiErrorFrom(response);
    return (await response.json()) as Grant;
  };

  return {
    login: async (body) => grantFrom(await post("/login", body)),
    changePassword: async (body) => grantFrom(await post("/password", body)),
    refresh: async () => {
      const response = await post("/refresh");
      if (response.status === 401) return null;
      return grantFrom(response);
    },
    logout: async () => {
      const response = await post("/logout");
      if (!response.ok && response.status !== 401) throw await apiErrorFrom(response);
    },
  };
}
