import { useState } from "react";

// One key per user action: a retry of the same action (same fingerprint, not yet
// succeeded) reuses its key, so the server replays instead of acting twice.
export class IdempotencyKeys {
  private pending: { fingerprint: string; key: string } | null = null;

  constructor(private readonly newKey: () => string = () => crypto.randomUUID()) {}

  keyFor(fingerprint: string): string {
    if (this.pending?.fingerprint !== fingerprint) {
      this.pending = { fingerprint, key: this.newKey() };
    }
    return this.pending.key;
  }

  succeeded(): void {
    this.pending = null;
  }
}

export function useIdempotencyKeys(): IdempotencyKeys {
  const [keys] = useState(() => new IdempotencyKeys());
  return keys;
}
