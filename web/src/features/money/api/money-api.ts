import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useApi } from "../../../lib/app-context";
import { allItems, cursorPaging, useFirstPageWhenLeft } from "../../../lib/paging";
import { unwrap } from "../../../lib/problem";

export const moneyKeys = {
  me: ["accounting", "me"] as const,
  myTransactions: (date: string) => ["accounting", "me", "transactions", date] as const,
};

export function useMyAccount() {
  const api = useApi();
  return useQuery({ queryKey: moneyKeys.me, queryFn: async () => unwrap(await api.accounting.GET("/v1/me")) });
}

// One day's audit log, oldest first, a page at a time.
export function useMyTransactions(date: string) {
  const api = useApi();
  const queryKey = moneyKeys.myTransactions(date);
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) =>
      unwrap(await api.accounting.GET("/v1/me/transactions", { params: { query: { date, cursor: pageParam } } })),
    ...cursorPaging,
    select: allItems,
  });
}
