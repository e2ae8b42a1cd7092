import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { components } from "../../../lib/api/accounting";
import { useApi } from "../../../lib/app-context";
import { allItems, cursorPaging, useFirstPageWhenLeft } from "../../../lib/paging";
import { unwrap } from "../../../lib/problem";
import { qParam } from "../../../lib/search";

export type AccountBalance = components["schemas"]["AccountBalance"];
export type BillingCycle = components["schemas"]["BillingCycle"];
export type DailyEarnings = components["schemas"]["DailyEarnings"];

// Everything under "accounting" is refetched when the day closes.
export const accountingKeys = {
  all: ["accounting"] as const,
  balances: (q: string) => ["accounting", "accounts", "balances", { q }] as const,
  accountChoices: (q: string) => ["accounting", "accounts", "choices", { q }] as const,
  transactions: (accountId: string, date: string) => ["accounting", "accounts", accountId, "transactions", date] as const,
  management: (from: string, to: string) => ["accounting", "management", from, to] as const,
  cycles: ["accounting", "billing-cycles"] as const,
};

// Balances in the order the accounts were made, a page at a time; `q` (blank: none) searches
// emails and names, and a new search starts from the first page.
export function useBalances(q: string) {
  const api = useApi();
  const queryKey = accountingKeys.balances(q);
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) =>
      unwrap(await api.accounting.GET("/v1/accounts", { params: { query: { ...qParam(q), cursor: pageParam } } })),
    ...cursorPaging,
    select: allItems,
    placeholderData: keepPreviousData,
  });
}

// The accounts an audit log can be chosen from: the first 100 matching `q`; `more` says there are
// others, which a longer search finds.
export function useAccountChoices(q: string) {
  const api = useApi();
  return useQuery({
    queryKey: accountingKeys.accountChoices(q),
    queryFn: async () => {
      const page = unwrap(await api.accounting.GET("/v1/accounts", { params: { query: { ...qParam(q), per_page: 100 } } }));
      return { accounts: page.items, more: (page.next_cursor ?? null) !== null };
    },
    placeholderData: keepPreviousData,
  });
}

// One account's day, oldest first, a page at a time.
export function useAccountTransactions(accountId: string | null, date: string) {
  const api = useApi();
  const queryKey = accountingKeys.transactions(accountId ?? "", date);
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    enabled: accountId !== null,
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.accounting.GET("/v1/accounts/{id}/transactions", {
          params: { path: { id: accountId ?? "" }, query: { date, cursor: pageParam } },
        }),
      ),
    ...cursorPaging,
    select: allItems,
  });
}

export function useManagementEarnings(from: string, to: string) {
  const api = useApi();
  return useQuery({
    queryKey: accountingKeys.management(from, to),
    queryFn: async () => unwrap(await api.accounting.GET("/v1/stats/management", { params: { query: { from, to } } })),
  });
}

// Newest first, a page at a time.
export function useBillingCycles() {
  const api = useApi();
  const queryKey = accountingKeys.cycles;
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) => unwrap(await api.accounting.GET("/v1/billing-cycles", { params: { query: { cursor: pageParam } } })),
    ...cursorPaging,
    select: allItems,
  });
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
