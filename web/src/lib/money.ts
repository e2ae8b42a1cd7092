const minus = "\u2212";
const dollars = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

// Integer cents to `$12.34` / `−$5.00` (a real minus sign, no floating point).
export function formatCents(cents: number): string {
  const sign = cents < 0 ? minus : "";
  const abs = Math.abs(Math.trunc(cents));
  const whole = Math.floor(abs / 100);
  const rest = String(abs % 100).padStart(2, "0");
  return `${sign}$${dollars.format(whole)}.${rest}`;
}
