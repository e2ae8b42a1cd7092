import type { AccountBalance } from "../api/accounting-api";

export function accountName(account: AccountBalance): string {
  return account.full_name ?? account.email ?? `Account ${account.account_id.slice(0, 8)}… (details not synced yet)`;
}
