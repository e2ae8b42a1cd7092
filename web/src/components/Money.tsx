import { formatCents } from "../lib/money";

// Negative amounts carry a minus sign and a word, so they read without colour.
export function Money({ cents, negativeLabel = "owes" }: { cents: number; negativeLabel?: string }) {
  const negative = cents < 0;
  return (
    <span className={negative ? "money money-negative" : "money"}>
      {formatCents(cents)}
      {negative && negativeLabel ? <span className="money-label"> ({negativeLabel})</span> : null}
    </span>
  );
}
