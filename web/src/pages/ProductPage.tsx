import { useState } from "react";
import { useMutation, useQuery } from "@apollo/client/react";
import { graphql } from "../gql";
import { apiError } from "../errors.ts";
import { money } from "../format.ts";
import { useToken } from "../session.ts";
import { Available } from "../components/Stock.tsx";
import { useLiveStock } from "../components/useLiveStock.ts";
import { OrderPanel } from "../components/OrderPanel.tsx";
import { Quantity } from "../components/Quantity.tsx";
import { usePurchaseAttempt } from "../components/usePurchaseAttempt.ts";

const PRODUCT = graphql(`
  query ProductPage($id: ID!) {
    product(id: $id) {
      id
      name
      description
      priceCents
      currency
      priceVersion
      stock {
        productId
        available
      }
    }
  }
`);
const PLACE_ORDER = graphql(`
  mutation PlaceOrder($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      ...OrderFields
    }
  }
`);

/** `/products/<id>`: the product with its live available count, buy, then the order. */
export function ProductPage({ id }: { id: string }) {
  const token = useToken();
  const { data, loading, error, refetch } = useQuery(PRODUCT, { variables: { id } });
  const product = data?.product;
  useLiveStock(product ? [product.id] : []);
  const [quantity, setQuantity] = useState(1);
  const [orderId, setOrderId] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [placeOrder, placing] = useMutation(PLACE_ORDER);
  const attempt = usePurchaseAttempt(`${id}:${quantity}:${product?.priceCents}:${product?.priceVersion}`);

  if (error) return <p role="alert">{apiError(error).message}</p>;
  if (loading && !product) return <p className="muted">Loading…</p>;
  if (!product) return <p role="alert">No such product.</p>;

  async function buy() {
    if (!product) return;
    setMessage(null);
    const item = { productId: product.id, quantity, expectedPriceCents: product.priceCents, priceVersion: product.priceVersion };
    try {
      const result = await placeOrder({ variables: { input: { idempotencyKey: attempt.key(), items: [item] } } });
      attempt.done();
      setOrderId(result.data?.placeOrder.id ?? null);
    } catch (e) {
      const failure = apiError(e);
      const ext = failure.extensions;
      if (failure.code === "PRICE_CHANGED") {
        await refetch();
        setMessage(`The price changed to ${money(Number(ext.priceCents), product.currency)}. Buy at the new price?`);
      } else if (failure.code === "OUT_OF_STOCK") setMessage(`Not enough stock: ${String(ext.available ?? 0)} left.`);
      else if (failure.code === "RATE_LIMITED")
        setMessage(`Too many requests; try again in ${Math.ceil(Number(ext.retryAfterMs ?? 1000) / 1000)} s (same order, no double purchase).`);
      else if (failure.code === "PURCHASE_LIMIT_EXCEEDED")
        setMessage(`You already hold ${String(ext.alreadyReserved)} of at most ${String(ext.limit)} reserved units.`);
      else if (failure.code === "UNAUTHENTICATED") setMessage("Sign in to buy.");
      else setMessage(failure.message);
    }
  }

  return (
    <article aria-labelledby="product-title">
      <h1 id="product-title" data-testid="product-name">
        {product.name}
      </h1>
      <p className="muted">{product.description}</p>
      <p className="price-line">
        <span className="price" data-testid="price">
          {money(product.priceCents, product.currency)}
        </span>
        <Available count={product.stock.available} />
      </p>
      <div className="row">
        <Quantity value={quantity} max={100} onChange={setQuantity} />
        <button type="button" data-testid="buy" disabled={placing.loading || !token || product.stock.available === 0} onClick={() => void buy()}>
          {token ? "Buy" : "Sign in to buy"}
        </button>
      </div>
      <p className="message" role="alert" data-testid="buy-message">
        {message}
      </p>
      {orderId && <OrderPanel id={orderId} />}
    </article>
  );
}
