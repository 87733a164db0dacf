import type { FlashSaleStateName } from "../../../common/events.ts";

export interface SaleWindow {
  startsAt: Date;
  endsAt: Date;
  endedAt: Date | null;
}

/** A sale's state is derived from its window and whether it was ended early; `nowMs` is injected. */
export function saleState(sale: SaleWindow, nowMs: number): FlashSaleStateName {
  if (sale.endedAt || nowMs >= sale.endsAt.getTime()) return "ENDED";
  if (nowMs >= sale.startsAt.getTime()) return "ACTIVE";
  return "SCHEDULED";
}
