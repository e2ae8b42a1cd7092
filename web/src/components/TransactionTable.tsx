import type { components } from "../lib/api/accounting";
import { formatDateTime } from "../lib/dates";
import { Money } from "./Money";
import { Table, type Column } from "./Table";

type Transaction = components["schemas"]["Transaction"];
type TransactionKind = components["schemas"]["TransactionKind"];

const kindNames: Record<TransactionKind, string> = {
  assignment_fee: "Assignment fee",
  task_reward: "Task reward",
  payout: "Payout",
};

function taskText(transaction: Transaction): string {
  const task = transaction.task;
  if (!task) return "—";
  const title = task.title ?? "(title not known yet)";
  return task.jira_id ? `${task.jira_id} ${title}` : title;
}

// The audit log of one account for one day; task titles are plain text.
export function TransactionTable({ caption, transactions, timeZone }: { caption: string; transactions: readonly Transaction[]; timeZone: string }) {
  const columns: Column<Transaction>[] = [
    { header: "When", cell: (t) => formatDateTime(t.created_at, timeZone) },
    { header: "Kind", cell: (t) => kindNames[t.kind] },
    { header: "Task", cell: taskText },
    { header: "Amount", cell: (t) => <Money cents={t.amount_cents} negativeLabel="debit" />, numeric: true },
  ];
  return <Table caption={caption} columns={columns} rows={transactions} rowKey={(t) => t.id} empty="no transactions that day." />;
}
