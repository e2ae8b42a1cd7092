import { useState } from "react";
import { BarChart } from "../../../components/BarChart";
import { DatePicker } from "../../../components/DatePicker";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { Money } from "../../../components/Money";
import { Table, type Column } from "../../../components/Table";
import { useConfig } from "../../../lib/app-context";
import { addDays, formatDay, formatShortDay, todayIn } from "../../../lib/dates";
import { formatCents } from "../../../lib/money";
import { useManagementEarnings, type DailyEarnings } from "../api/accounting-api";

export function ManagementEarningsSection() {
  const { business_timezone: timeZone } = useConfig();
  const today = todayIn(timeZone);
  const [from, setFrom] = useState(addDays(today, -13));
  const [to, setTo] = useState(today);
  const earnings = useManagementEarnings(from, to);

  const columns: Column<DailyEarnings>[] = [
    { header: "Day", cell: (d) => formatDay(d.date) },
    { header: "Management earnings", cell: (d) => <Money cents={d.earnings_cents} negativeLabel="loss" />, numeric: true },
  ];

  return (
    <section aria-labelledby="management-earnings">
      <h2 id="management-earnings">Management earnings</h2>
      <div className="filters">
        <DatePicker label="From" value={from} max={to} onChange={setFrom} />
        <DatePicker label="To" value={to} min={from} max={today} onChange={setTo} />
      </div>
      {earnings.isPending ? <Loading what="Loading earnings" /> : null}
      <ErrorText error={earnings.error} />
      {earnings.data ? (
        <div className="chart-and-table">
          <BarChart
            title={`Management earnings per day, ${formatDay(from)} to ${formatDay(to)}`}
            bars={earnings.data.map((d) => ({ key: d.date, label: formatShortDay(d.date), value: d.earnings_cents }))}
            formatValue={formatCents}
          />
          <Table caption="Management earnings by day" columns={columns} rows={earnings.data} rowKey={(d) => d.date} empty="no days in range." />
        </div>
      ) : null}
    </section>
  );
}
