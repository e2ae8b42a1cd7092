import { useId, useState } from "react";
import { DatePicker } from "../../../components/DatePicker";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { SearchField } from "../../../components/SearchField";
import { TransactionTable } from "../../../components/TransactionTable";
import { useConfig } from "../../../lib/app-context";
import { formatDay, todayIn } from "../../../lib/dates";
import { useSearch } from "../../../lib/search";
import { useAccountChoices, useAccountTransactions, type AccountBalance } from "../api/accounting-api";
import { accountName } from "./account-name";

export function AuditLogSection() {
  const { business_timezone: timeZone } = useConfig();
  const today = todayIn(timeZone);
  const accountSelectId = useId();
  const moreHintId = useId();
  // The list to choose from is the first 100 accounts matching the search; the chosen one stays
  // chosen (and listed) when a new search leaves it out.
  const search = useSearch();
  const choices = useAccountChoices(search.q);
  const [picked, setPicked] = useState<AccountBalance | null>(null);
  const [day, setDay] = useState(today);
  const transactions = useAccountTransactions(picked?.account_id ?? null, day);
  const found = choices.data?.accounts ?? [];
  // Its name as last fetched, should it have changed since it was picked.
  const chosen = (picked && found.find((a) => a.account_id === picked.account_id)) ?? picked;
  const listed = chosen && !found.some((a) => a.account_id === chosen.account_id) ? [chosen, ...found] : found;
  const more = choices.data?.more ?? false;

  return (
    <section aria-labelledby="audit-log">
      <h2 id="audit-log">Audit log</h2>
      <div className="filters">
        <SearchField label="Find an account" search={search} />
        <div className="field field-inline">
          <label htmlFor={accountSelectId}>Account</label>
          <select
            id={accountSelectId}
            value={chosen?.account_id ?? ""}
            aria-describedby={more ? moreHintId : undefined}
            onChange={(event) => setPicked(listed.find((a) => a.account_id === event.target.value) ?? null)}
          >
            <option value="">{search.q !== "" && found.length === 0 ? "No account matches" : "Choose an account"}</option>
            {listed.map((account) => (
              <option key={account.account_id} value={account.account_id}>
                {accountName(account)}
              </option>
            ))}
          </select>
        </div>
        <DatePicker label="Day" value={day} max={today} onChange={setDay} />
      </div>
      {more ? (
        <p id={moreHintId} className="field-hint">
          {search.q === ""
            ? `Only the first ${found.length} accounts are listed: type part of a name or an email to find the others.`
            : `Only the first ${found.length} matching accounts are listed: type more of the name or email to find the others.`}
        </p>
      ) : null}
      <ErrorText error={choices.error} />
      {chosen === null ? <p>Choose an account to see its transactions.</p> : null}
      {chosen !== null && transactions.isPending ? <Loading what="Loading transactions" /> : null}
      <ErrorText error={transactions.error} />
      {transactions.data && chosen ? (
        <TransactionTable caption={`${accountName(chosen)} on ${formatDay(day)}`} transactions={transactions.data} timeZone={timeZone} />
      ) : null}
      {chosen !== null ? (
        <LoadMore
          what="transactions"
          hasNextPage={transactions.hasNextPage}
          isFetchingNextPage={transactions.isFetchingNextPage}
          fetchNextPage={() => transactions.fetchNextPage()}
        />
      ) : null}
    </section>
  );
}
