import { hashKey, useQueryClient, type InfiniteData, type QueryKey } from "@tanstack/react-query";
import { useEffect } from "react";

// Every list endpoint pages by keyset cursor: `{ items, next_cursor }`, where `next_cursor`
// (null on the last page) goes back unchanged as `cursor`, with the same filters, for the next
// page. There is no total and no page number.
export interface CursorPage<Item> {
  items: Item[];
  next_cursor?: string | null;
}

// The options every `useInfiniteQuery` over such a list shares: the first page has no cursor,
// each next page the cursor the one before it gave.
export const cursorPaging = {
  initialPageParam: undefined as string | undefined,
  getNextPageParam: (last: { next_cursor?: string | null }): string | undefined => last.next_cursor ?? undefined,
};

// The items of every page loaded so far, in order (for `select`).
export function allItems<Item>(data: InfiniteData<CursorPage<Item>, string | undefined>): Item[] {
  return data.pages.flatMap((page) => page.items);
}

// Every page of a list, following `next_cursor` until the last: only for lists known to stay small.
export async function fetchAllPages<Item>(fetchPage: (cursor: string | undefined) => Promise<CursorPage<Item>>): Promise<Item[]> {
  const items: Item[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    const page = await fetchPage(cursor);
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
    // A cursor that comes back again would loop for ever: stop at what was read.
    if (cursor === undefined || seen.has(cursor)) return items;
    seen.add(cursor);
  }
}

// A list starts again from its first page when its filters change or its screen is left: the
// pages loaded with Load more under the key left behind are dropped (its first page stays cached,
// so coming back shows it at once and refreshes it). Without this, TanStack Query would keep and
// refetch every page loaded before.
export function useFirstPageWhenLeft(queryKey: QueryKey): void {
  const client = useQueryClient();
  const hash = hashKey(queryKey);
  useEffect(
    () => () => {
      const query = client.getQueryCache().get<unknown, Error, InfiniteData<unknown, unknown>>(hash);
      const data = query?.state.data;
      if (!query || !data || data.pages.length <= 1) return;
      client.setQueryData<InfiniteData<unknown, unknown>>(
        query.queryKey,
        { pages: data.pages.slice(0, 1), pageParams: data.pageParams.slice(0, 1) },
        { updatedAt: query.state.dataUpdatedAt },
      );
    },
    [client, hash],
  );
}
