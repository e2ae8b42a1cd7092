import { useQuery } from "@tanstack/react-query";
import type { components } from "../../../lib/api/analytics";
import { useApi } from "../../../lib/app-context";
import { unwrap } from "../../../lib/problem";

export type PeriodName = components["schemas"]["PeriodName"];
export type ExpensiveTask = components["schemas"]["ExpensiveTask"];
export type DailyMostExpensive = components["schemas"]["DailyMostExpensive"];

export const analyticsKeys = {
  today: ["analytics", "today"] as const,
  mostExpensive: (period: PeriodName, date: string) => ["analytics", "most-expensive", period, date] as const,
  daily: (from: string, to: string) => ["analytics", "most-expensive-daily", from, to] as const,
};

export function useDashboardToday() {
  const api = useApi();
  return useQuery({ queryKey: analyticsKeys.today, queryFn: async () => unwrap(await api.analytics.GET("/v1/dashboard/today")) });
}

export function useMostExpensive(period: PeriodName, date: string) {
  const api = useApi();
  return useQuery({
    queryKey: analyticsKeys.mostExpensive(period, date),
    queryFn: async () => unwrap(await api.analytics.GET("/v1/most-expensive-task", { params: { query: { period, date } } })),
  });
}

export function useMostExpensiveDaily(from: string, to: string) {
  const api = useApi();
  return useQuery({
    queryKey: analyticsKeys.daily(from, to),
    queryFn: async () => unwrap(await api.analytics.GET("/v1/most-expensive-tasks/daily", { params: { query: { from, to } } })),
  });
}
