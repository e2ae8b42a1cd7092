import type { ReactNode } from "react";
import { useSessionState } from "./app-context";
import { roleAllows, type Role } from "./roles";

// The one role check: the router and the navigation both ask it, so a screen and its menu entry agree.
export function useAllowed(roles: readonly Role[]): boolean {
  const state = useSessionState();
  return state.status === "authenticated" && roleAllows(state.claims.role, roles);
}

export function Allowed({
  roles,
  children,
  fallback = null,
}: {
  roles: readonly Role[];
  children: ReactNode;
  fallback?: ReactNode;
}) {
  return useAllowed(roles) ? children : fallback;
}
