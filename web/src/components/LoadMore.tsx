// "Load more" under a list paged by cursor: fetches the next page and appends it; gone once the
// last page is in. `what` names the list for screen readers when a screen has several.
export function LoadMore({
  what,
  hasNextPage,
  isFetchingNextPage,
  fetchNextPage,
  disabled = false,
}: {
  what: string;
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  fetchNextPage: () => unknown;
  disabled?: boolean;
}) {
  if (!hasNextPage) return null;
  return (
    <div className="pagination">
      <button
        type="button"
        onClick={() => void fetchNextPage()}
        disabled={disabled || isFetchingNextPage}
        aria-label={isFetchingNextPage ? `Loading more ${what}…` : `Load more ${what}`}
      >
        {isFetchingNextPage ? "Loading more…" : "Load more"}
      </button>
    </div>
  );
}
