import { isRole, type Role } from "./roles";

// Read for display and role gating only: the servers verify the token.
export interface Claims {
  sub: string;
  role: Role;
  email: string;
  exp: number | null;
}

function base64UrlDecode(segment: string): string {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function decodeClaims(token: string): Claims | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as Record<string, unknown>;
    if (typeof claims.sub !== "string" || !isRole(claims.role)) return null;
    return {
      sub: claims.sub,
      role: claims.role,
      email: typeof claims.email === "string" ? claims.email : "",
      exp: typeof claims.exp === "number" ? claims.exp : null,
    };
  } catch {
    return null;
  }
}
