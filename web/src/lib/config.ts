export type Service = "auth" | "tasks" | "accounting" | "analytics";

export interface AppConfig {
  api: Record<Service, string>;
  session: string;
  business_timezone: string;
}

const services: readonly Service[] = ["auth", "tasks", "accounting", "analytics"];

export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== "object" || raw === null) throw new Error("config.json is not an object");
  const { api, session, business_timezone } = raw as Record<string, unknown>;
  if (typeof api !== "object" || api === null) throw new Error("config.json has no api base URLs");
  const bases = api as Record<string, unknown>;
  for (const service of services) {
    if (typeof bases[service] !== "string") throw new Error(`config.json has no api.${service}`);
  }
  if (typeof session !== "string") throw new Error("config.json has no session base URL");
  const timeZone = typeof business_timezone === "string" ? business_timezone : "UTC";
  // Throws a RangeError for a zone this browser does not know.
  new Intl.DateTimeFormat("en", { timeZone });
  return {
    api: {
      auth: bases.auth as string,
      tasks: bases.tasks as string,
      accounting: bases.accounting as string,
      analytics: bases.analytics as string,
    },
    session,
    business_timezone: timeZone,
  };
}

export async function loadConfig(fetchFn: typeof fetch = fetch): Promise<AppConfig> {
  const response = await fetchFn("/config.json", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /config.json answered ${response.status}`);
  return parseConfig(await response.json());
}
