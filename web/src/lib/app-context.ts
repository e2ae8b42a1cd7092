import { createContext, useContext, useSyncExternalStore } from "react";
import type { ApiClients } from "./api-clients";
import type { AppConfig } from "./config";
import type { Session, SessionState } from "./session";

export const ConfigContext = createContext<AppConfig | null>(null);
export const SessionContext = createContext<Session | null>(null);
export const ApiContext = createContext<ApiClients | null>(null);

function required<T>(value: T | null, name: string): T {
  if (value === null) throw new Error(`${name} is used outside its provider`);
  return value;
}

export function useConfig(): AppConfig {
  return required(useContext(ConfigContext), "useConfig");
}

export function useApi(): ApiClients {
  return required(useContext(ApiContext), "useApi");
}

export function useSession(): Session {
  return required(useContext(SessionContext), "useSession");
}

export function useSessionState(): SessionState {
  const session = useSession();
  return useSyncExternalStore(session.subscribe, session.getState);
}
