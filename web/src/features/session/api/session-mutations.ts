import { useMutation } from "@tanstack/react-query";
import type { components } from "../../../lib/api/auth";
import { useApi, useSession } from "../../../lib/app-context";
import { useIdempotencyKeys } from "../../../lib/idempotency";
import { unwrap } from "../../../lib/problem";
import type { ChangePasswordRequest, LoginRequest } from "../../../lib/session-endpoints";

export type SignUpRequest = components["schemas"]["SignUpRequest"];

export function useLogin() {
  const api = useApi();
  const session = useSession();
  return useMutation({
    mutationFn: (body: LoginRequest) => api.session.login(body),
    onSuccess: (grant) => session.start(grant),
  });
}

export function useChangePassword() {
  const api = useApi();
  const session = useSession();
  return useMutation({
    mutationFn: (body: ChangePasswordRequest) => api.session.changePassword(body),
    onSuccess: (grant) => session.start(grant),
  });
}

// Sign-up goes through the proxy to auth-api, then logs in with the same credentials.
export function useSignUp() {
  const api = useApi();
  const session = useSession();
  const keys = useIdempotencyKeys();
  return useMutation({
    mutationFn: async (body: SignUpRequest & { password: string }) => {
      const key = keys.keyFor(JSON.stringify(body));
      const created = unwrap(await api.auth.POST("/v1/accounts", { body, params: { header: { "Idempotency-Key": key } } }));
      keys.succeeded();
      session.start(await api.session.login({ email: body.email, password: body.password }));
      return created;
    },
  });
}

export function useLogout() {
  const session = useSession();
  return useMutation({ mutationFn: () => session.logout() });
}
