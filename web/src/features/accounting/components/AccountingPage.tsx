import { Allowed } from "../../../lib/allowed";
import { AuditLogSection } from "./AuditLogSection";
import { BalancesSection } from "./BalancesSection";
import { BillingCyclesSection } from "./BillingCyclesSection";
import { CloseDaySection } from "./CloseDaySection";
import { ManagementEarningsSection } from "./ManagementEarningsSection";

export function AccountingPage() {
  return (
    <>
      <h1>Accounting</h1>
      <BalancesSection />
      <AuditLogSection />
      <ManagementEarningsSection />
      <BillingCyclesSection />
      <Allowed roles={["admin"]}>
        <CloseDaySection />
      </Allowed>
    </>
  );
}
