import { useState } from "react";
import { useMutation, useQuery, useSubscription } from "@apollo/client/react";
import { graphql } from "../gql";
import type { OrderFieldsFragment } from "../gql/graphql";
import { apiError } from "../errors.ts";
import { money } from "../format.ts";
import { Countdown } from "./Countdown.tsx";

export const ORDER_FIELDS = graphql(`
  fragment OrderFields on Order {
    id
    status
    totalCents
    currency
    reservedUntil
    cancelReason
    flashSaleId
    createdAt
    items {
      quantity
      unitPriceCents
      product {
        id
        name
      }
    }
  }
`);

const ORDER = graphql(`
  query OrderView($id: ID!) {
    order(id: $id) {
      ...OrderFields
    }
  }
`);
const ORDER_LIVE = graphql(`
  subscription OrderLive($id: ID!) {
    orderStatusChanged(orderId: $id) {
      ...OrderFields
    }
  }
`);
const PAY = graphql(`
  mutation PayOrder($id: ID!, $paymentToken: String!) {
    payOrder(id: $id, paymentToken: $paymentToken) {
      ...OrderFields
    }
  }
`);
const CANCEL = graphql(`
  mutation CancelOrder($id: ID!) {
    cancelOrder(id: $id) {
      ...OrderFields
    }
  }
`);

const FINAL = new Set(["CONFIRMED", "CANCELLED", "EXPIRED"]);
const STATUS_TEXT: Record<string, string> = {
  RESERVED: "Reserved: pay before the time runs out",
  PAID: "Paid: confirming…",
  CONFIRMED: "Confirmed",
  CANCELLED: "Cancelled",
  EXPIRED: "Expired: the reservation ran out",
};
const REASON_TEXT: Record<string, string> = {
  payment_declined: "The card was declined; nothing was charged and the items went back on sale.",
  cancelled_by_buyer: "You cancelled this order.",
};

/** Subscribes to an order's transitions while it can still change; Apollo writes each into the cache. */
export function useLiveOrder(id: string, status: string | undefined) {
  useSubscription(ORDER_LIVE, { variables: { id }, skip: status !== undefined && FINAL.has(status) });
}

/** An order, live: status, countdown to reservedUntil, pay with a development card, cancel. */
export function OrderPanel({ id }: { id: string }) {
  const { data, error } = useQuery(ORDER, { variables: { id } });
  const order = data?.order;
  useLiveOrder(id, order?.status);
  if (error) return <p role="alert">{apiError(error).message}</p>;
  if (!order) return <p className="muted">Loading order…</p>;
  return <OrderDetails order={order} />;
}

function OrderDetails({ order }: { order: OrderFieldsFragment }) {
  const [card, setCard] = useState("tok_visa");
  const [message, setMessage] = useState<string | null>(null);
  const [pay, paying] = useMutation(PAY);
  const [cancel, cancelling] = useMutation(CANCEL);
  const act = (run: () => Promise<unknown>) => {
    setMessage(null);
    run().catch((e: unknown) => setMessage(apiError(e).message));
  };

  return (
    <section className="order" aria-labelledby={`order-${order.id}`} data-testid="order">
      <h2 id={`order-${order.id}`}>Order {order.id.slice(0, 8)}</h2>
      <p>
        <span className={`status status-${order.status}`} data-testid="order-status">
          {order.status}
        </span>{" "}
        <span className="muted">{STATUS_TEXT[order.status]}</span>
      </p>
      <ul className="lines">
        {order.items.map((item) => (
          <li key={item.product.id}>
            {item.quantity} × {item.product.name} at {money(item.unitPriceCents, order.currency)}
          </li>
        ))}
      </ul>
      <p>
        Total <strong data-testid="order-total">{money(order.totalCents, order.currency)}</strong>
      </p>
      {order.cancelReason && (
        <p role="alert" data-testid="order-message">
          {REASON_TEXT[order.cancelReason] ?? order.cancelReason.replace(/_/g, " ")}
        </p>
      )}
      {order.status === "RESERVED" && (
        <>
          <p>
            Reserved for <Countdown until={order.reservedUntil} testId="countdown" />
          </p>
          <div className="row">
            <label>
              Card{" "}
              <select data-testid="card" value={card} onChange={(e) => setCard(e.target.value)}>
                <option value="tok_visa">Test card (approved)</option>
                <option value="tok_declined">Test card (declined)</option>
              </select>
            </label>
            <button
              type="button"
              data-testid="pay"
              disabled={paying.loading}
              onClick={() => act(() => pay({ variables: { id: order.id, paymentToken: card } }))}
            >
              Pay {money(order.totalCents, order.currency)}
            </button>
            <button
              type="button"
              className="secondary"
              data-testid="cancel"
              disabled={cancelling.loading}
              onClick={() => act(() => cancel({ variables: { id: order.id } }))}
            >
              Cancel
            </button>
          </div>
        </>
      )}
      {message && <p role="alert">{message}</p>}
    </section>
  );
}
