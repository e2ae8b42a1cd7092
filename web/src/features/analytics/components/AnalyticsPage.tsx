import { useId, useState } from "react";
import { BarChart } from "../../../components/BarChart";
import { DatePicker } from "../../../components/DatePicker";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { Money } from "../../../components/Money";
import { useConfig } from "../../../lib/app-context";
import { addDays, formatDay, formatShortDay, todayIn } from "../../../lib/dates";
import { formatCents } from "../../../lib/money";
import { useDashboardToday, useMostExpensive, useMostExpensiveDaily, type PeriodName } from "../api/analytics-api";
import { ExpensiveTaskText } from "./ExpensiveTaskText";

function TodaySection() {
  const today = useDashboardToday();
  return (
    <section aria-labelledby="analytics-today">
      <h2 id="analytics-today">Today{today.data ? `, ${formatDay(today.data.date)}` : ""}</h2>
      {today.isPending ? <Loading what="Loading today's figures" /> : null}
      <ErrorText error={today.error} />
      {today.data ? (
        <dl className="figures">
          <div>
            <dt>Management earnings</dt>
            <dd>
              <Money cents={today.data.management_earnings_cents} negativeLabel="loss" />
            </dd>
          </div>
          <div>
            <dt>Accounts with a negative balance</dt>
            <dd>{today.data.negative_balance_accounts}</dd>
          </div>
        </dl>
      ) : null}
    </section>
  );
}

const periodNames: Record<PeriodName, string> = { day: "Day", week: "Week (Monday to Sunday)", month: "Month" };

function MostExpensiveSection() {
  const { business_timezone: timeZone } = useConfig();
  const today = todayIn(timeZone);
  const periodId = useId();
  const [period, setPeriod] = useState<PeriodName>("day");
  const [day, setDay] = useState(today);
  const result = useMostExpensive(period, day);
  return (
    <section aria-labelledby="most-expensive">
      <h2 id="most-expensive">Most expensive task</h2>
      <div className="filters">
        <div className="field field-inline">
          <label htmlFor={periodId}>Period</label>
          <select id={periodId} value={period} onChange={(event) => setPeriod(event.target.value as PeriodName)}>
            {(Object.keys(periodNames) as PeriodName[]).map((name) => (
              <option key={name} value={name}>
                {periodNames[name]}
              </option>
            ))}
          </select>
        </div>
        <DatePicker label="A day in the period" value={day} max={today} onChange={setDay} />
      </div>
      {result.isPending ? <Loading what="Loading the most expensive task" /> : null}
      <ErrorText error={result.error} />
      {result.data ? (
        <p>
          {result.data.from === result.data.to ? formatDay(result.data.from) : `${formatDay(result.data.from)} to ${formatDay(result.data.to)}`}:{" "}
          <ExpensiveTaskText task={result.data.task} />
        </p>
      ) : null}
    </section>
  );
}

function DailySection() {
  const { business_timezone: timeZone } = useConfig();
  const today = todayIn(timeZone);
  const [from, setFrom] = useState(addDays(today, -13));
  const [to, setTo] = useState(today);
  const daily = useMostExpensiveDaily(from, to);
  return (
    <section aria-labelledby="most-expensive-daily">
      <h2 id="most-expensive-daily">Most expensive task, day by day</h2>
      <div className="filters">
        <DatePicker label="From" value={from} max={to} onChange={setFrom} />
        <DatePicker label="To" value={to} min={from} max={today} onChange={setTo} />
      </div>
      {daily.isPending ? <Loading what="Loading the daily list" /> : null}
      <ErrorText error={daily.error} />
      {daily.data ? (
        <div className="chart-and-table">
          <BarChart
            title={`Highest reward per day, ${formatDay(from)} to ${formatDay(to)}`}
            bars={daily.data.map((d) => ({ key: d.date, label: formatShortDay(d.date), value: d.task?.reward_cents ?? 0 }))}
            formatValue={formatCents}
          />
          <ol className="daily-list" aria-label="Most expensive task of each day">
            {daily.data.map((d) => (
              <li key={d.date}>
                <strong>{formatDay(d.date)}:</strong> <ExpensiveTaskText task={d.task} />
              </li>
            ))}
          </ol>
        </div>
      ) : null}
    </section>
  );
}

export function AnalyticsPage() {
  return (
    <>
      <h1>Analytics</h1>
      <TodaySection />
      <MostExpensiveSection />
      <DailySection />
    </>
  );
}
