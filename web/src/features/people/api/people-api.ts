import { keepPreviousData, useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import type { components } from "../../../lib/api/auth";
import { useApi } from "../../../lib/app-context";
import { allItems, cursorPaging, useFirstPageWhenLeft } from "../../../lib/paging";
import { unwrap } from "../../../lib/problem";
import { qParam } from "../../../lib/search";

export type Account = components["schemas"]["Account"];
export type UpdateAccountRequest = components["schemas"]["UpdateAccountRequest"];

export const peopleKeys = {
  accounts: (q: string) => ["auth", "accounts", { q }] as const,
};

// Oldest first, a page at a time; `q` (blank: none) searches emails and names, and a new
// search starts from the first page.
export function useAccounts(q: string) {
  const api = useApi();
  const queryKey = peopleKeys.accounts(q);
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) => unwrap(await api.auth.GET("/v1/accounts", { params: { query: { ...qParam(q), cursor: pageParam } } })),
    ...cursorPaging,
    select: allItems,
    placeholderData: keepPreviousData,
  });
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
