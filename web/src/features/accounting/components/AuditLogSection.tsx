import { useId, useState } from "react";
import { DatePicker } from "../../../components/DatePicker";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { TransactionTable } from "../../../components/TransactionTable";
import { useConfig } from "../../../lib/app-context";
import { formatDay, todayIn } from "../../../lib/dates";
import { useAccountTransactions, useBalances } from "../api/accounting-api";
import { accountName } from "./account-name";

export function AuditLogSection() {
  const { business_timezone: timeZone } = useConfig();
  const today = todayIn(timeZone);
  const accountSelectId = useId();
  const [accountId, setAccountId] = useState<string | null>(null);
  const [day, setDay] = useState(today);
  const balances = useBalances();
  const transactions = useAccountTransactions(accountId, day);
  const chosen = balances.data?.find((a) => a.account_id === accountId);

  return (
    <section aria-labelledby="audit-log">
      <h2 id="audit-log">Audit log</h2>
      <div className="filters">
        <div className="field field-inline">
          <label htmlFor={accountSelectId}>Account</label>
          <select id={accountSelectId} value={accountId ?? ""} onChange={(event) => setAccountId(event.target.value || null)}>
            <option value="">Choose an account</option>
            {balances.data?.map((account) => (
              <option key={account.account_id} value={account.account_id}>
                {accountName(account)}
              </option>
            ))}
          </select>
        </div>
        <DatePicker label="Day" value={day} max={today} onChange={setDay} />
      </div>
      {accountId === null ? <p>Choose an account to see its transactions.</p> : null}
      {accountId !== null && transactions.isPending ? <Loading what="Loading transactions" /> : null}
      <ErrorText error={transactions.error} />
      {transactions.data && chosen ? (
        <TransactionTable caption={`${accountName(chosen)} on ${formatDay(day)}`} transactions={transactions.data} timeZone={timeZone} />
      ) : null}
    </section>
  );
}
