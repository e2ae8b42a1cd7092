import { useQuery } from "@tanstack/react-query";
import { useApi } from "../../../lib/app-context";
import { unwrap } from "../../../lib/problem";

export const moneyKeys = {
  me: ["accounting", "me"] as const,
  myTransactions: (date: string) => ["accounting", "me", "transactions", date] as const,
};

export function useMyAccount() {
  const api = useApi();
  return useQuery({ queryKey: moneyKeys.me, queryFn: async () => unwrap(await api.accounting.GET("/v1/me")) });
}

export function useMyTransactions(date: string) {
  const api = useApi();
  return useQuery({
    queryKey: moneyKeys.myTransactions(date),
    queryFn: async () => unwrap(await api.accounting.GET("/v1/me/transactions", { params: { query: { date } } })),
  });
}
