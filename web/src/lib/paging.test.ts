import { describe, expect, it, vi } from "vitest";
import { cursorPaging, fetchAllPages } from "./paging";

describe("cursor paging", () => {
  it("asks for a next page only while next_cursor is set", () => {
    expect(cursorPaging.getNextPageParam({ next_cursor: "abc" })).toBe("abc");
    expect(cursorPaging.getNextPageParam({ next_cursor: null })).toBeUndefined();
    expect(cursorPaging.getNextPageParam({})).toBeUndefined();
  });

  it("reads every page, passing each next_cursor back", async () => {
    const pages: Record<string, { items: number[]; next_cursor: string | null }> = {
      first: { items: [1, 2], next_cursor: "b" },
      b: { items: [3], next_cursor: "c" },
      c: { items: [4], next_cursor: null },
    };
    const fetchPage = vi.fn(async (cursor: string | undefined) => pages[cursor ?? "first"] ?? { items: [], next_cursor: null });
    expect(await fetchAllPages(fetchPage)).toEqual([1, 2, 3, 4]);
    expect(fetchPage.mock.calls.map(([cursor]) => cursor)).toEqual([undefined, "b", "c"]);
  });

  it("stops when a cursor comes back again instead of looping", async () => {
    const fetchPage = vi.fn(async () => ({ items: [1], next_cursor: "same" }));
    expect(await fetchAllPages(fetchPage)).toEqual([1, 1]);
    expect(fetchPage).toHaveBeenCalledTimes(2);
  });
});
