import type { components } from "./api/auth";

export type Role = components["schemas"]["Role"];

export const allRoles: readonly Role[] = ["admin", "manager", "accountant", "worker"];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (allRoles as readonly string[]).includes(value);
}

export function roleAllows(role: Role | null | undefined, roles: readonly Role[]): boolean {
  return role != null && roles.includes(role);
}
