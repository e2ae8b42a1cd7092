import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { Money } from "../../../components/Money";
import { SearchField } from "../../../components/SearchField";
import { Table, type Column } from "../../../components/Table";
import { useSearch } from "../../../lib/search";
import { useBalances, type AccountBalance } from "../api/accounting-api";
import { accountName } from "./account-name";

export function BalancesSection() {
  const search = useSearch();
  const balances = useBalances(search.q);
  const columns: Column<AccountBalance>[] = [
    { header: "Name", cell: accountName },
    { header: "Email", cell: (a) => a.email ?? "—" },
    { header: "Role", cell: (a) => a.role ?? "—" },
    { header: "Balance", cell: (a) => <Money cents={a.balance_cents} />, numeric: true },
  ];
  return (
    <section aria-labelledby="balances">
      <h2 id="balances">Balances</h2>
      <div className="filters">
        <SearchField label="Search balances by name or email" search={search} />
      </div>
      {balances.isPending ? <Loading what="Loading balances" /> : null}
      <ErrorText error={balances.error} />
      {balances.data ? (
        <Table
          caption={search.q === "" ? "Every account's balance" : `Balances of accounts matching “${search.q}”`}
          columns={columns}
          rows={balances.data}
          rowKey={(a) => a.account_id}
          empty={search.q === "" ? "no accounts yet." : "no account matches."}
        />
      ) : null}
      <LoadMore
        what="balances"
        hasNextPage={balances.hasNextPage}
        isFetchingNextPage={balances.isFetchingNextPage}
        fetchNextPage={() => balances.fetchNextPage()}
        disabled={balances.isPlaceholderData}
      />
    </section>
  );
}
