import { useState } from "react";
import { useMutation, useQuery, useSubscription } from "@apollo/client/react";
import { graphql } from "../gql";
import type { FlashSaleFieldsFragment } from "../gql/graphql";
import { apiError } from "../errors.ts";
import { money } from "../format.ts";
import { useToken } from "../session.ts";
import { Countdown } from "../components/Countdown.tsx";
import { Available } from "../components/Stock.tsx";
import { OrderPanel } from "../components/OrderPanel.tsx";
import { Quantity } from "../components/Quantity.tsx";
import { usePurchaseAttempt } from "../components/usePurchaseAttempt.ts";

graphql(`
  fragment FlashSaleFields on FlashSale {
    id
    name
    startsAt
    endsAt
    state
    perUserLimit
    items {
      salePriceCents
      quantity
      remaining
      product {
        id
        name
        priceCents
        currency
      }
    }
  }
`);
const SALE = graphql(`
  query FlashSalePage($id: ID!) {
    flashSale(id: $id) {
      ...FlashSaleFields
    }
  }
`);
const SALE_LIVE = graphql(`
  subscription FlashSaleLive($id: ID!) {
    flashSaleChanged(id: $id) {
      ...FlashSaleFields
    }
  }
`);
const PURCHASE = graphql(`
  mutation FlashPurchase($input: FlashPurchaseInput!) {
    flashPurchase(input: $input) {
      ...OrderFields
    }
  }
`);

/** `/flash-sales/<id>`: countdown to start or end, live remaining counts, buy within the per-user limit. */
export function FlashSalePage({ id }: { id: string }) {
  const { data, loading, error } = useQuery(SALE, { variables: { id } });
  useSubscription(SALE_LIVE, { variables: { id } });
  const [orderId, setOrderId] = useState<string | null>(null);
  const sale = data?.flashSale;

  if (error) return <p role="alert">{apiError(error).message}</p>;
  if (loading && !sale) return <p className="muted">Loading…</p>;
  if (!sale) return <p role="alert">No such flash sale.</p>;

  return (
    <article aria-labelledby="sale-title">
      <h1 id="sale-title">{sale.name}</h1>
      <p data-testid="sale-state" data-state={sale.state}>
        {sale.state === "SCHEDULED" && (
          <>
            Starts in <Countdown until={sale.startsAt} done="a moment" testId="sale-countdown" />
          </>
        )}
        {sale.state === "ACTIVE" && (
          <>
            On now, ends in <Countdown until={sale.endsAt} testId="sale-countdown" />
          </>
        )}
        {sale.state === "ENDED" && "This sale has ended."}
      </p>
      <p className="muted" data-testid="per-user-limit">
        At most {sale.perUserLimit} per customer across this sale, so more people get one.
      </p>
      <ul className="grid">
        {sale.items.map((item) => (
          <SaleItem key={item.product.id} sale={sale} item={item} onOrder={setOrderId} />
        ))}
      </ul>
      {orderId && <OrderPanel id={orderId} />}
    </article>
  );
}

type Item = FlashSaleFieldsFragment["items"][number];

function SaleItem({ sale, item, onOrder }: { sale: FlashSaleFieldsFragment; item: Item; onOrder: (id: string) => void }) {
  const token = useToken();
  const [quantity, setQuantity] = useState(1);
  const [message, setMessage] = useState<string | null>(null);
  const [purchase, purchasing] = useMutation(PURCHASE);
  const attempt = usePurchaseAttempt(`${sale.id}:${item.product.id}:${quantity}`);

  async function buy() {
    setMessage(null);
    try {
      const input = { flashSaleId: sale.id, productId: item.product.id, quantity, idempotencyKey: attempt.key() };
      const result = await purchase({ variables: { input } });
      attempt.done();
      if (result.data) onOrder(result.data.flashPurchase.id);
    } catch (e) {
      const failure = apiError(e);
      const ext = failure.extensions;
      if (failure.code === "PURCHASE_LIMIT_EXCEEDED")
        setMessage(`The limit is ${String(ext.limit)} per customer and you already have ${String(ext.alreadyPurchased)}.`);
      else if (failure.code === "OUT_OF_STOCK") setMessage("Sold out.");
      else if (failure.code === "SALE_NOT_ACTIVE") setMessage("The sale is not on right now.");
      else if (failure.code === "RATE_LIMITED") setMessage("Too many people at once; try again in a moment (same purchase, never twice).");
      else if (failure.code === "UNAUTHENTICATED") setMessage("Sign in to buy.");
      else setMessage(failure.message);
    }
  }

  return (
    <li className="card">
      <span>{item.product.name}</span>
      <span className="price">
        {money(item.salePriceCents, item.product.currency)} <s className="muted">{money(item.product.priceCents, item.product.currency)}</s>
      </span>
      <span>
        <Available count={item.remaining} testId="flash-remaining" /> <span className="muted">of {item.quantity}</span>
      </span>
      <div className="row">
        <Quantity value={quantity} max={sale.perUserLimit} onChange={setQuantity} />
        <button
          type="button"
          data-testid="flash-buy"
          disabled={!token || purchasing.loading || sale.state !== "ACTIVE" || item.remaining === 0}
          onClick={() => void buy()}
        >
          {token ? "Buy" : "Sign in to buy"}
        </button>
      </div>
      <p className="message" role="alert" data-testid="flash-message">
        {message}
      </p>
    </li>
  );
}
