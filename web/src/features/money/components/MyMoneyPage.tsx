import { useState } from "react";
import { DatePicker } from "../../../components/DatePicker";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { Money } from "../../../components/Money";
import { TransactionTable } from "../../../components/TransactionTable";
import { useConfig } from "../../../lib/app-context";
import { formatDay, todayIn } from "../../../lib/dates";
import { useMyAccount, useMyTransactions } from "../api/money-api";

export function MyMoneyPage() {
  const { business_timezone: timeZone } = useConfig();
  const today = todayIn(timeZone);
  const [day, setDay] = useState(today);
  const account = useMyAccount();
  const transactions = useMyTransactions(day);

  return (
    <>
      <h1>My money</h1>
      <section aria-labelledby="my-balance">
        <h2 id="my-balance">Balance</h2>
        {account.isPending ? <Loading what="Loading your balance" /> : null}
        <ErrorText error={account.error} />
        {account.data ? (
          <dl className="figures">
            <div>
              <dt>Balance now</dt>
              <dd>
                <Money cents={account.data.balance_cents} />
              </dd>
            </div>
            <div>
              <dt>Rewards today ({formatDay(account.data.today.date)})</dt>
              <dd>
                <Money cents={account.data.today.rewards_cents} negativeLabel="debit" />
              </dd>
            </div>
            <div>
              <dt>Fees today</dt>
              <dd>
                <Money cents={account.data.today.fees_cents} negativeLabel="debit" />
              </dd>
            </div>
            <div>
              <dt>Paid out today</dt>
              <dd>
                <Money cents={account.data.today.payouts_cents} negativeLabel="paid out" />
              </dd>
            </div>
          </dl>
        ) : null}
      </section>
      <section aria-labelledby="my-transactions">
        <h2 id="my-transactions">Transactions</h2>
        <div className="filters">
          <DatePicker label="Day" value={day} max={today} onChange={setDay} />
        </div>
        {transactions.isPending ? <Loading what="Loading transactions" /> : null}
        <ErrorText error={transactions.error} />
        {transactions.data ? (
          <TransactionTable caption={`My transactions on ${formatDay(day)}`} transactions={transactions.data} timeZone={timeZone} />
        ) : null}
        <LoadMore
          what="transactions"
          hasNextPage={transactions.hasNextPage}
          isFetchingNextPage={transactions.isFetchingNextPage}
          fetchNextPage={() => transactions.fetchNextPage()}
        />
      </section>
    </>
  );
}
