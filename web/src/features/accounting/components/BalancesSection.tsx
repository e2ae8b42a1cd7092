import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { Money } from "../../../components/Money";
import { Table, type Column } from "../../../components/Table";
import { useBalances, type AccountBalance } from "../api/accounting-api";
import { accountName } from "./account-name";

export function BalancesSection() {
  const balances = useBalances();
  const columns: Column<AccountBalance>[] = [
    { header: "Name", cell: accountName },
    { header: "Email", cell: (a) => a.email ?? "—" },
    { header: "Role", cell: (a) => a.role ?? "—" },
    { header: "Balance", cell: (a) => <Money cents={a.balance_cents} />, numeric: true },
  ];
  return (
    <section aria-labelledby="balances">
      <h2 id="balances">Balances</h2>
      {balances.isPending ? <Loading what="Loading balances" /> : null}
      <ErrorText error={balances.error} />
      {balances.data ? <Table caption="Every account's balance" columns={columns} rows={balances.data} rowKey={(a) => a.account_id} empty="no accounts yet." /> : null}
    </section>
  );
}
