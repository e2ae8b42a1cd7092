import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { components } from "../../../lib/api/auth";
import { useApi } from "../../../lib/app-context";
import { unwrap } from "../../../lib/problem";

export type Account = components["schemas"]["Account"];
export type UpdateAccountRequest = components["schemas"]["UpdateAccountRequest"];

export const peopleKeys = {
  accounts: ["auth", "accounts"] as const,
};

export function useAccounts() {
  const api = useApi();
  return useQuery({ queryKey: peopleKeys.accounts, queryFn: async () => unwrap(await api.auth.GET("/v1/accounts")) });
}

export function useUpdateAccount() {
  const api = useApi();
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, change }: { id: string; change: UpdateAccountRequest }) =>
      unwrap(await api.auth.PATCH("/v1/accounts/{id}", { params: { path: { id } }, body: change })),
    // Names and roles show elsewhere too (assignees, balances): refetch those as well.
    onSettled: () => client.invalidateQueries(),
  });
}
