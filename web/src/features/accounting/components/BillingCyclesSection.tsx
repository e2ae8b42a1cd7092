import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { Money } from "../../../components/Money";
import { Table, type Column } from "../../../components/Table";
import { useConfig } from "../../../lib/app-context";
import { formatDateTime, formatDay } from "../../../lib/dates";
import { useBillingCycles, type BillingCycle } from "../api/accounting-api";

export function BillingCyclesSection() {
  const { business_timezone: timeZone } = useConfig();
  const cycles = useBillingCycles();
  const columns: Column<BillingCycle>[] = [
    { header: "Business day", cell: (c) => formatDay(c.business_date) },
    { header: "Status", cell: (c) => c.status },
    { header: "Opened", cell: (c) => formatDateTime(c.opened_at, timeZone) },
    { header: "Closed", cell: (c) => (c.closed_at ? formatDateTime(c.closed_at, timeZone) : "—") },
    { header: "Payouts", cell: (c) => c.payments_count, numeric: true },
    { header: "Paid out", cell: (c) => <Money cents={c.payments_total_cents} />, numeric: true },
  ];
  return (
    <section aria-labelledby="billing-cycles">
      <h2 id="billing-cycles">Billing cycles</h2>
      {cycles.isPending ? <Loading what="Loading billing cycles" /> : null}
      <ErrorText error={cycles.error} />
      {cycles.data ? <Table caption="Billing cycles, newest first" columns={columns} rows={cycles.data} rowKey={(c) => c.id} empty="none yet." /> : null}
      <LoadMore
        what="billing cycles"
        hasNextPage={cycles.hasNextPage}
        isFetchingNextPage={cycles.isFetchingNextPage}
        fetchNextPage={() => cycles.fetchNextPage()}
      />
    </section>
  );
}
