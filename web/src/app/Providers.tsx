import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { createApiClients, type ApiClients } from "../lib/api-clients";
import { ApiContext, ConfigContext, SessionContext } from "../lib/app-context";
import type { AppConfig } from "../lib/config";
import { ApiError } from "../lib/problem";
import { Session } from "../lib/session";
import { createSessionEndpoints } from "../lib/session-endpoints";

const pollEveryMs = 4_000;

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Another popug's change shows within seconds.
        refetchInterval: pollEveryMs,
        staleTime: 2_000,
        retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
      },
      mutations: { retry: false },
    },
  });
}

export function Providers({ config, children }: { config: AppConfig; children: ReactNode }) {
  const [wiring] = useState(() => {
    const endpoints = createSessionEndpoints(config.session);
    const session = new Session(endpoints);
    const api: ApiClients = createApiClients(config, session, undefined, endpoints);
    return { session, api, queryClient: createQueryClient() };
  });

  useEffect(() => {
    const { session, queryClient } = wiring;
    void session.restore();
    // Nothing one account fetched is shown to the next.
    const unsubscribe = session.subscribe(() => {
      if (session.getState().status === "anonymous") queryClient.clear();
    });
    return () => {
      unsubscribe();
    };
  }, [wiring]);

  return (
    <ConfigContext.Provider value={config}>
      <SessionContext.Provider value={wiring.session}>
        <ApiContext.Provider value={wiring.api}>
          <QueryClientProvider client={wiring.queryClient}>{children}</QueryClientProvider>
        </ApiContext.Provider>
      </SessionContext.Provider>
    </ConfigContext.Provider>
  );
}
