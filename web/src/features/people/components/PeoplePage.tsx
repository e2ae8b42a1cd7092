import { useId, useState } from "react";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { SearchField } from "../../../components/SearchField";
import { Table, type Column } from "../../../components/Table";
import { useSessionState } from "../../../lib/app-context";
import { allRoles, type Role } from "../../../lib/roles";
import { useSearch } from "../../../lib/search";
import { useAccounts, useUpdateAccount, type Account } from "../api/people-api";

function RoleControl({ account }: { account: Account }) {
  const id = useId();
  const update = useUpdateAccount();
  const [role, setRole] = useState<Role>(account.role);
  return (
    <div className="row-control">
      <label htmlFor={id} className="visually-hidden">
        Role of {account.full_name}
      </label>
      <select id={id} value={role} onChange={(event) => setRole(event.target.value as Role)}>
        {allRoles.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <button
        type="button"
        disabled={role === account.role || update.isPending}
        onClick={() => update.mutate({ id: account.id, change: { role } }, { onError: () => setRole(account.role) })}
      >
        Change role<span className="visually-hidden"> of {account.full_name}</span>
      </button>
      <ErrorText error={update.error} />
    </div>
  );
}

function ActiveControl({ account, isMe }: { account: Account; isMe: boolean }) {
  const update = useUpdateAccount();
  const label = account.active ? "Deactivate" : "Reactivate";
  return (
    <div className="row-control">
      <button type="button" disabled={update.isPending} onClick={() => update.mutate({ id: account.id, change: { active: !account.active } })}>
        {label}
        <span className="visually-hidden"> {account.full_name}</span>
        {isMe ? <span className="visually-hidden"> (you)</span> : null}
      </button>
      <ErrorText error={update.error} />
    </div>
  );
}

export function PeoplePage() {
  const search = useSearch();
  const accounts = useAccounts(search.q);
  const session = useSessionState();
  const me = session.status === "authenticated" ? session.claims.sub : null;
  const columns: Column<Account>[] = [
    { header: "Name", cell: (a) => (a.id === me ? `${a.full_name} (you)` : a.full_name) },
    { header: "Email", cell: (a) => a.email },
    { header: "Status", cell: (a) => (a.active ? "Active" : "Deactivated") + (a.must_change_password ? ", temporary password" : "") },
    { header: "Role", cell: (a) => <RoleControl key={`${a.id}-${a.role}`} account={a} /> },
    { header: "Access", cell: (a) => <ActiveControl account={a} isMe={a.id === me} /> },
  ];
  return (
    <>
      <h1>People</h1>
      <div className="filters">
        <SearchField label="Search by name or email" search={search} />
      </div>
      {accounts.isPending ? <Loading what="Loading accounts" /> : null}
      <ErrorText error={accounts.error} />
      {accounts.data ? (
        <Table
          caption={search.q === "" ? "Every account" : `Accounts matching “${search.q}”`}
          columns={columns}
          rows={accounts.data}
          rowKey={(a) => a.id}
          empty={search.q === "" ? "no accounts yet." : "no account matches."}
        />
      ) : null}
      <LoadMore
        what="accounts"
        hasNextPage={accounts.hasNextPage}
        isFetchingNextPage={accounts.isFetchingNextPage}
        fetchNextPage={() => accounts.fetchNextPage()}
        disabled={accounts.isPlaceholderData}
      />
    </>
  );
}
