import { useState } from "react";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorText } from "../../../components/ErrorText";
import { Money } from "../../../components/Money";
import { formatDay } from "../../../lib/dates";
import { useCloseDay } from "../api/accounting-api";

export function CloseDaySection() {
  const close = useCloseDay();
  const [actionKey, setActionKey] = useState<string | null>(null);
  const summary = actionKey === null ? close.data : undefined;

  return (
    <section aria-labelledby="close-day">
      <h2 id="close-day">Close the day</h2>
      <p>Closing pays out every positive balance, emails each payout, carries negative balances over and opens the next billing cycle.</p>
      <button
        type="button"
        onClick={() => {
          close.reset();
          setActionKey(crypto.randomUUID());
        }}
      >
        Close the day…
      </button>
      {summary ? (
        <div role="status" className="notice">
          <p>
            Closed the billing cycle of {formatDay(summary.cycle.business_date)}: {summary.cycle.payments_count}{" "}
            {summary.cycle.payments_count === 1 ? "payout" : "payouts"} totalling <Money cents={summary.cycle.payments_total_cents} />;{" "}
            {summary.negative_balances_carried} negative {summary.negative_balances_carried === 1 ? "balance" : "balances"} carried over.
          </p>
        </div>
      ) : null}
      <ConfirmDialog
        open={actionKey !== null}
        title="Close the day now?"
        confirmLabel={close.isError ? "Try again" : "Close the day"}
        busy={close.isPending}
        onCancel={() => setActionKey(null)}
        onConfirm={() => {
          if (actionKey) close.mutate(actionKey, { onSuccess: () => setActionKey(null) });
        }}
      >
        <p>Positive balances are paid out and cannot be undone.</p>
        <ErrorText error={close.error} />
      </ConfirmDialog>
    </section>
  );
}
