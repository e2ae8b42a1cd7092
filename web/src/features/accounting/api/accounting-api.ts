import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { components } from "../../../lib/api/accounting";
import { useApi } from "../../../lib/app-context";
import { unwrap } from "../../../lib/problem";

export type AccountBalance = components["schemas"]["AccountBalance"];
export type BillingCycle = components["schemas"]["BillingCycle"];
export type DailyEarnings = components["schemas"]["DailyEarnings"];

export const accountingKeys = {
  all: ["accounting"] as const,
  balances: ["accounting", "accounts"] as const,
  transactions: (accountId: string, date: string) => ["accounting", "accounts", accountId, "transactions", date] as const,
  management: (from: string, to: string) => ["accounting", "management", from, to] as const,
  cycles: ["accounting", "billing-cycles"] as const,
};

export function useBalances() {
  const api = useApi();
  return useQuery({ queryKey: accountingKeys.balances, queryFn: async () => unwrap(await api.accounting.GET("/v1/accounts")) });
}

export function useAccountTransactions(accountId: string | null, date: string) {
  const api = useApi();
  return useQuery({
    queryKey: accountingKeys.transactions(accountId ?? "", date),
    enabled: accountId !== null,
    queryFn: async () =>
      unwrap(await api.accounting.GET("/v1/accounts/{id}/transactions", { params: { path: { id: accountId ?? "" }, query: { date } } })),
  });
}

export function useManagementEarnings(from: string, to: string) {
  const api = useApi();
  return useQuery({
    queryKey: accountingKeys.management(from, to),
    queryFn: async () => unwrap(await api.accounting.GET("/v1/stats/management", { params: { query: { from, to } } })),
  });
}

export function useBillingCycles() {
  const api = useApi();
  return useQuery({ queryKey: accountingKeys.cycles, queryFn: async () => unwrap(await api.accounting.GET("/v1/billing-cycles")) });
}

export function useCloseDay() {
  const api = useApi();
  const client = useQueryClient();
  return useMutation({
    // The key belongs to one confirmation: retrying from the same dialog reuses it.
    mutationFn: async (idempotencyKey: string) =>
      unwrap(await api.accounting.POST("/v1/billing-cycles/close", { params: { header: { "Idempotency-Key": idempotencyKey } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: accountingKeys.all }),
  });
}
