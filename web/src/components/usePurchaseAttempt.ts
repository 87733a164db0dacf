import { useRef } from "react";

/**
 * The idempotency key of one purchase attempt: the same while the request stays the same (so a retry after a
 * timeout or RATE_LIMITED returns the same order, never a second one), a new one when the request changes
 * (another quantity or price) or after an order came back.
 */
export function usePurchaseAttempt(request: string) {
  const attempt = useRef<{ request: string; key: string } | null>(null);
  return {
    key(): string {
      if (attempt.current?.request !== request) attempt.current = { request, key: crypto.randomUUID() };
      return attempt.current.key;
    },
    done(): void {
      attempt.current = null;
    },
  };
}
